import type { NormalizedModule } from './module-input.js';
import { contentHash } from './parse-module-source.js';
import { renderMarkdown } from './render.js';
import type { RenderedText } from './text-format.js';

/** The rendered form of a module source: every text in all three renderings, before ids are assigned. */
export interface RenderedModule {
  source: NormalizedModule;
  hash: string;
  title: RenderedText;
  summary: RenderedText | null;
  takeaways: { title: RenderedText; body: RenderedText }[];
  flashcards: { key: string; question: RenderedText; answer: RenderedText }[];
  cheatSheet: { columns: RenderedText[]; rows: RenderedText[][] } | null;
  revisionItems: { term: RenderedText; definition: RenderedText }[];
}

export function renderModule(source: NormalizedModule): RenderedModule {
  return {
    source,
    hash: contentHash(source),
    title: renderMarkdown(source.title, 'inline'),
    summary: source.summary === null ? null : renderMarkdown(source.summary, 'block'),
    takeaways: source.takeaways.map((item) => ({
      title: renderMarkdown(item.title, 'inline'),
      body: renderMarkdown(item.body, 'block'),
    })),
    flashcards: source.flashcards.map((card) => ({
      key: card.key,
      question: renderMarkdown(card.question, 'inline'),
      answer: renderMarkdown(card.answer, 'block'),
    })),
    cheatSheet: source.cheatSheet && {
      columns: source.cheatSheet.columns.map((column) => renderMarkdown(column, 'inline')),
      rows: source.cheatSheet.rows.map((row) => row.map((cell) => renderMarkdown(cell, 'inline'))),
    },
    revisionItems: source.revisionItems.map((item) => ({
      term: renderMarkdown(item.term, 'inline'),
      definition: renderMarkdown(item.definition, 'block'),
    })),
  };
}

