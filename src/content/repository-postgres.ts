import { and, asc, count, eq, getTableColumns, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { createCommitCache, type CommitSource } from '../db/commit-cache.js';
import { executePrepared, statementShapes, transactionsOfPg, type PgExecutor } from '../db/postgres.js';
import { jsonRow, jsonRows } from '../db/postgres-json.js';
import { cheatSheetRows, flashcards, modules, moduleTags, moduleVersions, revisionItems, takeaways } from '../db/schema-pg.js';
import type { PostgresStore } from '../db/store.js';
import { step, type Work } from '../db/work.js';
import type { CheatSheetRowRecord, FlashcardRecord, ModuleContent, ModuleRecord, ModuleSections, ModuleWrite, RevisionItemRecord, SectionWrite, TakeawayRecord } from './records.js';
import type { ContentRepository, ListModulesQuery, ModuleHead, ModuleVersionRow, ModuleVersionWrite, VersionRow } from './repository.js';
import { columns, jsonColumns, toCheatSheetRow, toFlashcard, toModule, toModuleRow, toRevisionItem, toTakeaway } from './row-mappers.js';

/** Multi-row inserts are chunked as on SQLite: PostgreSQL binds at most 65,535 parameters per statement. */
const insertChunk = 100;

/** `liveModule` of content/repository.ts (the rule is content/visibility.ts's): lists hold modules that are not archived. */
const live = isNull(modules.archivedAt);

/**
 * Content writes take this transaction lock before their first read and hold it until they commit, so that they run
 * one after another as SQLite's single writer runs them: an import plans against the version it will replace (two
 * imports of one module would otherwise both plan from the same version, and one fail on its key), and an archive
 * sees whether another has just archived the module. Imports and archives are rare; reads never take it.
 */
const contentWriterLock = 0x6d6e6374; // "mnct"

/** `column = ANY(ids)`: the ids bound as one array, so the statement's text is the same for any number of them. */
const inIds = (column: PgColumn, ids: readonly string[]): SQL => sql`${column} = ANY(${sql.param([...ids])}::text[])`;

/**
 * All SQL for content, on PostgreSQL: the SQLite repository's methods (content/repository.ts) with the same
 * results and ordering. Where SQLite's order is an index's rather than an ORDER BY, the same order is asked for.
 */
export function postgresContentRepository(store: PostgresStore): ContentRepository {
  const { db } = store;
  const transactions = transactionsOfPg(db);

  // Module heads from memory between commits, as on SQLite: every instance's write to modules reaches every
  // instance's listener. This repository's own writes clear them inside the transaction and again once it has
  // settled, moving `ownWrites`: a concurrent read that loaded the old head just before the commit then cannot keep
  // it until the notification arrives, and whoever awaited the write reads its result.
  const commits = store.commits.sourceFor(['modules'], (executor) => executor !== db);
  let ownWrites = 0;
  const headSource: CommitSource = { version: () => `${String(commits.version())}:${ownWrites}`, inTransaction: commits.inTransaction };
  const heads = createCommitCache<ModuleHead>(headSource, { max: 10_000, cacheMisses: true });
  const forgetHeads = () => heads.clear();
  function* loadHead(slug: string): Work<ModuleHead | undefined> {
    return yield* step(async (executor: PgExecutor) => {
      const [row] = await executor
        .select({ id: modules.id, version: modules.version, archivedAt: modules.archivedAt })
        .from(modules)
        .where(eq(modules.slug, slug))
        .limit(1);
      return row;
    });
  }

  const taggedIds = (executor: PgExecutor, tag: string) => executor.select({ id: moduleTags.moduleId }).from(moduleTags).where(eq(moduleTags.tag, tag));

  function* writeTags(moduleId: string, tags: string[]): Work<void> {
    if (tags.length) yield* step((executor: PgExecutor) => executor.insert(moduleTags).values(tags.map((tag) => ({ moduleId, tag }))));
  }

  return {
    run: transactions.run,
    read: transactions.read,
    async write<T>(body: () => Work<T>): Promise<T> {
      try {
        return await transactions.write(function* () {
          yield* step((executor: PgExecutor) => executor.execute(sql`SELECT pg_advisory_xact_lock(${contentWriterLock})`));
          return yield* body();
        });
      } finally {
        ownWrites++;
        heads.clear();
      }
    },

    *findModuleBySlug(slug: string): Work<ModuleRecord | undefined> {
      const [row] = yield* step((executor: PgExecutor) => executor.select().from(modules).where(eq(modules.slug, slug)).limit(1));
      return row && toModule(row);
    },

    *findModuleHead(slug: string): Work<ModuleHead | undefined> {
      return yield* heads.get(slug, () => loadHead(slug));
    },

    *findModuleById(id: string): Work<ModuleRecord | undefined> {
      const [row] = yield* step((executor: PgExecutor) => executor.select().from(modules).where(eq(modules.id, id)).limit(1));
      return row && toModule(row);
    },

    *findModulesByIds(ids: readonly string[]): Work<ModuleRecord[]> {
      if (!ids.length) return [];
      // SQLite walks its IN list in id order.
      return (yield* step((executor: PgExecutor) => executor.select().from(modules).where(inIds(modules.id, ids)).orderBy(asc(modules.id)))).map(toModule);
    },

    *listModules(query: ListModulesQuery): Work<ModuleRecord[]> {
      const rows = yield* step((executor: PgExecutor) =>
        executor
          .select()
          .from(modules)
          .where(and(live, gt(modules.slug, query.afterSlug), query.tag === undefined ? undefined : inArray(modules.id, taggedIds(executor, query.tag))))
          .orderBy(asc(modules.slug))
          .limit(query.limit),
      );
      return rows.map(toModule);
    },

    *countModules(tag: string | undefined): Work<number> {
      const [row] = yield* step((executor: PgExecutor) =>
        executor
          .select({ n: count() })
          .from(modules)
          .where(and(live, tag === undefined ? undefined : inArray(modules.id, taggedIds(executor, tag)))),
      );
      return row?.n ?? 0;
    },

    *countAllModules(): Work<number> {
      const [row] = yield* step((executor: PgExecutor) => executor.select({ n: count() }).from(modules));
      return row?.n ?? 0;
    },

    /**
     * A module by slug with its sections, in one statement (one round trip where five statements took five): on a
     * server whose content cache holds fewer modules than its clients read, this is every first read of a module.
     */
    *findModuleContent(slug: string): Work<ModuleContent | undefined> {
      const [row] = yield* step((executor: PgExecutor) => executePrepared<ModuleContentRow>(executor, { shape: moduleContentShape('content'), values: { slug } }));
      return (
        row && {
          module: toModule(row.module),
          takeaways: row.takeaways.map(toTakeaway),
          flashcards: row.flashcards.map(toFlashcard),
          cheatSheetRows: row.cheat_sheet_rows.map(toCheatSheetRow),
          revisionItems: row.revision_items.map(toRevisionItem),
        }
      );
    },

    *sectionsOf(moduleId: string): Work<ModuleSections> {
      return {
        takeaways: (yield* step((executor: PgExecutor) => executor.select().from(takeaways).where(eq(takeaways.moduleId, moduleId)).orderBy(asc(takeaways.position)))).map(toTakeaway),
        flashcards: (yield* step((executor: PgExecutor) =>
          executor
            .select()
            .from(flashcards)
            .where(and(eq(flashcards.moduleId, moduleId), isNull(flashcards.archivedAt)))
            .orderBy(asc(flashcards.position)),
        )).map(toFlashcard),
        cheatSheetRows: (yield* step((executor: PgExecutor) =>
          executor.select().from(cheatSheetRows).where(eq(cheatSheetRows.moduleId, moduleId)).orderBy(asc(cheatSheetRows.position)),
        )).map(toCheatSheetRow),
        revisionItems: (yield* step((executor: PgExecutor) =>
          executor.select().from(revisionItems).where(eq(revisionItems.moduleId, moduleId)).orderBy(asc(revisionItems.position)),
        )).map(toRevisionItem),
      };
    },

    *takeawaysOfMany(moduleIds: readonly string[]): Work<TakeawayRecord[]> {
      const rows = yield* step((executor: PgExecutor) =>
        executor.select().from(takeaways).where(inIds(takeaways.moduleId, moduleIds)).orderBy(asc(takeaways.moduleId), asc(takeaways.position)),
      );
      return rows.map(toTakeaway);
    },

    *decksOfMany(moduleIds: readonly string[]): Work<FlashcardRecord[]> {
      const rows = yield* step((executor: PgExecutor) =>
        executor
          .select()
          .from(flashcards)
          .where(and(inIds(flashcards.moduleId, moduleIds), isNull(flashcards.archivedAt)))
          .orderBy(asc(flashcards.moduleId), asc(flashcards.position)),
      );
      return rows.map(toFlashcard);
    },

    *cheatSheetRowsOfMany(moduleIds: readonly string[]): Work<CheatSheetRowRecord[]> {
      const rows = yield* step((executor: PgExecutor) =>
        executor.select().from(cheatSheetRows).where(inIds(cheatSheetRows.moduleId, moduleIds)).orderBy(asc(cheatSheetRows.moduleId), asc(cheatSheetRows.position)),
      );
      return rows.map(toCheatSheetRow);
    },

    *revisionItemsOfMany(moduleIds: readonly string[]): Work<RevisionItemRecord[]> {
      const rows = yield* step((executor: PgExecutor) =>
        executor.select().from(revisionItems).where(inIds(revisionItems.moduleId, moduleIds)).orderBy(asc(revisionItems.moduleId), asc(revisionItems.position)),
      );
      return rows.map(toRevisionItem);
    },

    *findLiveFlashcardsByIds(ids: readonly string[]): Work<FlashcardRecord[]> {
      if (!ids.length) return [];
      const rows = yield* step((executor: PgExecutor) =>
        executor
          .select()
          .from(flashcards)
          .where(and(inIds(flashcards.id, ids), isNull(flashcards.archivedAt)))
          .orderBy(asc(flashcards.id)),
      );
      return rows.map(toFlashcard);
    },

    *findFlashcardById(id: string): Work<FlashcardRecord | undefined> {
      const [row] = yield* step((executor: PgExecutor) => executor.select().from(flashcards).where(eq(flashcards.id, id)).limit(1));
      return row && toFlashcard(row);
    },

    *allFlashcardsOf(moduleId: string): Work<FlashcardRecord[]> {
      // SQLite reads them through its (module, position) index; the order decides the order of a re-import's
      // archived cards in the change feed. Live cards' positions are distinct, so position then id fixes it.
      const rows = yield* step((executor: PgExecutor) =>
        executor.select().from(flashcards).where(eq(flashcards.moduleId, moduleId)).orderBy(asc(flashcards.position), asc(flashcards.id)),
      );
      return rows.map(toFlashcard);
    },

    *insertModule(module: ModuleWrite): Work<void> {
      forgetHeads();
      yield* step((executor: PgExecutor) => executor.insert(modules).values(toModuleRow(module)));
      yield* writeTags(module.id, module.tags);
    },

    *updateModule(module: ModuleWrite): Work<void> {
      const { id, createdAt: _createdAt, ...fields } = toModuleRow(module);
      forgetHeads();
      yield* step((executor: PgExecutor) => executor.update(modules).set(fields).where(eq(modules.id, id)));
      yield* step((executor: PgExecutor) => executor.delete(moduleTags).where(eq(moduleTags.moduleId, id)));
      yield* writeTags(id, module.tags);
    },

    *writeSections(moduleId: string, sections: SectionWrite, now: string): Work<void> {
      yield* step((executor: PgExecutor) => executor.delete(takeaways).where(eq(takeaways.moduleId, moduleId)));
      yield* step((executor: PgExecutor) => executor.delete(cheatSheetRows).where(eq(cheatSheetRows.moduleId, moduleId)));
      yield* step((executor: PgExecutor) => executor.delete(revisionItems).where(eq(revisionItems.moduleId, moduleId)));
      for (const chunk of chunks(sections.takeaways)) {
        yield* step((executor: PgExecutor) =>
          executor
            .insert(takeaways)
            .values(chunk.map((item) => ({ moduleId, id: item.id, position: item.position, ...columns('title', item.title), ...columns('body', item.body) }))),
        );
      }
      for (const chunk of chunks(sections.cheatSheetRows)) {
        yield* step((executor: PgExecutor) =>
          executor.insert(cheatSheetRows).values(chunk.map((row) => ({ moduleId, id: row.id, position: row.position, ...jsonColumns('cells', row.cells) }))),
        );
      }
      for (const chunk of chunks(sections.revisionItems)) {
        yield* step((executor: PgExecutor) =>
          executor
            .insert(revisionItems)
            .values(chunk.map((item) => ({ moduleId, id: item.id, position: item.position, ...columns('term', item.term), ...columns('definition', item.definition) }))),
        );
      }
      for (const chunk of chunks(sections.flashcards)) {
        yield* step((executor: PgExecutor) =>
          executor
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
            }),
        );
      }
      const kept = sections.flashcards.map((card) => card.id);
      yield* step((executor: PgExecutor) =>
        executor
          .update(flashcards)
          .set({ archivedAt: now })
          .where(and(eq(flashcards.moduleId, moduleId), isNull(flashcards.archivedAt), sql`${flashcards.id} <> ALL(${sql.param(kept)}::text[])`)),
      );
    },

    *insertVersion(version: ModuleVersionWrite): Work<void> {
      yield* step((executor: PgExecutor) => executor.insert(moduleVersions).values(version));
    },

    *setArchived(moduleId: string, archivedAt: string | null): Work<void> {
      forgetHeads();
      yield* step((executor: PgExecutor) => executor.update(modules).set({ archivedAt }).where(eq(modules.id, moduleId)));
    },

    *listVersions(moduleId: string): Work<VersionRow[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select({ version: moduleVersions.version, createdAt: moduleVersions.createdAt, importedBy: moduleVersions.importedBy, changes: moduleVersions.changes })
          .from(moduleVersions)
          .where(eq(moduleVersions.moduleId, moduleId))
          .orderBy(asc(moduleVersions.version)),
      );
    },

    *findVersion(moduleId: string, version: number): Work<ModuleVersionRow | undefined> {
      const [row] = yield* step((executor: PgExecutor) =>
        executor
          .select()
          .from(moduleVersions)
          .where(and(eq(moduleVersions.moduleId, moduleId), eq(moduleVersions.version, version)))
          .limit(1),
      );
      return row;
    },
  };
}

type ModuleContentRow = {
  module: typeof modules.$inferSelect;
  takeaways: (typeof takeaways.$inferSelect)[];
  flashcards: (typeof flashcards.$inferSelect)[];
  cheat_sheet_rows: (typeof cheatSheetRows.$inferSelect)[];
  revision_items: (typeof revisionItems.$inferSelect)[];
};

/** The module of a slug and each of its sections as JSON arrays in position order (the deck without archived cards). */
const moduleContentShape = statementShapes(() => {
  const section = (table: typeof takeaways | typeof cheatSheetRows | typeof revisionItems) =>
    jsonRows(getTableColumns(table), sql`FROM ${table} WHERE ${table.moduleId} = ${modules.id}`, sql`${table.position}`);
  return sql`SELECT ${jsonRow(getTableColumns(modules))} AS module, ${section(takeaways)} AS takeaways, ${jsonRows(
    getTableColumns(flashcards),
    sql`FROM ${flashcards} WHERE ${flashcards.moduleId} = ${modules.id} AND ${flashcards.archivedAt} IS NULL`,
    sql`${flashcards.position}`,
  )} AS flashcards, ${section(cheatSheetRows)} AS cheat_sheet_rows, ${section(revisionItems)} AS revision_items FROM ${modules} WHERE ${modules.slug} = ${sql.placeholder('slug')}`;
});

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let index = 0; index < items.length; index += insertChunk) yield items.slice(index, index + insertChunk);
}
