import { eq, sql } from 'drizzle-orm';
import { transactionsOfPg, type PgExecutor } from '../db/postgres.js';
import { searchIndex } from '../db/schema-pg.js';
import type { PostgresStore } from '../db/store.js';
import { step, type Work } from '../db/work.js';
import { markEnd, markStart, snippetTokens, type IndexEntry, type SearchFilters, type SearchKind, type SearchRepository, type SearchRow } from './repository.js';

/** Rows per insert when a module is reindexed (five parameters a row). */
const insertChunk = 200;

/**
 * Weights of the document's classes {D, C, B, A}: titles (A) count four times bodies (B), as FTS5's bm25 weights
 * them on SQLite (4.0 and 1.0).
 */
const weights = sql.raw(`'{0, 0, 0.25, 1}'::float4[]`);

/**
 * ts_headline marks every matched word of the whole text (a fragment of its own would drop what its parser takes for
 * HTML tags, such as `<svc>`, and counts words its own way); the snippet is then cut as FTS5 cuts it (`ftsSnippet`).
 */
const highlightOptions = `StartSel="${markStart}", StopSel="${markEnd}", HighlightAll=true`;

/**
 * tsquery texts for search terms (letters and digits only, see search/query.ts), bound as parameters of
 * to_tsquery: each term a quoted lexeme, stemmed by the english configuration as the document is, the last a prefix.
 * `all` finds and ranks (every term required); `any` marks the words, as FTS5 marks every match in a column.
 */
function tsqueries(terms: readonly string[]): { all: string; any: string } {
  const lexemes = terms.map((term, index) => `'${term}'${index === terms.length - 1 ? ':*' : ''}`);
  return { all: lexemes.join(' & '), any: lexemes.join(' | ') };
}

interface HitRow {
  kind: SearchKind;
  itemId: string;
  moduleSlug: string;
  title: string;
  body: string;
  titleMarked: string;
  bodyMarked: string;
  rank: number;
}

/** A token as FTS5's unicode61 tokenizer reads text: a run of letters, digits, private-use and combining marks. */
const tokenPattern = /[\p{L}\p{N}\p{Co}\p{Mn}]+/gu;

interface Column {
  text: string;
  /** [start, end) offsets of each token. */
  tokens: [number, number][];
  /** Token index -> the query term it matched. */
  hits: Map<number, number>;
  /** Tokens that begin a sentence, as FTS5's snippet finds them. */
  sentenceStarts: number[];
}

const commonPrefixLength = (a: string, b: string) => {
  let length = 0;
  while (length < a.length && length < b.length && a[length] === b[length]) length++;
  return length;
};

/**
 * A column's tokens and which of them matched. PostgreSQL marks its own tokens, which may hold several of FTS5's
 * (`TCP/UDP` is one): of those, the tokens that match are the ones that begin like a term.
 */
function readColumn(text: string, marked: string, terms: readonly string[]): Column {
  const tokens = [...text.matchAll(tokenPattern)].map((match): [number, number] => [match.index, match.index + match[0].length]);
  const ranges: [number, number][] = [];
  let plain = '';
  for (const part of marked.split(new RegExp(`(${markStart}|${markEnd})`))) {
    if (part === markStart) ranges.push([plain.length, plain.length]);
    else if (part === markEnd) ranges.at(-1)![1] = plain.length;
    else plain += part;
  }
  const lowered = terms.map((term) => term.toLowerCase());
  const termOf = (token: [number, number]) => {
    const word = text.slice(token[0], token[1]).toLowerCase();
    let best = -1;
    let bestLength = 0;
    lowered.forEach((term, index) => {
      const length = commonPrefixLength(word, term);
      if (length > bestLength && length >= Math.min(3, term.length, word.length)) [best, bestLength] = [index, length];
    });
    return best;
  };
  const hits = new Map<number, number>();
  // Offsets are the text's only when the marked text is the text (it always is; otherwise nothing is marked).
  if (plain === text) {
    let next = 0;
    for (const [start, end] of ranges) {
      while (next < tokens.length && tokens[next]![1] <= start) next++;
      const inside: number[] = [];
      for (let index = next; index < tokens.length && tokens[index]![0] < end; index++) inside.push(index);
      const matching = inside.filter((index) => termOf(tokens[index]!) >= 0);
      for (const index of matching.length ? matching : inside) hits.set(index, Math.max(0, termOf(tokens[index]!)));
    }
  }
  const sentenceStarts = tokens.length ? [0] : [];
  for (let index = 1; index < tokens.length; index++) {
    let at = tokens[index]![0] - 1;
    while (at >= 0 && ' \t\n\r'.includes(text[at]!)) at--;
    if (at !== tokens[index]![0] - 1 && (text[at] === '.' || text[at] === ':')) sentenceStarts.push(index);
  }
  return { text, tokens, hits, sentenceStarts };
}

/** FTS5's score of the `length` tokens from `from`: 1000 for each term's first match, 1 for a repeat; and its centring. */
function windowScore(column: Column, from: number, length: number): { score: number; start: number } {
  const seen = new Set<number>();
  let score = 0;
  let first = -1;
  let last = 0;
  for (const [position, term] of [...column.hits].sort((a, b) => a[0] - b[0])) {
    if (position < from || position >= from + length) continue;
    score += seen.has(term) ? 1 : 1000;
    seen.add(term);
    if (first < 0) first = position;
    last = position + 1;
  }
  let start = first - Math.trunc((length - (last - first)) / 2);
  if (start + length > column.tokens.length) start = column.tokens.length - length;
  return { score, start: Math.max(0, start) };
}

/**
 * The snippet FTS5's snippet(search_index, -1, markStart, markEnd, '…', snippetTokens) makes (fts5SnippetFunction):
 * of every window around a match, and from the start of a match's sentence, the best-scoring one of either column
 * (the earlier column, the earlier window on a tie), its matches marked, "…" where it cuts the column.
 */
function ftsSnippet(columns: Column[], length: number): string {
  let best = { score: 0, column: 0, start: 0 };
  columns.forEach((column, index) => {
    for (const position of [...column.hits.keys()].sort((a, b) => a - b)) {
      const centred = windowScore(column, position, length);
      if (centred.score > best.score) best = { score: centred.score, column: index, start: centred.start };
      if (column.sentenceStarts.length && column.tokens.length > length) {
        let sentence = 0;
        while (sentence < column.sentenceStarts.length - 1 && column.sentenceStarts[sentence + 1]! <= position) sentence++;
        const from = column.sentenceStarts[sentence]!;
        if (from < position) {
          const score = windowScore(column, from, length).score + (from === 0 ? 120 : 100);
          if (score > best.score) best = { score, column: index, start: from };
        }
      }
    }
  });
  const { text, tokens, hits } = columns[best.column]!;
  if (!tokens.length) return text;
  const end = Math.min(best.start + length, tokens.length) - 1;
  let offset = best.start > 0 ? tokens[best.start]![0] : 0;
  let snippet = best.start > 0 ? '…' : '';
  for (let index = best.start; index <= end; index++) {
    if (!hits.has(index)) continue;
    const [start, stop] = tokens[index]!;
    snippet += `${text.slice(offset, start)}${markStart}${text.slice(start, stop)}${markEnd}`;
    offset = stop;
  }
  snippet += text.slice(offset, tokens[end]![1]);
  return snippet + (end >= tokens.length - 1 ? text.slice(tokens[end]![1]) : '…');
}

/**
 * All SQL for the full-text index, on PostgreSQL: `search_index` with its generated, weighted tsvector under a GIN
 * index (db/schema-pg.ts). As on SQLite, matches are ranked inside the index scan and only the top `limit` are
 * joined to their modules and given snippets: ts_headline parses the whole text, so it runs on those rows only.
 */
export function postgresSearchRepository(store: PostgresStore): SearchRepository {
  const { db } = store;

  function* removeModule(moduleId: string): Work<void> {
    yield* step((executor: PgExecutor) => executor.delete(searchIndex).where(eq(searchIndex.moduleId, moduleId)));
  }

  return {
    ...transactionsOfPg(db),

    *replaceModule(moduleId: string, entries: IndexEntry[]): Work<void> {
      yield* removeModule(moduleId);
      for (let index = 0; index < entries.length; index += insertChunk) {
        const chunk = entries.slice(index, index + insertChunk);
        yield* step((executor: PgExecutor) =>
          executor.insert(searchIndex).values(chunk.map((entry) => ({ kind: entry.kind, moduleId, itemId: entry.itemId, title: entry.title, body: entry.body }))),
        );
      }
    },

    removeModule,

    /** Items matching every term (the last as a prefix), best first. `terms` come from `parseSearchTerms`. */
    *search(terms: readonly string[], filters: SearchFilters): Work<SearchRow[]> {
      const { all, any } = tsqueries(terms);
      const byModule = filters.moduleId === undefined ? sql`` : sql`AND module_id = ${filters.moduleId}`;
      const byKind = filters.kind === undefined ? sql`` : sql`AND kind = ${filters.kind}`;
      const result = yield* step((executor: PgExecutor) =>
        executor.execute<HitRow & Record<string, unknown>>(sql`
          SELECT hit.kind AS "kind", hit.item_id AS "itemId", m.slug AS "moduleSlug", hit.title AS "title", hit.body AS "body",
                 ts_headline('english', hit.title, to_tsquery('english', ${any}), ${highlightOptions}) AS "titleMarked",
                 ts_headline('english', hit.body, to_tsquery('english', ${any}), ${highlightOptions}) AS "bodyMarked",
                 hit.rank AS "rank"
          FROM (
            SELECT kind, module_id, item_id, title, body, -ts_rank_cd(${weights}, document, to_tsquery('english', ${all}), 1) AS rank
            FROM search_index
            WHERE document @@ to_tsquery('english', ${all}) ${byModule} ${byKind}
            ORDER BY rank, item_id, kind
            LIMIT ${filters.limit}
          ) AS hit
          JOIN modules m ON m.id = hit.module_id
          ORDER BY hit.rank, hit.item_id, hit.kind`),
      );
      return result.rows.map((row) => ({
        kind: row.kind,
        itemId: row.itemId,
        moduleSlug: row.moduleSlug,
        title: row.title,
        snippet: ftsSnippet([readColumn(row.title, row.titleMarked, terms), readColumn(row.body, row.bodyMarked, terms)], snippetTokens),
        rank: row.rank,
      }));
    },
  };
}
