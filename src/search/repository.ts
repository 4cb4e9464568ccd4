import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';

export const searchKinds = ['module', 'takeaway', 'flashcard', 'cheatSheetRow', 'revisionItem'] as const;
export type SearchKind = (typeof searchKinds)[number];

export interface IndexEntry {
  kind: SearchKind;
  itemId: string;
  /** Plain text: the title-like part (question, term, first cell) and the rest. */
  title: string;
  body: string;
}

export interface SearchRow {
  kind: SearchKind;
  itemId: string;
  moduleSlug: string;
  title: string;
  snippet: string;
  rank: number;
}

/** Markers that cannot occur in indexed text, replaced by <mark> after the snippet is HTML-escaped. */
export const markStart = '\u0002';
export const markEnd = '\u0003';

/** All SQL for the FTS5 index (a virtual table maintained by raw SQL; drizzle does not model it). */
export function createSearchRepository(db: Db) {
  return {
    replaceModule(moduleId: string, entries: IndexEntry[]): void {
      db.run(sql`DELETE FROM search_index WHERE module_id = ${moduleId}`);
      for (const entry of entries) {
        db.run(sql`INSERT INTO search_index (kind, module_id, item_id, title, body) VALUES (${entry.kind}, ${moduleId}, ${entry.itemId}, ${entry.title}, ${entry.body})`);
      }
    },

    removeModule(moduleId: string): void {
      db.run(sql`DELETE FROM search_index WHERE module_id = ${moduleId}`);
    },

    /** `match` must be a MATCH expression built by the query builder, never raw user input. Best first. */
    search(match: string, filters: { moduleId?: string | undefined; kind?: SearchKind | undefined; limit: number }): SearchRow[] {
      return db.all<SearchRow>(sql`
        SELECT s.kind AS kind, s.item_id AS itemId, m.slug AS moduleSlug, s.title AS title,
               snippet(search_index, -1, ${markStart}, ${markEnd}, '…', 16) AS snippet,
               bm25(search_index, 0, 0, 0, 4.0, 1.0) AS rank
        FROM search_index s JOIN modules m ON m.id = s.module_id
        WHERE search_index MATCH ${match}
          ${filters.moduleId ? sql`AND s.module_id = ${filters.moduleId}` : sql``}
          ${filters.kind ? sql`AND s.kind = ${filters.kind}` : sql``}
        ORDER BY rank
        LIMIT ${filters.limit}`);
    },
  };
}

export type SearchRepository = ReturnType<typeof createSearchRepository>;
