import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/client.js';
import { transactionsOf } from '../db/transactions.js';
import { step, type Work } from '../db/work.js';

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
  /** The text around the match, matched terms between `markStart` and `markEnd`, "…" where it was cut. */
  snippet: string;
  /** Lower is better, as FTS5's bm25 (PostgreSQL's repository negates its rank to match). */
  rank: number;
}

/**
 * Put around matched terms by the engine (FTS5's snippet(), PostgreSQL's ts_headline), then turned into snippet
 * segments. Control characters that the
 * service takes out of everything it indexes, so they cannot come from content.
 */
export const markStart = '\u0002';
export const markEnd = '\u0003';

/** Tokens in a snippet: at most one segment per token and one between each pair (and at the ends). */
export const snippetTokens = 16;
export const maxSnippetSegments = 2 * snippetTokens + 1;

export interface SearchFilters {
  moduleId?: string | undefined;
  kind?: SearchKind | undefined;
  limit: number;
}

/**
 * The FTS5 MATCH expression for search terms (letters and digits only, see search/query.ts): each quoted as a
 * phrase, all required, the last a prefix.
 */
export function matchExpression(terms: readonly string[]): string {
  return terms.map((term, index) => `"${term}"${index === terms.length - 1 ? '*' : ''}`).join(' ');
}

/**
 * All SQL for the FTS5 index, a virtual table Drizzle does not model, so these are raw statements prepared once.
 * Matches are ranked inside the FTS query and only the top `limit` are joined to their modules: joining every
 * match first made a common word cost a join per matching row.
 */
export function createSearchRepository(db: Db) {
  const sqlite = db.$client;
  const remove = sqlite.prepare('DELETE FROM search_index WHERE module_id = ?');
  const insert = sqlite.prepare('INSERT INTO search_index (kind, module_id, item_id, title, body) VALUES (?, ?, ?, ?, ?)');
  const searches = new Map<string, Statement>();

  function searchStatement(byModule: boolean, byKind: boolean): Statement {
    const key = `${byModule}:${byKind}`;
    let statement = searches.get(key);
    if (!statement) {
      statement = sqlite.prepare(`
        SELECT hit.kind AS kind, hit.item_id AS itemId, m.slug AS moduleSlug, hit.title AS title, hit.snippet AS snippet, hit.rank AS rank
        FROM (
          SELECT kind, module_id, item_id, title,
                 snippet(search_index, -1, @markStart, @markEnd, '…', ${snippetTokens}) AS snippet,
                 bm25(search_index, 0, 0, 0, 4.0, 1.0) AS rank
          FROM search_index
          WHERE search_index MATCH @match
            ${byModule ? 'AND module_id = @moduleId' : ''}
            ${byKind ? 'AND kind = @kind' : ''}
          ORDER BY rank
          LIMIT @limit
        ) AS hit
        JOIN modules m ON m.id = hit.module_id
        ORDER BY hit.rank`);
      searches.set(key, statement);
    }
    return statement;
  }

  return {
    ...transactionsOf(db),

    *replaceModule(moduleId: string, entries: IndexEntry[]): Work<void> {
      yield* step(() => remove.run(moduleId));
      for (const entry of entries) yield* step(() => insert.run(entry.kind, moduleId, entry.itemId, entry.title, entry.body));
    },

    *removeModule(moduleId: string): Work<void> {
      yield* step(() => remove.run(moduleId));
    },

    /** Items matching every term (the last as a prefix), best first. `terms` come from `parseSearchTerms`. */
    *search(terms: readonly string[], filters: SearchFilters): Work<SearchRow[]> {
      const statement = searchStatement(filters.moduleId !== undefined, filters.kind !== undefined);
      const parameters = {
        match: matchExpression(terms),
        markStart,
        markEnd,
        limit: filters.limit,
        ...(filters.moduleId !== undefined ? { moduleId: filters.moduleId } : {}),
        ...(filters.kind !== undefined ? { kind: filters.kind } : {}),
      };
      return (yield* step(() => statement.all(parameters))) as SearchRow[];
    },
  };
}

export type SearchRepository = ReturnType<typeof createSearchRepository>;
