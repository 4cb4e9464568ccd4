import type { ContentListener } from '../content/import-module.js';
import type { ModuleRecord, ModuleSections, SectionWrite } from '../content/records.js';
import type { RenderedText } from '../content/module-source/text-format.js';
import { buildMatchExpression } from './query.js';
import { markEnd, markStart, type IndexEntry, type SearchKind, type SearchRepository } from './repository.js';

export interface SearchHit {
  kind: SearchKind;
  moduleSlug: string;
  id: string;
  title: string;
  /** HTML-escaped text around the match, matched terms in <mark>. */
  snippet: string;
  score: number;
}

const escapeHtml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function entriesOf(module: Pick<ModuleRecord, 'id' | 'title' | 'summary'>, sections: SectionWrite | ModuleSections): IndexEntry[] {
  const cells = (texts: RenderedText[]) => texts.map((text) => text.text).join(' ');
  return [
    { kind: 'module', itemId: module.id, title: module.title.text, body: module.summary?.text ?? '' },
    ...sections.takeaways.map((item) => ({ kind: 'takeaway' as const, itemId: item.id, title: item.title.text, body: item.body.text })),
    ...sections.flashcards.map((card) => ({ kind: 'flashcard' as const, itemId: card.id, title: card.question.text, body: card.answer.text })),
    ...sections.cheatSheetRows.map((row) => ({ kind: 'cheatSheetRow' as const, itemId: row.id, title: row.cells[0]?.text ?? '', body: cells(row.cells.slice(1)) })),
    ...sections.revisionItems.map((item) => ({ kind: 'revisionItem' as const, itemId: item.id, title: item.term.text, body: item.definition.text })),
  ];
}

/**
 * Full-text search over live content. The index follows content inside its transactions (as a ContentListener):
 * an import reindexes the module, archiving removes it, restoring puts it back.
 */
export function createSearchService(repository: SearchRepository, loadSections: (moduleId: string) => ModuleSections) {
  const listener: ContentListener = {
    moduleWritten({ module, sections }) {
      if (module.archivedAt === null) repository.replaceModule(module.id, entriesOf(module, sections));
    },
    moduleArchived: (module) => repository.removeModule(module.id),
    moduleRestored: (module) => repository.replaceModule(module.id, entriesOf(module, loadSections(module.id))),
  };

  return {
    listener,

    search(query: { q: string; moduleId?: string | undefined; kind?: SearchKind | undefined; limit: number }): SearchHit[] {
      const match = buildMatchExpression(query.q);
      return repository.search(match, query).map((row) => ({
        kind: row.kind,
        moduleSlug: row.moduleSlug,
        id: row.itemId,
        title: row.title,
        snippet: escapeHtml(row.snippet).replaceAll(markStart, '<mark>').replaceAll(markEnd, '</mark>'),
        score: Math.round(-row.rank * 1000) / 1000,
      }));
    },
  };
}

export type SearchService = ReturnType<typeof createSearchService>;
