import type { Nodes } from 'mdast';
import remarkGfm from 'remark-gfm';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import type { ErrorDetail } from '../../errors.js';
import type { NormalizedModule } from './module-input.js';
import type { SourceMap } from './source-errors.js';
import type { TextKind } from './text-format.js';

const parser = unified().use(remarkParse).use(remarkGfm);

function containsHeading(node: Nodes): boolean {
  if (node.type === 'heading') return true;
  return 'children' in node && (node.children as Nodes[]).some(containsHeading);
}

/**
 * Rules that keep every module expressible in both source formats, so an export always re-imports unchanged:
 * inline texts (titles, questions, terms, headings, cells) are one line, and block texts (bodies, answers,
 * definitions, the summary) hold no headings, which in the Markdown format would start a new section or card.
 */
/** Every text of a module with its path and kind: titles, questions, terms and cells are inline, the rest block. */
export function* moduleTexts(module: NormalizedModule): Generator<[path: (string | number)[], text: string, kind: TextKind]> {
  yield [['title'], module.title, 'inline'];
  if (module.summary !== null) yield [['summary'], module.summary, 'block'];
  for (const [index, item] of module.takeaways.entries()) {
    yield [['takeaways', index, 'title'], item.title, 'inline'];
    yield [['takeaways', index, 'body'], item.body, 'block'];
  }
  for (const [index, card] of module.flashcards.entries()) {
    yield [['flashcards', index, 'question'], card.question, 'inline'];
    yield [['flashcards', index, 'answer'], card.answer, 'block'];
  }
  for (const [index, column] of (module.cheatSheet?.columns ?? []).entries()) yield [['cheatSheet', 'columns', index], column, 'inline'];
  for (const [rowIndex, row] of (module.cheatSheet?.rows ?? []).entries()) {
    for (const [index, cell] of row.entries()) yield [['cheatSheet', 'rows', rowIndex, index], cell, 'inline'];
  }
  for (const [index, item] of module.revisionItems.entries()) {
    yield [['revisionItems', index, 'term'], item.term, 'inline'];
    yield [['revisionItems', index, 'definition'], item.definition, 'block'];
  }
}

export function representabilityErrors(module: NormalizedModule, map?: SourceMap): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  for (const [path, text, kind] of moduleTexts(module)) {
    const broken = kind === 'inline' ? /[\r\n]/.test(text) : containsHeading(parser.parse(text));
    if (!broken) continue;
    const message = kind === 'inline' ? 'must be a single line' : 'must not contain headings (#, ## or underlined)';
    errors.push({ ...(map ? { line: map.lineOf(path) } : {}), path: path.join('.'), message });
  }
  return errors;
}
