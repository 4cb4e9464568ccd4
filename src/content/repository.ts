import { and, asc, count, eq, gt, inArray, isNull, notInArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { createCommitCache } from '../db/commit-cache.js';
import { idList, inIdList } from '../db/id-list.js';
import { cheatSheetRows, flashcards, modules, moduleTags, moduleVersions, revisionItems, takeaways } from '../db/schema.js';
import { transactionsOf } from '../db/transactions.js';
import { step, type Work } from '../db/work.js';
import type { CheatSheetRowRecord, FlashcardRecord, ModuleContent, ModuleRecord, ModuleSections, ModuleWrite, RevisionItemRecord, SectionWrite, TakeawayRecord } from './records.js';
import { columns, jsonColumns, toCheatSheetRow, toFlashcard, toModule, toModuleRow, toRevisionItem, toTakeaway } from './row-mappers.js';

export interface ModuleVersionWrite {
  moduleId: string;
  version: number;
  source: string;
  changes: string;
  ids: string | null;
  importedBy: string | null;
  createdAt: string;
}

export type ModuleVersionRow = typeof moduleVersions.$inferSelect;
export type VersionRow = Pick<ModuleVersionRow, 'version' | 'createdAt' | 'importedBy' | 'changes'>;

export interface ModuleHead {
  id: string;
  version: number;
  archivedAt: string | null;
}

export interface ListModulesQuery {
  /** Slug of the last module on the previous page; the empty string sorts before every slug. */
  afterSlug: string;
  limit: number;
  tag: string | undefined;
}

/** Large multi-row inserts are chunked to stay far below SQLite's bound-parameter limit. */
const insertChunk = 100;

/**
 * The SQL form of "live" (see content/visibility.ts): lists, and whatever may still be answered, hold modules that
 * are not archived. Learning queries that join modules use it too.
 */
export const liveModule = isNull(modules.archivedAt);

/** All SQL for content. Reads on hot paths are prepared once. */
export function createContentRepository(db: Db) {
  const placeholder = sql.placeholder;
  const live = liveModule;

  const moduleBySlug = db.select().from(modules).where(eq(modules.slug, placeholder('slug'))).prepare();
  const headBySlug = db
    .select({ id: modules.id, version: modules.version, archivedAt: modules.archivedAt })
    .from(modules)
    .where(eq(modules.slug, placeholder('slug')))
    .prepare();
  const moduleById = db.select().from(modules).where(eq(modules.id, placeholder('id'))).prepare();

  // Module heads from memory between commits: a cached read costs no table lookup. This connection's writes to
  // modules clear them; unknown slugs are remembered too, within the bound.
  const heads = createCommitCache<ModuleHead>(db, { max: 10_000, cacheMisses: true });
  const forgetHeads = () => heads.clear();
  function* loadHead(slug: string): Work<ModuleHead | undefined> {
    return yield* step(() => headBySlug.get({ slug }));
  }
  const modulesPage = db
    .select()
    .from(modules)
    .where(and(live, gt(modules.slug, placeholder('after'))))
    .orderBy(asc(modules.slug))
    .limit(placeholder('limit'))
    .prepare();
  const taggedIds = db.select({ id: moduleTags.moduleId }).from(moduleTags).where(eq(moduleTags.tag, placeholder('tag')));
  const modulesPageByTag = db
    .select()
    .from(modules)
    .where(and(live, gt(modules.slug, placeholder('after')), inArray(modules.id, taggedIds)))
    .orderBy(asc(modules.slug))
    .limit(placeholder('limit'))
    .prepare();
  const liveCount = db.select({ n: count() }).from(modules).where(live).prepare();
  const liveCountByTag = db
    .select({ n: count() })
    .from(modules)
    .where(and(live, inArray(modules.id, taggedIds)))
    .prepare();
  const takeawaysOf = db
    .select()
    .from(takeaways)
    .where(eq(takeaways.moduleId, placeholder('moduleId')))
    .orderBy(asc(takeaways.position))
    .prepare();
  const deckOf = db
    .select()
    .from(flashcards)
    .where(and(eq(flashcards.moduleId, placeholder('moduleId')), isNull(flashcards.archivedAt)))
    .orderBy(asc(flashcards.position))
    .prepare();
  const rowsOf = db
    .select()
    .from(cheatSheetRows)
    .where(eq(cheatSheetRows.moduleId, placeholder('moduleId')))
    .orderBy(asc(cheatSheetRows.position))
    .prepare();
  const revisionItemsOf = db
    .select()
    .from(revisionItems)
    .where(eq(revisionItems.moduleId, placeholder('moduleId')))
    .orderBy(asc(revisionItems.position))
    .prepare();
  const flashcardById = db.select().from(flashcards).where(eq(flashcards.id, placeholder('id'))).prepare();
  const modulesByIds = db.select().from(modules).where(inIdList(modules.id)).prepare();
  const liveFlashcardsByIds = db
    .select()
    .from(flashcards)
    .where(and(inIdList(flashcards.id), isNull(flashcards.archivedAt)))
    .prepare();

  function* sectionsOf(moduleId: string): Work<ModuleSections> {
    return {
      takeaways: (yield* step(() => takeawaysOf.all({ moduleId }))).map(toTakeaway),
      flashcards: (yield* step(() => deckOf.all({ moduleId }))).map(toFlashcard),
      cheatSheetRows: (yield* step(() => rowsOf.all({ moduleId }))).map(toCheatSheetRow),
      revisionItems: (yield* step(() => revisionItemsOf.all({ moduleId }))).map(toRevisionItem),
    };
  }

  return {
    /** `run(work)`, `read(body)`: one snapshot, no write lock; `write(body)`: one IMMEDIATE transaction (db/transactions.ts). */
    ...transactionsOf(db),

    *findModuleBySlug(slug: string): Work<ModuleRecord | undefined> {
      const row = yield* step(() => moduleBySlug.get({ slug }));
      return row && toModule(row);
    },

    /** Just what decides whether cached content is current: the hot path of every content read. */
    *findModuleHead(slug: string): Work<ModuleHead | undefined> {
      return yield* heads.get(slug, () => loadHead(slug));
    },

    *findModuleById(id: string): Work<ModuleRecord | undefined> {
      const row = yield* step(() => moduleById.get({ id }));
      return row && toModule(row);
    },

    *findModulesByIds(ids: readonly string[]): Work<ModuleRecord[]> {
      if (!ids.length) return [];
      return (yield* step(() => modulesByIds.all({ ids: idList(ids) }))).map(toModule);
    },

    /** Live (not archived) modules in slug order, after a keyset cursor. */
    *listModules(query: ListModulesQuery): Work<ModuleRecord[]> {
      const params = { after: query.afterSlug, limit: query.limit };
      const rows = yield* step(() => (query.tag === undefined ? modulesPage.all(params) : modulesPageByTag.all({ ...params, tag: query.tag })));
      return rows.map(toModule);
    },

    *countModules(tag: string | undefined): Work<number> {
      return (yield* step(() => (tag === undefined ? liveCount.get() : liveCountByTag.get({ tag }))))?.n ?? 0;
    },

    /** Every module ever imported, archived ones included (decides whether the store needs seeding). */
    *countAllModules(): Work<number> {
      return (yield* step(() => db.select({ n: count() }).from(modules).get()))?.n ?? 0;
    },

    sectionsOf,

    /** A module by slug with its sections, as `findModuleBySlug` and `sectionsOf` read them. */
    *findModuleContent(slug: string): Work<ModuleContent | undefined> {
      const row = yield* step(() => moduleBySlug.get({ slug }));
      return row && { module: toModule(row), ...(yield* sectionsOf(row.id)) };
    },

    /** One query per section for a batch of modules (GraphQL loaders); rows come back in position order. */
    *takeawaysOfMany(moduleIds: readonly string[]): Work<TakeawayRecord[]> {
      const rows = yield* step(() =>
        db
          .select()
          .from(takeaways)
          .where(inArray(takeaways.moduleId, [...moduleIds]))
          .orderBy(asc(takeaways.moduleId), asc(takeaways.position))
          .all(),
      );
      return rows.map(toTakeaway);
    },

    *decksOfMany(moduleIds: readonly string[]): Work<FlashcardRecord[]> {
      const rows = yield* step(() =>
        db
          .select()
          .from(flashcards)
          .where(and(inArray(flashcards.moduleId, [...moduleIds]), isNull(flashcards.archivedAt)))
          .orderBy(asc(flashcards.moduleId), asc(flashcards.position))
          .all(),
      );
      return rows.map(toFlashcard);
    },

    *cheatSheetRowsOfMany(moduleIds: readonly string[]): Work<CheatSheetRowRecord[]> {
      const rows = yield* step(() =>
        db
          .select()
          .from(cheatSheetRows)
          .where(inArray(cheatSheetRows.moduleId, [...moduleIds]))
          .orderBy(asc(cheatSheetRows.moduleId), asc(cheatSheetRows.position))
          .all(),
      );
      return rows.map(toCheatSheetRow);
    },

    *revisionItemsOfMany(moduleIds: readonly string[]): Work<RevisionItemRecord[]> {
      const rows = yield* step(() =>
        db
          .select()
          .from(revisionItems)
          .where(inArray(revisionItems.moduleId, [...moduleIds]))
          .orderBy(asc(revisionItems.moduleId), asc(revisionItems.position))
          .all(),
      );
      return rows.map(toRevisionItem);
    },

    /** Flashcards by id that are in their module's deck (not archived by a re-import). */
    *findLiveFlashcardsByIds(ids: readonly string[]): Work<FlashcardRecord[]> {
      if (!ids.length) return [];
      return (yield* step(() => liveFlashcardsByIds.all({ ids: idList(ids) }))).map(toFlashcard);
    },

    *findFlashcardById(id: string): Work<FlashcardRecord | undefined> {
      const row = yield* step(() => flashcardById.get({ id }));
      return row && toFlashcard(row);
    },

    /** Every flashcard of a module, archived ones included: imports match them by key. */
    *allFlashcardsOf(moduleId: string): Work<FlashcardRecord[]> {
      return (yield* step(() => db.select().from(flashcards).where(eq(flashcards.moduleId, moduleId)).all())).map(toFlashcard);
    },

    *insertModule(module: ModuleWrite): Work<void> {
      forgetHeads();
      yield* step(() => db.insert(modules).values(toModuleRow(module)).run());
      yield* writeTags(module.id, module.tags);
    },

    *updateModule(module: ModuleWrite): Work<void> {
      const { id, createdAt: _createdAt, ...fields } = toModuleRow(module);
      forgetHeads();
      yield* step(() => db.update(modules).set(fields).where(eq(modules.id, id)).run());
      yield* step(() => db.delete(moduleTags).where(eq(moduleTags.moduleId, id)).run());
      yield* writeTags(id, module.tags);
    },

    /**
     * Replaces a module's sections with `sections`, keeping the ids it is given. Takeaways, rows and revision
     * items are rewritten; flashcards are upserted, and cards missing from `sections` are archived, never deleted,
     * because answer history refers to them.
     */
    *writeSections(moduleId: string, sections: SectionWrite, now: string): Work<void> {
      yield* step(() => db.delete(takeaways).where(eq(takeaways.moduleId, moduleId)).run());
      yield* step(() => db.delete(cheatSheetRows).where(eq(cheatSheetRows.moduleId, moduleId)).run());
      yield* step(() => db.delete(revisionItems).where(eq(revisionItems.moduleId, moduleId)).run());
      for (const chunk of chunks(sections.takeaways)) {
        yield* step(() =>
          db
            .insert(takeaways)
            .values(chunk.map((item) => ({ moduleId, id: item.id, position: item.position, ...columns('title', item.title), ...columns('body', item.body) })))
            .run(),
        );
      }
      for (const chunk of chunks(sections.cheatSheetRows)) {
        yield* step(() =>
          db
            .insert(cheatSheetRows)
            .values(chunk.map((row) => ({ moduleId, id: row.id, position: row.position, ...jsonColumns('cells', row.cells) })))
            .run(),
        );
      }
      for (const chunk of chunks(sections.revisionItems)) {
        yield* step(() =>
          db
            .insert(revisionItems)
            .values(chunk.map((item) => ({ moduleId, id: item.id, position: item.position, ...columns('term', item.term), ...columns('definition', item.definition) })))
            .run(),
        );
      }
      for (const chunk of chunks(sections.flashcards)) {
        yield* step(() =>
          db
            .insert(flashcards)
            .values(
              chunk.map((card) => ({
                moduleId,
                id: card.id,
                key: card.key,
                position: card.position,
                ...columns('question', card.question),
                ...columns('answer', card.answer),
                archivedAt: null,
              })),
            )
            .onConflictDoUpdate({
              target: flashcards.id,
              set: {
                key: sql`excluded.key`,
                position: sql`excluded.position`,
                questionMd: sql`excluded.question_md`,
                questionHtml: sql`excluded.question_html`,
                questionText: sql`excluded.question_text`,
                answerMd: sql`excluded.answer_md`,
                answerHtml: sql`excluded.answer_html`,
                answerText: sql`excluded.answer_text`,
                archivedAt: sql`NULL`,
              },
            })
            .run(),
        );
      }
      const kept = sections.flashcards.map((card) => card.id);
      yield* step(() =>
        db
          .update(flashcards)
          .set({ archivedAt: now })
          .where(and(eq(flashcards.moduleId, moduleId), isNull(flashcards.archivedAt), notInArray(flashcards.id, kept)))
          .run(),
      );
    },

    *insertVersion(version: ModuleVersionWrite): Work<void> {
      yield* step(() => db.insert(moduleVersions).values(version).run());
    },

    *setArchived(moduleId: string, archivedAt: string | null): Work<void> {
      forgetHeads();
      yield* step(() => db.update(modules).set({ archivedAt }).where(eq(modules.id, moduleId)).run());
    },

    *listVersions(moduleId: string): Work<VersionRow[]> {
      return yield* step(() =>
        db
          .select({ version: moduleVersions.version, createdAt: moduleVersions.createdAt, importedBy: moduleVersions.importedBy, changes: moduleVersions.changes })
          .from(moduleVersions)
          .where(eq(moduleVersions.moduleId, moduleId))
          .orderBy(asc(moduleVersions.version))
          .all(),
      );
    },

    *findVersion(moduleId: string, version: number): Work<ModuleVersionRow | undefined> {
      return yield* step(() =>
        db
          .select()
          .from(moduleVersions)
          .where(and(eq(moduleVersions.moduleId, moduleId), eq(moduleVersions.version, version)))
          .get(),
      );
    },
  };

  function* writeTags(moduleId: string, tags: string[]): Work<void> {
    if (tags.length) yield* step(() => db.insert(moduleTags).values(tags.map((tag) => ({ moduleId, tag }))).run());
  }
}

export type ContentRepository = ReturnType<typeof createContentRepository>;

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let index = 0; index < items.length; index += insertChunk) yield items.slice(index, index + insertChunk);
}

