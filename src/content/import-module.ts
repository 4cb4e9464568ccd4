import type { Work } from '../db/work.js';
import { newId } from '../ids.js';
import type { ModuleFormat } from './module-source/parse-module-source.js';
import type { RenderedModule } from './module-source/render-module.js';
import type { SourceReader } from './module-source/source-reader.js';
import type { RenderedText } from './module-source/text-format.js';
import type { ModuleRecord, ModuleWrite, SectionWrite } from './records.js';
import type { ContentRepository } from './repository.js';

export const sectionNames = ['takeaways', 'flashcards', 'cheatSheet', 'revisionItems'] as const;
export type SectionName = (typeof sectionNames)[number];

export interface SectionChanges {
  added: number;
  updated: number;
  removed: number;
}

export type ImportChanges = Record<SectionName, SectionChanges>;

export interface ImportResult {
  slug: string;
  version: number;
  status: 'created' | 'updated' | 'unchanged';
  changes: ImportChanges;
  /** Echoed from the options: true when nothing was written. Every door reports it from here. */
  dryRun: boolean;
}

export interface ImportOptions {
  dryRun?: boolean;
  /** Name of the API key or tool that ran the import, recorded on the version. */
  importedBy?: string | null;
}

/** What an import wrote, for the search index and the change feed to follow inside the same transaction. */
export interface ModuleWrittenEvent {
  module: ModuleWrite & { archivedAt: string | null };
  sections: SectionWrite;
  /** Flashcards added, restored or edited by this import. */
  upsertedFlashcardIds: string[];
  /** Flashcards this import archived. */
  archivedFlashcardIds: string[];
}

/**
 * Writers that must stay consistent with content: each answers with a work that the content transaction's body
 * composes, so its statements commit or roll back with the content they follow.
 */
export interface ContentListener {
  moduleWritten(event: ModuleWrittenEvent): Work<void>;
  moduleArchived(module: ModuleRecord): Work<void>;
  moduleRestored(module: ModuleRecord): Work<void>;
}

/** The ids a version's items were stored under (kept with the version so old versions keep their ids). */
export interface VersionIds {
  takeaways: string[];
  flashcards: string[];
  cheatSheetRows: string[];
  revisionItems: string[];
}

/**
 * The one import function behind the seed, the CLI and the admin API: parse, validate and render in the source
 * reader (a worker thread, outside the transaction), then in one IMMEDIATE transaction compare with the stored
 * module and write what changed, with the version record, search index and change feed.
 */
export function createModuleImporter(
  repository: ContentRepository,
  listeners: readonly ContentListener[],
  readSource: SourceReader['read'],
  now: () => Date = () => new Date(),
) {
  return async function importModule(source: string, format: ModuleFormat, options: ImportOptions = {}): Promise<ImportResult> {
    const rendered = await readSource(source, format);
    const dryRun = options.dryRun === true;
    // A dry run only reads: it plans against a snapshot and takes no write lock.
    return (dryRun ? repository.read : repository.write)(function* (): Work<ImportResult> {
      const existing = yield* repository.findModuleBySlug(rendered.source.slug);
      if (existing && existing.contentHash === rendered.hash) {
        return { slug: existing.slug, version: existing.version, status: 'unchanged', changes: noChanges(), dryRun };
      }
      const plan = yield* planWrite(repository, rendered, existing, now().toISOString());
      if (!dryRun) {
        if (existing) yield* repository.updateModule(plan.module);
        else yield* repository.insertModule(plan.module);
        yield* repository.writeSections(plan.module.id, plan.sections, plan.module.updatedAt);
        const ids: VersionIds = {
          takeaways: plan.sections.takeaways.map((item) => item.id),
          flashcards: plan.sections.flashcards.map((item) => item.id),
          cheatSheetRows: plan.sections.cheatSheetRows.map((item) => item.id),
          revisionItems: plan.sections.revisionItems.map((item) => item.id),
        };
        yield* repository.insertVersion({
          moduleId: plan.module.id,
          version: plan.module.version,
          source: JSON.stringify(rendered.source),
          changes: JSON.stringify(plan.changes),
          ids: JSON.stringify(ids),
          importedBy: options.importedBy ?? null,
          createdAt: plan.module.updatedAt,
        });
        const event: ModuleWrittenEvent = {
          module: { ...plan.module, archivedAt: existing?.archivedAt ?? null },
          sections: plan.sections,
          upsertedFlashcardIds: plan.upsertedFlashcardIds,
          archivedFlashcardIds: plan.archivedFlashcardIds,
        };
        for (const listener of listeners) yield* listener.moduleWritten(event);
      }
      return {
        slug: plan.module.slug,
        version: plan.module.version,
        status: existing ? 'updated' : 'created',
        changes: plan.changes,
        dryRun,
      };
    });
  };
}

export type ModuleImporter = ReturnType<typeof createModuleImporter>;

function* planWrite(repository: ContentRepository, rendered: RenderedModule, existing: ModuleRecord | undefined, now: string) {
  const old = existing
    ? { ...(yield* repository.sectionsOf(existing.id)), flashcards: yield* repository.allFlashcardsOf(existing.id) }
    : { takeaways: [], flashcards: [], cheatSheetRows: [], revisionItems: [] };

  const takeaways = matchItems(
    'tk',
    old.takeaways.map((item) => ({ id: item.id, key: item.title.markdown, live: true, signature: sign(item.position, item.title, item.body) })),
    rendered.takeaways.map((item, position) => ({ key: item.title.markdown, signature: sign(position, item.title, item.body) })),
  );
  // Flashcards keep their id across imports by key, archived ones included, so answer history stays attached.
  const flashcards = matchItems(
    'fc',
    old.flashcards.map((card) => ({ id: card.id, key: card.key, live: card.archivedAt === null, signature: sign(card.position, card.question, card.answer) })),
    rendered.flashcards.map((card, position) => ({ key: card.key, signature: sign(position, card.question, card.answer) })),
  );
  const rows = matchItems(
    'cs',
    old.cheatSheetRows.map((row) => ({ id: row.id, key: row.cells[0]?.markdown ?? '', live: true, signature: sign(row.position, ...row.cells) })),
    (rendered.cheatSheet?.rows ?? []).map((cells, position) => ({ key: cells[0]?.markdown ?? '', signature: sign(position, ...cells) })),
  );
  const revisionItems = matchItems(
    'rv',
    old.revisionItems.map((item) => ({ id: item.id, key: item.term.markdown, live: true, signature: sign(item.position, item.term, item.definition) })),
    rendered.revisionItems.map((item, position) => ({ key: item.term.markdown, signature: sign(position, item.term, item.definition) })),
  );
  const columnsChanged =
    JSON.stringify(existing?.cheatSheetColumns?.map((column) => column.markdown) ?? null) !==
    JSON.stringify(rendered.cheatSheet?.columns.map((column) => column.markdown) ?? null);

  const module: ModuleWrite = {
    id: existing?.id ?? newId('mod'),
    slug: rendered.source.slug,
    title: rendered.title,
    summary: rendered.summary,
    tags: rendered.source.tags,
    version: existing ? existing.version + 1 : 1,
    contentHash: rendered.hash,
    cheatSheetColumns: rendered.cheatSheet?.columns ?? null,
    counts: {
      takeaways: rendered.takeaways.length,
      flashcards: rendered.flashcards.length,
      cheatSheetRows: rendered.cheatSheet?.rows.length ?? 0,
      revisionItems: rendered.revisionItems.length,
    },
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  };
  const sections: SectionWrite = {
    takeaways: rendered.takeaways.map((item, position) => ({ id: takeaways.ids[position]!, position, ...item })),
    flashcards: rendered.flashcards.map((card, position) => ({ id: flashcards.ids[position]!, position, ...card })),
    cheatSheetRows: (rendered.cheatSheet?.rows ?? []).map((cells, position) => ({ id: rows.ids[position]!, position, cells })),
    revisionItems: rendered.revisionItems.map((item, position) => ({ id: revisionItems.ids[position]!, position, ...item })),
  };
  const cheatSheet = { ...rows.changes };
  // A new or rewritten header changes the sheet even when no row does.
  if (columnsChanged && cheatSheet.added + cheatSheet.updated + cheatSheet.removed === 0) cheatSheet.updated = 1;
  const changes: ImportChanges = {
    takeaways: takeaways.changes,
    flashcards: flashcards.changes,
    cheatSheet,
    revisionItems: revisionItems.changes,
  };
  return { module, sections, changes, upsertedFlashcardIds: flashcards.upserted, archivedFlashcardIds: flashcards.removed };
}

interface ExistingItem {
  id: string;
  key: string;
  /** False for archived flashcards: matching one brings it back (an addition), not an update. */
  live: boolean;
  signature: string;
}

interface IncomingItem {
  key: string;
  signature: string;
}

/**
 * Assigns ids to incoming items: an item whose natural key matches an existing one keeps that id (the first
 * unclaimed one, when keys repeat); the rest get new ids. Also counts what was added, updated and removed.
 */
function matchItems(prefix: string, existing: ExistingItem[], incoming: IncomingItem[]) {
  const byKey = new Map<string, ExistingItem[]>();
  for (const item of existing) byKey.set(item.key, [...(byKey.get(item.key) ?? []), item]);
  const changes: SectionChanges = { added: 0, updated: 0, removed: 0 };
  const claimed = new Set<string>();
  const upserted: string[] = [];
  const ids = incoming.map((item) => {
    const match = byKey.get(item.key)?.shift();
    if (!match) {
      changes.added += 1;
      const id = newId(prefix);
      upserted.push(id);
      return id;
    }
    claimed.add(match.id);
    if (!match.live) changes.added += 1;
    else if (match.signature !== item.signature) changes.updated += 1;
    else return match.id;
    upserted.push(match.id);
    return match.id;
  });
  const removed = existing.filter((item) => item.live && !claimed.has(item.id)).map((item) => item.id);
  changes.removed = removed.length;
  return { ids, changes, upserted, removed };
}

const sign = (position: number, ...texts: RenderedText[]) => JSON.stringify([position, ...texts.map((text) => text.markdown)]);

export const noChanges = (): ImportChanges => ({
  takeaways: { added: 0, updated: 0, removed: 0 },
  flashcards: { added: 0, updated: 0, removed: 0 },
  cheatSheet: { added: 0, updated: 0, removed: 0 },
  revisionItems: { added: 0, updated: 0, removed: 0 },
});
