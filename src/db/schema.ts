import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Every authored text is stored three times (Markdown source, HTML, plain text), rendered once at import so
// that reads never render.

export const modules = sqliteTable(
  'modules',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    titleMd: text('title_md').notNull(),
    titleHtml: text('title_html').notNull(),
    titleText: text('title_text').notNull(),
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
    titleMd: text('title_md').notNull(),
    titleHtml: text('title_html').notNull(),
    titleText: text('title_text').notNull(),
    bodyMd: text('body_md').notNull(),
    bodyHtml: text('body_html').notNull(),
    bodyText: text('body_text').notNull(),
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
    questionMd: text('question_md').notNull(),
    questionHtml: text('question_html').notNull(),
    questionText: text('question_text').notNull(),
    answerMd: text('answer_md').notNull(),
    answerHtml: text('answer_html').notNull(),
    answerText: text('answer_text').notNull(),
    archivedAt: text('archived_at'),
  },
  (table) => [
    uniqueIndex('flashcards_module_key_unique').on(table.moduleId, table.key),
    index('flashcards_module_position_idx').on(table.moduleId, table.position),
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
    cellsMd: text('cells_md').notNull(),
    cellsHtml: text('cells_html').notNull(),
    cellsText: text('cells_text').notNull(),
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
    termMd: text('term_md').notNull(),
    termHtml: text('term_html').notNull(),
    termText: text('term_text').notNull(),
    definitionMd: text('definition_md').notNull(),
    definitionHtml: text('definition_html').notNull(),
    definitionText: text('definition_text').notNull(),
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
