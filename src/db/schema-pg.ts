import { sql } from 'drizzle-orm';
import { bigint, customType, doublePrecision, index, integer, pgTable, primaryKey, uniqueIndex } from 'drizzle-orm/pg-core';
import { roles } from './schema.js';

/**
 * The PostgreSQL tables, column for column those of schema.ts (same names, same stored forms), so that rows copy
 * between the engines unchanged and every repository maps them the same way. Timestamps stay ISO 8601 text and JSON
 * stays text, as on SQLite: ordering, cursors and ETags then compare the same strings on both engines.
 */

/**
 * Text compared byte by byte, as SQLite's BINARY collation does. The database's default collation (often
 * en_US.UTF-8) sorts `B` after `a` and ignores punctuation, which would page slugs and answers in another order
 * than SQLite and let two keys that differ only in case compare equal in a range.
 */
const text = customType<{ data: string; driverData: string }>({ dataType: () => 'text COLLATE "C"' });

const textEnum = <T extends readonly [string, ...string[]]>(name: string, _values: T) => customType<{ data: T[number]; driverData: string }>({ dataType: () => 'text COLLATE "C"' })(name);

const tsvector = customType<{ data: string; driverData: string }>({ dataType: () => 'tsvector' });

const requiredText = (column: string) => text(column).notNull();

function renderedText<K extends string>(key: K, column: string) {
  return {
    [`${key}Md`]: requiredText(`${column}_md`),
    [`${key}Html`]: requiredText(`${column}_html`),
    [`${key}Text`]: requiredText(`${column}_text`),
  } as { [P in `${K}Md` | `${K}Html` | `${K}Text`]: ReturnType<typeof requiredText> };
}

export const modules = pgTable(
  'modules',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    ...renderedText('title', 'title'),
    summaryMd: text('summary_md'),
    summaryHtml: text('summary_html'),
    summaryText: text('summary_text'),
    tags: text('tags').notNull().default('[]'),
    cheatSheetColumnsMd: text('cheat_sheet_columns_md'),
    cheatSheetColumnsHtml: text('cheat_sheet_columns_html'),
    cheatSheetColumnsText: text('cheat_sheet_columns_text'),
    version: integer('version').notNull(),
    contentHash: text('content_hash').notNull(),
    takeawayCount: integer('takeaway_count').notNull(),
    flashcardCount: integer('flashcard_count').notNull(),
    cheatSheetRowCount: integer('cheat_sheet_row_count').notNull(),
    revisionItemCount: integer('revision_item_count').notNull(),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
    archivedAt: text('archived_at'),
  },
  (table) => [uniqueIndex('modules_slug_unique').on(table.slug)],
);

export const moduleTags = pgTable(
  'module_tags',
  {
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    tag: text('tag').notNull(),
  },
  (table) => [primaryKey({ columns: [table.tag, table.moduleId] }), index('module_tags_module_idx').on(table.moduleId)],
);

export const takeaways = pgTable(
  'takeaways',
  {
    id: text('id').primaryKey(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    ...renderedText('title', 'title'),
    ...renderedText('body', 'body'),
  },
  (table) => [index('takeaways_module_position_idx').on(table.moduleId, table.position)],
);

export const flashcards = pgTable(
  'flashcards',
  {
    id: text('id').primaryKey(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    position: integer('position').notNull(),
    ...renderedText('question', 'question'),
    ...renderedText('answer', 'answer'),
    archivedAt: text('archived_at'),
  },
  (table) => [
    uniqueIndex('flashcards_module_key_unique').on(table.moduleId, table.key),
    // Both cover the study queue's checks of which cards are live (earliest due, new cards): a card's row carries its
    // texts in three renderings, and reading `archived_at` from it cost more than the rest of those queries.
    index('flashcards_module_position_live_idx').on(table.moduleId, table.position, table.archivedAt, table.id),
    index('flashcards_id_live_idx').on(table.id, table.archivedAt, table.moduleId),
  ],
);

export const cheatSheetRows = pgTable(
  'cheat_sheet_rows',
  {
    id: text('id').primaryKey(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    ...renderedText('cells', 'cells'),
  },
  (table) => [index('cheat_sheet_rows_module_position_idx').on(table.moduleId, table.position)],
);

export const revisionItems = pgTable(
  'revision_items',
  {
    id: text('id').primaryKey(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    ...renderedText('term', 'term'),
    ...renderedText('definition', 'definition'),
  },
  (table) => [index('revision_items_module_position_idx').on(table.moduleId, table.position)],
);

export const moduleVersions = pgTable(
  'module_versions',
  {
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    source: text('source').notNull(),
    changes: text('changes').notNull(),
    ids: text('ids'),
    importedBy: text('imported_by'),
    createdAt: text('created_at')
      .notNull()
      .default(sql`to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`),
  },
  (table) => [primaryKey({ columns: [table.moduleId, table.version] })],
);

export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    externalId: text('external_id').notNull(),
    displayName: text('display_name'),
    owner: text('owner').notNull(),
    createdAt: text('created_at').notNull(),
  },
  (table) => [uniqueIndex('users_owner_external_id_unique').on(table.owner, table.externalId), index('users_external_id_idx').on(table.externalId)],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: textEnum('role', roles).notNull(),
    tokenHash: text('token_hash').notNull(),
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    createdByKeyId: text('created_by_key_id'),
    createdAt: text('created_at').notNull(),
    revokedAt: text('revoked_at'),
    /** An integration key's own xAPI account homePage for its learners (XAPI_ACCOUNT_HOMEPAGE when null). */
    xapiHomePage: text('xapi_home_page'),
  },
  (table) => [uniqueIndex('api_keys_token_hash_unique').on(table.tokenHash), index('api_keys_user_idx').on(table.userId)],
);

export const answers = pgTable(
  'answers',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientAnswerId: text('client_answer_id').notNull(),
    flashcardId: text('flashcard_id')
      .notNull()
      .references(() => flashcards.id),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id),
    rating: integer('rating').notNull(),
    correct: integer('correct'),
    answeredAt: text('answered_at').notNull(),
    receivedAt: text('received_at').notNull(),
    durationMs: integer('duration_ms'),
    response: text('response'),
  },
  (table) => [
    uniqueIndex('answers_user_client_id_unique').on(table.userId, table.clientAnswerId),
    index('answers_user_answered_idx').on(table.userId, table.answeredAt, table.id),
    index('answers_user_card_idx').on(table.userId, table.flashcardId, table.answeredAt, table.clientAnswerId),
    index('answers_user_module_idx').on(table.userId, table.moduleId, table.answeredAt),
  ],
);

/**
 * xAPI statements waiting for the LRS: one row per answer recorded while LRS_ENDPOINT is set (or backfilled), written
 * in the answer's transaction and erased with it; deleted once the LRS has it. A row is due from `nextAttemptAt`
 * unless a dispatcher's claim holds it (`leasedUntil`, not indexed: a claim then rewrites the row alone, not its index
 * entry), so a row claimed by a process that died is due again once the lease runs out. `parkedAt`: the LRS refused
 * the statement (`lastError` says why); only an admin re-queues it. On SQLite the table is WITHOUT ROWID (clustered on
 * the time-ordered answer id: one B-tree fewer per insert and delete).
 */
export const xapiOutbox = pgTable(
  'xapi_outbox',
  {
    answerId: text('answer_id')
      .primaryKey()
      .references(() => answers.id, { onDelete: 'cascade' }),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: text('next_attempt_at').notNull(),
    leasedUntil: text('leased_until'),
    lastError: text('last_error'),
    parkedAt: text('parked_at'),
    createdAt: text('created_at').notNull(),
  },
  (table) => [index('xapi_outbox_due_idx').on(table.parkedAt, table.nextAttemptAt)],
);

/** One row (id 1): statements delivered so far, and the dispatcher's last failure, for the admin status. */
export const xapiDelivery = pgTable('xapi_delivery', {
  id: integer('id').primaryKey(),
  delivered: bigint('delivered', { mode: 'number' }).notNull().default(0),
  lastError: text('last_error'),
  lastErrorAt: text('last_error_at'),
});

const fsrsStateColumns = () => ({
  state: integer('state').notNull(),
  due: text('due').notNull(),
  stability: doublePrecision('stability').notNull(),
  difficulty: doublePrecision('difficulty').notNull(),
  elapsedDays: integer('elapsed_days').notNull(),
  scheduledDays: integer('scheduled_days').notNull(),
  learningSteps: integer('learning_steps').notNull(),
  reps: integer('reps').notNull(),
  lapses: integer('lapses').notNull(),
  lastReview: text('last_review'),
});

export const cardStates = pgTable(
  'card_states',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    flashcardId: text('flashcard_id')
      .notNull()
      .references(() => flashcards.id),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id),
    ...fsrsStateColumns(),
    lastAnsweredAt: text('last_answered_at').notNull(),
    lastClientAnswerId: text('last_client_answer_id').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.flashcardId] }),
    index('card_states_user_due_idx').on(table.userId, table.due),
    index('card_states_user_module_due_idx').on(table.userId, table.moduleId, table.due),
  ],
);

export const cardStateSnapshots = pgTable(
  'card_state_snapshots',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    flashcardId: text('flashcard_id')
      .notNull()
      .references(() => flashcards.id),
    answeredAt: text('answered_at').notNull(),
    clientAnswerId: text('client_answer_id').notNull(),
    ...fsrsStateColumns(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.flashcardId, table.answeredAt, table.clientAnswerId] })],
);

export const changes = pgTable(
  'changes',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    entity: textEnum('entity', ['module', 'flashcard'] as const).notNull(),
    entityId: text('entity_id').notNull(),
    moduleSlug: text('module_slug').notNull(),
    op: textEnum('op', ['upsert', 'archive'] as const).notNull(),
    version: integer('version').notNull(),
    createdAt: text('created_at').notNull(),
  },
  (table) => [index('changes_module_slug_idx').on(table.moduleSlug, table.seq)],
);

/**
 * The full-text index (SQLite's is an FTS5 table): the same rows, with a weighted document generated from them
 * (titles rank above bodies) under a GIN index. English stemming stands in for FTS5's porter tokenizer.
 */
export const searchIndex = pgTable(
  'search_index',
  {
    kind: text('kind').notNull(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    itemId: text('item_id').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    document: tsvector('document')
      .notNull()
      .generatedAlwaysAs(sql`setweight(to_tsvector('english', "title"), 'A') || setweight(to_tsvector('english', "body"), 'B')`),
  },
  (table) => [
    primaryKey({ columns: [table.itemId, table.kind] }),
    index('search_index_module_idx').on(table.moduleId),
    index('search_index_document_idx').using('gin', table.document),
  ],
);
