import { sourceLimits } from './module-input.js';

/** A structural limit a Markdown text breaks, found before any Markdown parser reads it. */
export interface StructureProblem {
  /** 1-based line within the scanned text. */
  line: number;
  message: string;
}

const frontMatterFence = /^---[ \t]*$/;

/**
 * A line-by-line scan, linear in the text, that rejects what would make the Markdown parser slow or its readers
 * recurse without end: containers (blockquotes and list items) nested more than `sourceLimits.nestingDepth` deep,
 * and, for a whole source, more than `sourceLimits.markdownLines` lines. It runs before remark.
 *
 * Nesting is counted from the markers at the start of each line (`>`, `-`, `*`, `+`, `1.`, `1)`), plus the list
 * items that earlier lines opened and this line's indentation keeps open. It may count a container that is not
 * one (a line of a code block that starts with markers), never fewer than a line really opens; what it cannot see
 * (lazy continuation lines) can only hide nesting that costs quadratic space, which the tree-depth check inside
 * the parser (markdown-guards.ts) still bounds.
 */
export function markdownStructureProblem(text: string, options: { wholeSource?: boolean } = {}): StructureProblem | undefined {
  const limit = sourceLimits.nestingDepth;
  // Content columns of the list items opened on earlier lines, outermost first.
  const open: number[] = [];
  let lineNumber = 0;
  let start = 0;
  let inFrontMatter = false;
  while (start <= text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    lineNumber += 1;
    if (options.wholeSource && lineNumber > sourceLimits.markdownLines) {
      return { line: lineNumber, message: `the source has more than ${sourceLimits.markdownLines} lines; split it into several modules` };
    }
    const line = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    // YAML front matter is not Markdown: its own bounds are checked when it is read (markdown.ts).
    if (options.wholeSource && lineNumber === 1 && frontMatterFence.test(line)) {
      inFrontMatter = true;
      continue;
    }
    if (inFrontMatter) {
      if (frontMatterFence.test(line)) inFrontMatter = false;
      continue;
    }
    const depth = lineDepth(line, open);
    if (depth.total > limit) {
      const what = depth.quotes && depth.lists ? 'blockquotes and lists' : depth.quotes ? 'blockquotes' : 'lists';
      return { line: lineNumber, message: `${what} nest ${depth.total} deep; at most ${limit} levels are allowed` };
    }
    if (newline === -1) break;
  }
  // A front matter that is never closed is not front matter: remark reads it as Markdown, so scan it as such.
  if (inFrontMatter) return markdownStructureProblem(text.replace(/^---/, '   '), options);
  return undefined;
}

/**
 * How many containers `line` is inside: the `>` markers and list markers it starts with, plus the list items of
 * earlier lines whose content column its indentation reaches. Updates `open` for the lines that follow.
 */
function lineDepth(line: string, open: number[]): { total: number; quotes: number; lists: number } {
  let position = 0;
  let column = 0;
  const whitespace = () => {
    while (position < line.length) {
      const char = line.charCodeAt(position);
      if (char === 0x20) column += 1;
      else if (char === 0x09) column += 4 - (column % 4);
      else break;
      position += 1;
    }
  };
  whitespace();
  if (position === line.length) return { total: 0, quotes: 0, lists: 0 }; // blank lines keep containers open
  let quotes = 0;
  let lists = 0;
  let kept: number | undefined;
  const listStarts: number[] = [];
  for (;;) {
    whitespace();
    const char = line[position];
    if (char === '>') {
      quotes += 1;
      position += 1;
      column += 1;
      if (line[position] === ' ') {
        position += 1;
        column += 1;
      }
      continue;
    }
    const marker = listMarkerLength(line, position);
    if (marker === 0) break;
    // Items opened earlier stay open while this line is indented to their content.
    kept ??= keptOpen(open, column);
    listStarts.push(position);
    position += marker;
    column += marker;
    const contentColumn = column + Math.min(spacesAt(line, position), 4);
    open.length = Math.min(open.length, kept + lists);
    open.push(Math.max(contentColumn, column + 1));
    lists += 1;
  }
  kept ??= keptOpen(open, column);
  if (!lists) open.length = Math.min(open.length, kept);
  // `- - -` and `* * *` are thematic breaks, not nested lists; only checked when the count matters.
  if (lists && quotes + kept + lists > sourceLimits.nestingDepth) lists = listsBeforeThematicBreak(line, listStarts);
  return { total: quotes + kept + lists, quotes, lists: kept + lists };
}

function keptOpen(open: readonly number[], column: number): number {
  let kept = 0;
  while (kept < open.length && open[kept]! <= column) kept += 1;
  return kept;
}

/** Length of a list marker (`-`, `*`, `+`, or up to nine digits and `.`/`)`) at `position`, 0 if there is none. */
function listMarkerLength(line: string, position: number): number {
  let end = position;
  const char = line[position];
  if (char === '-' || char === '*' || char === '+') {
    end += 1;
  } else {
    while (end < line.length && end - position < 9 && line.charCodeAt(end) >= 0x30 && line.charCodeAt(end) <= 0x39) end += 1;
    if (end === position || (line[end] !== '.' && line[end] !== ')')) return 0;
    end += 1;
  }
  const after = line[end];
  return after === undefined || after === ' ' || after === '\t' ? end - position : 0;
}

function spacesAt(line: string, position: number): number {
  let count = 0;
  while (line[position + count] === ' ') count += 1;
  return count;
}

/**
 * How many of the list markers at `starts` really open a list item: a marker whose rest of the line is a thematic
 * break (three or more of one of `-`, `*`, `_`, otherwise only spaces and tabs) starts that break instead.
 */
function listsBeforeThematicBreak(line: string, starts: readonly number[]): number {
  let marker: string | null | undefined; // undefined: none seen yet; null: mixed, so no longer suffix is a break
  let count = 0;
  let from = line.length;
  let firstBreak = starts.length;
  for (let index = starts.length - 1; index >= 0; index--) {
    for (let position = from - 1; position >= starts[index]!; position--) {
      const char = line[position]!;
      if (char === ' ' || char === '\t') continue;
      if (marker === undefined && (char === '-' || char === '*' || char === '_')) marker = char;
      if (char === marker) count += 1;
      else marker = null;
    }
    from = starts[index]!;
    if (marker === null) break;
    if (marker && count >= 3) firstBreak = index;
  }
  return firstBreak;
}
