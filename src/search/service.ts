import type { ContentListener } from '../content/import-module.js';
import type { ModuleRecord, ModuleSections, SectionWrite } from '../content/records.js';
import type { RenderedText } from '../content/module-source/text-format.js';
import type { Work } from '../db/work.js';
import { parseSearchTerms } from './query.js';
import { markEnd, markStart, type IndexEntry, type SearchKind, type SearchRepository } from './repository.js';

/** A piece of a snippet: plain text, `match` when it is a term the query matched. */
export interface SnippetSegment {
  text: string;
  match: boolean;
}

/**
 * One result. Every text in it is plain text, never HTML: clients escape it where they display it (as they would
 * any other string), and highlighting is data (`snippet` segments), not markup.
 */
export interface SearchHit {
  kind: SearchKind;
  moduleSlug: string;
  id: string;
  title: string;
  /** The text around the match, in segments; joined, they are the excerpt ("…" where it was cut). */
  snippet: SnippetSegment[];
  score: number;
}

const markers = new RegExp(`(${markStart}|${markEnd})`);

/** Splits a snippet at the markers the engine put around matched terms; adjacent pieces of a kind are joined. */
export function snippetSegments(marked: string): SnippetSegment[] {
  const segments: SnippetSegment[] = [];
  let match = false;
  for (const part of marked.split(markers)) {
    if (part === markStart || part === markEnd) {
      match = part === markStart;
      continue;
    }
    if (part === '') continue;
    const last = segments.at(-1);
    if (last?.match === match) last.text += part;
    else segments.push({ text: part, match });
  }
  return segments;
}

// The marker characters are taken out of indexed text, so a marker in a snippet is always the engine's own. (Both
// engines' tokenizers read control characters as separators, so a space in their place indexes the same words.)
const markerCharacters = new RegExp(`[${markStart}${markEnd}]`, 'g');
const indexable = (text: string) => text.replace(markerCharacters, ' ');

function entriesOf(module: Pick<ModuleRecord, 'id' | 'title' | 'summary'>, sections: SectionWrite | ModuleSections): IndexEntry[] {
  const cells = (texts: RenderedText[]) => texts.map((text) => text.text).join(' ');
  const entries: IndexEntry[] = [
    { kind: 'module', itemId: module.id, title: module.title.text, body: module.summary?.text ?? '' },
    ...sections.takeaways.map((item) => ({ kind: 'takeaway' as const, itemId: item.id, title: item.title.text, body: item.body.text })),
    ...sections.flashcards.map((card) => ({ kind: 'flashcard' as const, itemId: card.id, title: card.question.text, body: card.answer.text })),
    ...sections.cheatSheetRows.map((row) => ({ kind: 'cheatSheetRow' as const, itemId: row.id, title: row.cells[0]?.text ?? '', body: cells(row.cells.slice(1)) })),
    ...sections.revisionItems.map((item) => ({ kind: 'revisionItem' as const, itemId: item.id, title: item.term.text, body: item.definition.text })),
  ];
  return entries.map((entry) => ({ ...entry, title: indexable(entry.title), body: indexable(entry.body) }));
}

/**
 * Full-text search over live content. The index follows content inside its transactions (as a ContentListener):
 * an import reindexes the module, archiving removes it, restoring puts it back.
 */
export function createSearchService(repository: SearchRepository, loadSections: (moduleId: string) => Work<ModuleSections>) {
  const listener: ContentListener = {
    *moduleWritten({ module, sections }) {
      if (module.archivedAt === null) yield* repository.replaceModule(module.id, entriesOf(module, sections));
    },
    moduleArchived: (module) => repository.removeModule(module.id),
    *moduleRestored(module) {
      yield* repository.replaceModule(module.id, entriesOf(module, yield* loadSections(module.id)));
    },
  };

  return {
    listener,

    async search(query: { q: string; moduleId?: string | undefined; kind?: SearchKind | undefined; limit: number }): Promise<SearchHit[]> {
      const terms = parseSearchTerms(query.q);
      return (await repository.run(repository.search(terms, query))).map((row) => ({
        kind: row.kind,
        moduleSlug: row.moduleSlug,
        id: row.itemId,
        title: row.title,
        snippet: snippetSegments(row.snippet),
        score: Math.round(-row.rank * 1000) / 1000,
      }));
    },
  };
}

export type SearchService = ReturnType<typeof createSearchService>;
