import type { Nodes } from 'mdast';
import remarkGfm from 'remark-gfm';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import type { ErrorDetail } from '../../errors.js';
import type { NormalizedModule } from './module-input.js';
import type { SourceMap } from './source-errors.js';

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
export function representabilityErrors(module: NormalizedModule, map?: SourceMap): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  const report = (path: (string | number)[], message: string) =>
    errors.push({ ...(map ? { line: map.lineOf(path) } : {}), path: path.join('.'), message });
  const inline = (path: (string | number)[], text: string) => {
    if (/[\r\n]/.test(text)) report(path, 'must be a single line');
  };
  const block = (path: (string | number)[], text: string) => {
    if (containsHeading(parser.parse(text))) report(path, 'must not contain headings (#, ## or underlined)');
  };

  inline(['title'], module.title);
  if (module.summary !== null) block(['summary'], module.summary);
  module.takeaways.forEach((item, index) => {
    inline(['takeaways', index, 'title'], item.title);
    block(['takeaways', index, 'body'], item.body);
  });
  module.flashcards.forEach((card, index) => {
    inline(['flashcards', index, 'question'], card.question);
    block(['flashcards', index, 'answer'], card.answer);
  });
  module.cheatSheet?.columns.forEach((column, index) => inline(['cheatSheet', 'columns', index], column));
  module.cheatSheet?.rows.forEach((row, rowIndex) => row.forEach((cell, index) => inline(['cheatSheet', 'rows', rowIndex, index], cell)));
  module.revisionItems.forEach((item, index) => {
    inline(['revisionItems', index, 'term'], item.term);
    block(['revisionItems', index, 'definition'], item.definition);
  });
  return errors;
}
