/**
 * Where an import error points in its file, as `line:column` (1-based), for `file:line:column: message` lines that
 * editors and CI annotate. Markdown errors carry a line; JSON validation errors carry a dotted path
 * (`flashcards.2.answer`), located here in the source text.
 */
export interface SourcePosition {
  line: number;
  column: number;
}

export function positionAt(source: string, offset: number): SourcePosition {
  const before = source.slice(0, Math.max(0, Math.min(offset, source.length)));
  const lineStart = before.lastIndexOf('\n') + 1;
  return { line: before.split('\n').length, column: before.length - lineStart + 1 };
}

/**
 * The position of the deepest part of `path` present in the JSON `source`: the key of an object member, or the
 * start of an array element; for a part that is missing (a required field), the object or array that lacks it.
 * Undefined when the source is not JSON this scanner can follow.
 */
export function jsonPathPosition(source: string, path: string): SourcePosition | undefined {
  const segments = path === '' ? [] : path.split('.');
  let index = 0;
  const fail = (): never => {
    throw new Error('unreadable');
  };
  const space = () => {
    while (index < source.length && ' \t\r\n\uFEFF'.includes(source[index]!)) index++;
  };
  const string = (): string => {
    if (source[index] !== '"') fail();
    const start = index++;
    while (index < source.length && source[index] !== '"') index += source[index] === '\\' ? 2 : 1;
    if (index >= source.length) fail();
    index++;
    return JSON.parse(source.slice(start, index)) as string;
  };
  /** Skips one value of any kind. */
  const skip = (): void => {
    space();
    const char = source[index];
    if (char === '"') return void string();
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']';
      index++;
      space();
      if (source[index] === close) return void index++;
      for (;;) {
        if (char === '{') {
          space();
          string();
          space();
          if (source[index++] !== ':') fail();
        }
        skip();
        space();
        const next = source[index++];
        if (next === close) return;
        if (next !== ',') fail();
      }
    }
    const literal = /^(?:-?\d[\d.eE+-]*|true|false|null)/.exec(source.slice(index, index + 400));
    if (!literal) fail();
    index += literal![0].length;
  };

  try {
    let found = 0;
    space();
    for (const segment of segments) {
      const container = index;
      const char = source[index];
      let located = false;
      if (char === '{' || char === '[') {
        index++;
        space();
        for (let position = 0; source[index] !== (char === '{' ? '}' : ']'); position++) {
          space();
          const start = index;
          const matches = char === '{' ? string() === segment : String(position) === segment;
          if (char === '{') {
            space();
            if (source[index++] !== ':') fail();
          }
          if (matches) {
            found = start;
            space();
            located = true;
            break;
          }
          skip();
          space();
          if (source[index] === ',') index++;
          space();
        }
      }
      if (!located) {
        found = container;
        break;
      }
    }
    return positionAt(source, found);
  } catch {
    return undefined;
  }
}
