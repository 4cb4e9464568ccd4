import { eq, sql, type SQL } from 'drizzle-orm';
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
 * tsquery texts for search terms (letters and digits only, see search/query.ts), bound as parameters of to_tsquery:
 * each term a quoted lexeme, stemmed by the english configuration as the document is, the last a prefix. `all` finds
 * and ranks (every term required). `marks` mark the words, as FTS5 marks every match of every term in a column: one
 * query for all the terms, or one per term when two terms may match one word ("packet packets"), which FTS5 counts
 * as a match of each.
 */
function tsqueries(terms: readonly string[]): { all: string; marks: string[] } {
  const lexemes = terms.map((term, index) => `'${term}'${index === terms.length - 1 ? ':*' : ''}`);
  const lowered = terms.map((term) => term.toLowerCase());
  const overlapping = lowered.some((a, i) => lowered.some((b, j) => j > i && mayMatchOneWord(a, b)));
  return { all: lexemes.join(' & '), marks: overlapping ? lexemes : [lexemes.join(' | ')] };
}

interface HitRow {
  kind: SearchKind;
  itemId: string;
  moduleSlug: string;
  title: string;
  body: string;
  /** The column with its words marked, by each of the `marks` queries. */
  titleMarked: string[];
  bodyMarked: string[];
  rank: number;
}

/** A token as FTS5's unicode61 tokenizer reads text: a run of letters, digits, private-use and combining marks. */
const tokenPattern = /[\p{L}\p{N}\p{Co}\p{Mn}]+/gu;

interface Column {
  text: string;
  /** [start, end) offsets of each token. */
  tokens: [number, number][];
  /** [token index, the query terms it matched], in token order. */
  hits: [number, number[]][];
  /** Tokens that begin a sentence, as FTS5's snippet finds them. */
  sentenceStarts: number[];
}

const commonPrefixLength = (a: string, b: string) => {
  let length = 0;
  while (length < a.length && length < b.length && a[length] === b[length]) length++;
  return length;
};

/** Whether two lowercase words begin alike, as a word and a term it matches do (stems are the words' beginnings). */
const mayMatchOneWord = (a: string, b: string) => commonPrefixLength(a, b) >= Math.min(3, a.length, b.length);

const markSplitter = new RegExp(`(${markStart}|${markEnd})`);

/**
 * A column's tokens and the terms each matched. `marked[k]` is the column as ts_headline marked it for the k-th of
 * the `marks` queries: of term k when there is one per term, else of any term, each word then taken as the term it
 * begins most like. PostgreSQL marks its own tokens, which may hold several of FTS5's (`TCP/UDP` is one): of those,
 * the ones that begin like the term matched.
 */
function readColumn(text: string, marked: readonly string[], terms: readonly string[]): Column {
  const tokens = [...text.matchAll(tokenPattern)].map((match): [number, number] => [match.index, match.index + match[0].length]);
  const words = tokens.map(([start, end]) => text.slice(start, end).toLowerCase());
  const lowered = terms.map((term) => term.toLowerCase());
  const hits = new Map<number, Set<number>>();
  const hit = (index: number, term: number) => {
    const matched = hits.get(index) ?? new Set<number>();
    hits.set(index, matched.add(term));
  };
  marked.forEach((markedText, query) => {
    const candidates = marked.length === terms.length ? [query] : lowered.map((_, index) => index);
    // The candidate the word begins most like, if any.
    const termOf = (index: number) => {
      let best = -1;
      let bestLength = 0;
      for (const term of candidates) {
        const length = commonPrefixLength(words[index]!, lowered[term]!);
        if (length > bestLength && mayMatchOneWord(words[index]!, lowered[term]!)) [best, bestLength] = [term, length];
      }
      return best;
    };
    const ranges: [number, number][] = [];
    let plain = '';
    for (const part of markedText.split(markSplitter)) {
      if (part === markStart) ranges.push([plain.length, plain.length]);
      else if (part === markEnd) ranges.at(-1)![1] = plain.length;
      else plain += part;
    }
    // The marks' offsets are the text's when the marked text is the text. ts_headline copies it whole, except a word
    // longer than its parser takes (2047 bytes), which it leaves out: then the words that begin with a term match.
    if (plain !== text) {
      words.forEach((word, index) => {
        const term = candidates.find((candidate) => word.startsWith(lowered[candidate]!));
        if (term !== undefined) hit(index, term);
      });
      return;
    }
    let next = 0;
    for (const [start, end] of ranges) {
      while (next < tokens.length && tokens[next]![1] <= start) next++;
      const inside: number[] = [];
      for (let index = next; index < tokens.length && tokens[index]![0] < end; index++) inside.push(index);
      const matching = inside.filter((index) => termOf(index) >= 0);
      for (const index of matching.length ? matching : inside) hit(index, Math.max(candidates[0]!, termOf(index)));
    }
  });
  const sentenceStarts = tokens.length ? [0] : [];
  for (let index = 1; index < tokens.length; index++) {
    let at = tokens[index]![0] - 1;
    while (at >= 0 && ' \t\n\r'.includes(text[at]!)) at--;
    if (at !== tokens[index]![0] - 1 && (text[at] === '.' || text[at] === ':')) sentenceStarts.push(index);
  }
  return {
    text,
    tokens,
    hits: [...hits].map(([index, matched]): [number, number[]] => [index, [...matched].sort((a, b) => a - b)]).sort((a, b) => a[0] - b[0]),
    sentenceStarts,
  };
}

/**
 * FTS5's score of the `length` tokens from `from` (fts5SnippetScore): 1000 for each term's first match, 1 for a
 * repeat; and the start of the window that centres those matches.
 */
function windowScore(column: Column, from: number, length: number): { score: number; start: number } {
  const { hits } = column;
  // The first hit at or after `from` (hits are in token order): a long column may hold thousands.
  let low = 0;
  let high = hits.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (hits[middle]![0] < from) low = middle + 1;
    else high = middle;
  }
  const seen = new Set<number>();
  let score = 0;
  let first = -1;
  let last = 0;
  for (let index = low; index < hits.length && hits[index]![0] < from + length; index++) {
    const [position, terms] = hits[index]!;
    for (const term of terms) {
      score += seen.has(term) ? 1 : 1000;
      seen.add(term);
    }
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
    // The sentence of each hit, found by walking both lists in token order.
    let sentence = 0;
    for (const [position] of column.hits) {
      const centred = windowScore(column, position, length);
      if (centred.score > best.score) best = { score: centred.score, column: index, start: centred.start };
      if (column.sentenceStarts.length && column.tokens.length > length) {
        while (sentence < column.sentenceStarts.length - 1 && column.sentenceStarts[sentence + 1]! <= position) sentence++;
        const from = column.sentenceStarts[sentence]!;
        if (from < position) {
          const score = windowScore(column, from, length).score + (from === 0 ? 120 : 100);
          if (score > best.score) best = { score, column: index, start: from };
        }
      }
    }
  });
  const { text, tokens, hits: hitList } = columns[best.column]!;
  if (!tokens.length) return text;
  const hits = new Set(hitList.map(([position]) => position));
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
      const { all, marks } = tsqueries(terms);
      const marked = (column: SQL) => sql.join(marks.map((query) => sql`ts_headline('english', ${column}, to_tsquery('english', ${query}), ${highlightOptions})`), sql`, `);
      const byModule = filters.moduleId === undefined ? sql`` : sql`AND module_id = ${filters.moduleId}`;
      const byKind = filters.kind === undefined ? sql`` : sql`AND kind = ${filters.kind}`;
      const result = yield* step((executor: PgExecutor) =>
        executor.execute<HitRow & Record<string, unknown>>(sql`
          SELECT hit.kind AS "kind", hit.item_id AS "itemId", m.slug AS "moduleSlug", hit.title AS "title", hit.body AS "body",
                 ARRAY[${marked(sql`hit.title`)}] AS "titleMarked", ARRAY[${marked(sql`hit.body`)}] AS "bodyMarked",
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
