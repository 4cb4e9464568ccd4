import type { ErrorDetail } from '../errors.js';

/**
 * Nesting of `[` and `{` in JSON, counted outside `"` strings; in YAML (`yaml: true`),
 * flow collections (quotes are not tracked: `Don't` is a plain scalar) and block nesting, where each two columns
 * of indentation or `- ` marker at the start of a line open a level.
 */
export function nestingError(text: string, maxDepth: number, { firstLine = 1, yaml = false } = {}): ErrorDetail | undefined {
  let depth = 0;
  let lineNumber = firstLine;
  let inString = false;
  let lineStart = true;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char === '\n') {
      lineNumber++;
      lineStart = true;
      continue;
    }
    if (inString) {
      if (char === '\\') index++;
      else if (char === '"') inString = false;
      continue;
    }
    if (yaml && lineStart) {
      let cursor = index;
      while (text[cursor] === ' ' || text[cursor] === '-') cursor++;
      if ((cursor - index) / 2 > maxDepth * 2) return tooDeep(lineNumber, maxDepth);
    }
    lineStart = false;
    if (char === '"' && !yaml) inString = true;
    else if (char === '[' || char === '{') {
      if (++depth > maxDepth) return tooDeep(lineNumber, maxDepth);
    } else if (char === ']' || char === '}') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

const tooDeep = (line: number, maxDepth: number): ErrorDetail => ({ line, message: `nested more than ${maxDepth} levels deep` });
