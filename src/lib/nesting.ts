import type { ErrorDetail } from '../errors.js';

/**
 * Bracket nesting in a JSON source, counted outside strings; for YAML, flow collections (quotes are not tracked:
 * `Don't` is a plain scalar) and block nesting by indentation and `- ` markers.
 */
export function nestingError(text: string, maxDepth: number, { firstLine = 1, yaml = false } = {}): ErrorDetail | undefined {
  let depth = 0;
  let lineNumber = firstLine;
  let quote: string | undefined;
  let lineStart = true;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char === '\n') {
      lineNumber++;
      lineStart = true;
      continue;
    }
    if (quote) {
      if (char === '\\') index++;
      else if (char === quote) quote = undefined;
      continue;
    }
    if (yaml && lineStart) {
      let cursor = index;
      while (text[cursor] === ' ' || text[cursor] === '-') cursor++;
      // A `- ` marker opens a level like two columns of indentation do.
      if ((cursor - index) / 2 > maxDepth * 2) return tooDeep(lineNumber, maxDepth);
    }
    lineStart = false;
    if (char === '"' && !yaml) quote = char;
    else if (char === '[' || char === '{') {
      if (++depth > maxDepth) return tooDeep(lineNumber, maxDepth);
    } else if (char === ']' || char === '}') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

const tooDeep = (line: number, maxDepth: number): ErrorDetail => ({ line, message: `nested more than ${maxDepth} levels deep` });
