import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Every authored text is stored three times (Markdown source, HTML, plain text), rendered once at import so
// that reads never render.
const requiredText = (column: string) => text(column).notNull();

/** `<key>Md`, `<key>Html` and `<key>Text` over the columns `<column>_md`, `<column>_html`, `<column>_text`. */
function renderedText<K extends string>(key: K, column: string) {
  return {
    [`${key}Md`]: requiredText(`${column}_md`),
    [`${key}Html`]: requiredText(`${column}_html`),
    [`${key}Text`]: requiredText(`${column}_text`),
  } as { [P in `${K}Md` | `${K}Html` | `${K}Text`]: ReturnType<typeof requiredText> };
}

export const modules = sqliteTable(
  'modules',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    ...renderedText('title', 'title'),
    summaryMd: text('summary_md'),
    summaryHtml: text('summary_html'),
    summaryText: text('summary_text'),
    /** JSON array of strings. */
    tags: text('tags').notNull().default('[]'),
    /** JSON arrays of column headings per format; null when the module has no cheat sheet. */
    cheatSheetColumnsMd: text('cheat_sheet_columns_md'),
    cheatSheetColumnsHtml: text('cheat_sheet_columns_html'),
    cheatSheetColumnsText: text('cheat_sheet_columns_text'),
    version: integer('version').notNull(),
    /** Hash of the normalised source: an identical re-import is detected without comparing rows. */
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

export const moduleTags = sqliteTable(
  'module_tags',
  {
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    tag: text('tag').notNull(),
  },
  (table) => [primaryKey({ columns: [table.tag, table.moduleId] }), index('module_tags_module_idx').on(table.moduleId)],
);

export const takeaways = sqliteTable(
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

export const flashcards = sqliteTable(
  'flashcards',
  {
    id: text('id').primaryKey(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** Position in the deck; archived cards keep their last position but are excluded from the deck. */
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

export const cheatSheetRows = sqliteTable(
  'cheat_sheet_rows',
  {
    id: text('id').primaryKey(),
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    /** JSON arrays, one cell per column. */
    ...renderedText('cells', 'cells'),
  },
  (table) => [index('cheat_sheet_rows_module_position_idx').on(table.moduleId, table.position)],
);

export const revisionItems = sqliteTable(
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

/** One row per imported version: the normalised source it was built from and what changed. */
export const moduleVersions = sqliteTable(
  'module_versions',
  {
    moduleId: text('module_id')
      .notNull()
      .references(() => modules.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    source: text('source').notNull(),
    changes: text('changes').notNull(),
    /** JSON: the ids the version's items were stored under, so old versions are served with the same ids. */
    ids: text('ids'),
    importedBy: text('imported_by'),
    createdAt: text('created_at')
      .notNull()
      .default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`),
  },
  (table) => [primaryKey({ columns: [table.moduleId, table.version] })],
);

export type ModuleRow = typeof modules.$inferSelect;
export type TakeawayRow = typeof takeaways.$inferSelect;
export type FlashcardRow = typeof flashcards.$inferSelect;
export type CheatSheetRowRow = typeof cheatSheetRows.$inferSelect;
export type RevisionItemRow = typeof revisionItems.$inferSelect;

export const roles = ['admin', 'integration', 'learner'] as const;
export type Role = (typeof roles)[number];

/** Learners. `owner` is the integration key that created them, or '' for learners created by an admin. */
export const users = sqliteTable(
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

/** API keys: only a SHA-256 of the token is stored; the token itself is shown once. */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role', { enum: roles }).notNull(),
    tokenHash: text('token_hash').notNull(),
    /** The learner a learner key acts for; erased with the learner. */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    createdByKeyId: text('created_by_key_id'),
    createdAt: text('created_at').notNull(),
    revokedAt: text('revoked_at'),
    /** An integration key's own xAPI account homePage for its learners (XAPI_ACCOUNT_HOMEPAGE when null). */
    xapiHomePage: text('xapi_home_page'),
  },
  (table) => [uniqueIndex('api_keys_token_hash_unique').on(table.tokenHash), index('api_keys_user_idx').on(table.userId)],
);

/** The answer history: append-only facts, idempotent on (user, clientAnswerId). */
export const answers = sqliteTable(
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
    /** 1 or 0, or NULL when the client gave only a rating (kept as a plain integer so prepared writes keep NULL). */
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
export const xapiOutbox = sqliteTable(
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
export const xapiDelivery = sqliteTable('xapi_delivery', {
  id: integer('id').primaryKey(),
  delivered: integer('delivered').notNull().default(0),
  lastError: text('last_error'),
  lastErrorAt: text('last_error_at'),
});

/** A card's FSRS memory state, as `card_states` and its snapshots store it (new builders per table). */
const fsrsStateColumns = () => ({
    state: integer('state').notNull(),
    due: text('due').notNull(),
    stability: real('stability').notNull(),
    difficulty: real('difficulty').notNull(),
    elapsedDays: integer('elapsed_days').notNull(),
    scheduledDays: integer('scheduled_days').notNull(),
    learningSteps: integer('learning_steps').notNull(),
    reps: integer('reps').notNull(),
    lapses: integer('lapses').notNull(),
    lastReview: text('last_review'),
});

/**
 * FSRS state per (user, flashcard): a cache derived from the answers, recomputable by replaying them in
 * (answeredAt, clientAnswerId) order. The last applied answer's key decides whether a new answer can be applied
 * incrementally or forces a replay.
 */
export const cardStates = sqliteTable(
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

/**
 * Checkpoints of a card's FSRS state, derived like `card_states`: the state right after the answer whose `reps` is a
 * multiple of the service's snapshot interval, keyed by that answer's (answeredAt, clientAnswerId). A late answer
 * replays from the latest checkpoint before it instead of from the card's first answer; the checkpoints at or after
 * it are rewritten in the same transaction. Erased with the learner; not exported (recomputable from the answers).
 */
export const cardStateSnapshots = sqliteTable(
  'card_state_snapshots',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    flashcardId: text('flashcard_id')
      .notNull()
      .references(() => flashcards.id),
    /** The key of the last answer the state includes. */
    answeredAt: text('answered_at').notNull(),
    clientAnswerId: text('client_answer_id').notNull(),
    ...fsrsStateColumns(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.flashcardId, table.answeredAt, table.clientAnswerId] })],
);

export type UserRow = typeof users.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type AnswerRow = typeof answers.$inferSelect;
export type CardStateRow = typeof cardStates.$inferSelect;
export type CardStateSnapshotRow = typeof cardStateSnapshots.$inferSelect;

/**
 * The change feed: one row per changed entity, written in the same transaction as the change. The sequence is
 * assigned at commit time by a single writer, so a reader never sees a later row before an earlier one.
 */
export const changes = sqliteTable(
  'changes',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    entity: text('entity', { enum: ['module', 'flashcard'] }).notNull(),
    entityId: text('entity_id').notNull(),
    moduleSlug: text('module_slug').notNull(),
    op: text('op', { enum: ['upsert', 'archive'] }).notNull(),
    version: integer('version').notNull(),
    createdAt: text('created_at').notNull(),
  },
  (table) => [index('changes_module_slug_idx').on(table.moduleSlug, table.seq)],
);

export type ChangeRow = typeof changes.$inferSelect;
