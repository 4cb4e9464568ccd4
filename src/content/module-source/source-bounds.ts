import type { ErrorDetail } from '../../errors.js';
import { nestingError } from '../../lib/nesting.js';

/**
 * Structural limits checked by linear scans before any parser runs. remark, the YAML reader and JSON.parse are
 * recursive or pay per construct: 20,000 nested `>` overflowed the stack, and half a million unmatched `*` took
 * minutes. Real modules sit far below each limit; a source over one gets an author-readable error with its line.
 */
export const parserBounds = {
  /** Blockquote and list markers opening one line (`> > - 1. text`); also JSON and YAML nesting. */
  nesting: 16,
  /** Indentation before a list marker, in columns: each nested list level needs at least two more. */
  listIndentColumns: 64,
  /** `|` on one line: a table row's cells (a cheat sheet has at most 12 columns). */
  tableCells: 100,
  /** Emphasis, code, link and autolink markers in the whole source; micromark pays ~20 us for each. */
  inlineMarkers: 120_000,
  /** List items in the whole source (takeaways, revision items and lists inside answers). */
  listItems: 20_000,
  /** Front matter holds four short fields. */
  frontMatterBytes: 16 * 1024,
  /** Errors listed in one response; the message says how many more there were. */
  reportedErrors: 100,
} as const;

const containerMarker = /^[ \t]*(?:>|[-*+](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))/;
const listMarker = /^([ \t]*)(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/;
const inlineMarkerRun = /[*_~`[\]<]+/g;

/** Markers and list items counted so far: the JSON format checks its texts one by one against one total. */
export interface MarkupTally {
  markers: number;
  items: number;
}

/** The first bound a Markdown text breaks, with the line it is on, or none. */
export function markdownBoundError(text: string, tally: MarkupTally = { markers: 0, items: 0 }): ErrorDetail | undefined {
  let lineNumber = 0;
  for (const lineText of lines(text)) {
    lineNumber++;
    const depth = containerDepth(lineText);
    if (depth > parserBounds.nesting) {
      return { line: lineNumber, message: `more than ${parserBounds.nesting} nested blockquote or list levels on one line; flatten the structure` };
    }
    const list = listMarker.exec(lineText);
    if (list) {
      if (++tally.items > parserBounds.listItems) {
        return { line: lineNumber, message: `more than ${parserBounds.listItems} list items in the source; split the module` };
      }
      if (columns(list[1]!) > parserBounds.listIndentColumns) {
        return { line: lineNumber, message: `a list item indented by more than ${parserBounds.listIndentColumns} columns; lists nest at most about ${parserBounds.listIndentColumns / 4} levels` };
      }
    }
    if (count(lineText, '|') > parserBounds.tableCells) {
      return { line: lineNumber, message: `a table row with more than ${parserBounds.tableCells} cells` };
    }
    for (const run of lineText.matchAll(inlineMarkerRun)) tally.markers += run[0].length;
    if (tally.markers > parserBounds.inlineMarkers) {
      return { line: lineNumber, message: `more than ${parserBounds.inlineMarkers} emphasis, code and link markers (*, _, ~, \`, [, ], <) in the source; split the module` };
    }
  }
  return undefined;
}

/**
 * Bounds for a Markdown module source: its front matter (size and nesting, which the YAML reader would recurse
 * into) and its body.
 */
export function markdownSourceBoundError(source: string): ErrorDetail | undefined {
  const frontMatter = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(source);
  if (frontMatter) {
    const yaml = frontMatter[1]!;
    if (Buffer.byteLength(yaml, 'utf8') > parserBounds.frontMatterBytes) {
      return { line: 1, path: 'frontMatter', message: `front matter is over ${parserBounds.frontMatterBytes / 1024} KiB; it holds only slug, title, summary and tags` };
    }
    const deep = nestingError(yaml, parserBounds.nesting, { firstLine: 2, yaml: true });
    if (deep) return { ...deep, path: 'frontMatter', message: `front matter: ${deep.message}` };
  }
  return markdownBoundError(source);
}

function containerDepth(lineText: string): number {
  let depth = 0;
  let rest = lineText;
  for (let match = containerMarker.exec(rest); match; match = containerMarker.exec(rest)) {
    if (++depth > parserBounds.nesting) break;
    rest = rest.slice(match[0].length);
  }
  return depth;
}

function* lines(text: string): Generator<string> {
  let start = 0;
  while (start <= text.length) {
    const end = text.indexOf('\n', start);
    yield text.slice(start, end === -1 ? text.length : end);
    if (end === -1) return;
    start = end + 1;
  }
}

const columns = (indent: string) => indent.replace(/\t/g, '    ').length;

function count(text: string, char: string): number {
  let total = 0;
  for (let index = text.indexOf(char); index !== -1; index = text.indexOf(char, index + 1)) total++;
  return total;
}

/** JSON module sources: bracket nesting, before JSON.parse and the validators walk the value. */
export const jsonSourceBoundError = (source: string) => nestingError(source, parserBounds.nesting);
