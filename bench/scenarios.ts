import { createHash, randomUUID } from 'node:crypto';
import type autocannon from 'autocannon';
import Database from 'better-sqlite3';
import type { Dataset, LearnerToken } from './dataset.js';
import { mapConcurrent, send, sendJson, type HttpResponse } from './http.js';
import { Rng } from './prng.js';
import type { BaselineKind } from './baseline.js';
import { maxBatchAnswers } from '../src/learning/schemas.js';

/**
 * The benchmark scenarios: what each one sends (varied per request by autocannon's setupRequest) and the target
 * it is held to. Ratios are against the baseline's requests/s measured in the same run.
 */

export interface ScenarioContext {
  baseUrl: string;
  dataset: Dataset;
  /** Every module's ETag for the identity encoding, from primeServer. */
  etags: ReadonlyMap<string, string>;
}

export interface PreparedScenario {
  requests: autocannon.Request[];
  /** Checks the response to one sample request before the load starts: null when fine, else what is wrong. */
  check(response: HttpResponse): string | null;
}

export interface Scenario {
  name: string;
  description: string;
  /** Minimum ratio to the baseline; undefined when the ratio is only reported. */
  minRatio?: number;
  /** The baseline the ratio is taken against (default `tiny`). */
  baseline?: BaselineKind;
  /** Work done per successful request, reported per second, with its own target (answers in a batch). */
  units?: { perRequest: number; name: string; minPerSecond: number };
  /** PostgreSQL's own targets where they differ (the PostgreSQL issue's: writes cross a network round trip). */
  postgres?: { minRatio?: number; minPerSecond?: number };
  /** Served from memory on either engine: with both engines run, PostgreSQL's ratio must be within 10% of SQLite's. */
  servedFromMemory?: boolean;
  /**
   * Also measure a replica of its responses (bench/baseline.ts, the same bytes and headers for each request it
   * makes, driven with its own requests): the ratio a server sending exactly these bytes reaches here.
   */
  replica?: boolean;
  /** Statuses that count as success besides every 2xx. */
  alsoSuccessful?: readonly number[];
  /** The scenario changes data; writers run after every reader. */
  writes: boolean;
  prepare(context: ScenarioContext): Promise<PreparedScenario>;
}

type Method = 'GET' | 'POST';
interface RequestParts {
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A request rebuilt by autocannon before every send, so path, headers and body vary per request. */
function varying(method: Method, build: () => RequestParts): autocannon.Request {
  return {
    method,
    setupRequest: (request) => {
      const parts = build();
      return { ...request, method, path: parts.path, headers: { ...request.headers, ...parts.headers }, body: parts.body };
    },
  };
}

/** The request autocannon would send next: its method, path, headers and body. */
export function nextRequest(request: autocannon.Request): RequestParts & { method: string } {
  const setup = typeof request.setupRequest === 'function' ? request.setupRequest : (value: autocannon.Request) => value;
  const next = setup({ method: request.method ?? 'GET', path: request.path ?? '/', headers: { ...request.headers }, body: request.body }, {});
  return {
    method: next.method ?? 'GET',
    path: next.path ?? '/',
    headers: next.headers as Record<string, string>,
    ...(next.body === undefined ? {} : { body: next.body.toString() }),
  };
}

/** The request autocannon would send next, sent once with the plain client (the pre-load check). */
export async function sendSample(baseUrl: string, request: autocannon.Request): Promise<HttpResponse> {
  const { path, ...init } = nextRequest(request);
  return send(`${baseUrl}${path}`, init);
}

const seedOf = (name: string) => createHash('sha256').update(name).digest().readUInt32LE(0);
const json = { 'content-type': 'application/json' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function expectStatus(response: HttpResponse, ...statuses: number[]): string | null {
  return statuses.includes(response.status) ? null : `status ${response.status} (expected ${statuses.join(' or ')}): ${response.body.slice(0, 300)}`;
}

function parsed<T>(response: HttpResponse): T | undefined {
  try {
    return JSON.parse(response.body) as T;
  } catch {
    return undefined;
  }
}

/**
 * Requests every module once before the scenarios, as a server that has been running for a while would have
 * served them: the scenarios then measure the steady state, not the one-off filling of the content cache. Returns
 * each module's ETag for the identity encoding (autocannon sends no Accept-Encoding).
 */
export async function primeServer(baseUrl: string, dataset: Dataset): Promise<Map<string, string>> {
  const slugs = dataset.manifest.modules.map((module) => module.slug);
  const etags = await mapConcurrent(slugs, 8, async (slug) => {
    const response = await send(`${baseUrl}/v1/modules/${slug}`);
    const etag = response.headers.etag;
    if (response.status !== 200 || typeof etag !== 'string') throw new Error(`GET /v1/modules/${slug} answered ${response.status} without an ETag`);
    return [slug, etag] as const;
  });
  return new Map(etags);
}

const moduleQuery = /* GraphQL */ `query BenchModule($slug: String!) {
  module(slug: $slug) {
    id slug title summary tags version createdAt updatedAt
    counts { takeaways flashcards cheatSheetRows revisionItems }
    takeaways { id position title body }
    flashcards { id key position question answer }
    cheatSheet { columns rows { position cells } }
    revisionItems { id position term definition }
  }
}`;
const moduleQueryHash = createHash('sha256').update(moduleQuery).digest('hex');

function checkGraphqlModule(response: HttpResponse): string | null {
  const problem = expectStatus(response, 200);
  if (problem) return problem;
  const body = parsed<{ data?: { module?: { flashcards?: unknown[] } | null }; errors?: unknown[] }>(response);
  if (body?.errors?.length || !body?.data?.module?.flashcards?.length) return `unexpected GraphQL answer: ${response.body.slice(0, 300)}`;
  return null;
}

function checkItems(response: HttpResponse, min: number): string | null {
  const problem = expectStatus(response, 200);
  if (problem) return problem;
  const items = parsed<{ items?: unknown[] }>(response)?.items;
  return items && items.length >= min ? null : `expected at least ${min} items: ${response.body.slice(0, 300)}`;
}

/** An answer as a client sends it: a fresh UUID v4, a real flashcard, answeredAt a few seconds ago. */
function newAnswer(rng: Rng, flashcardIds: readonly string[], answeredAt: number) {
  return {
    clientAnswerId: randomUUID(),
    flashcardId: rng.pick(flashcardIds),
    rating: rng.int(1, 4),
    answeredAt: new Date(answeredAt).toISOString(),
    durationMs: rng.int(1500, 20_000),
  };
}

const allFlashcardIds = (dataset: Dataset) => dataset.manifest.modules.flatMap((module) => module.flashcardIds);
const learnerTokens = (dataset: Dataset) => [...dataset.tokens.heavy, ...dataset.tokens.learners].map((learner) => learner.token);

const dayMs = 24 * 60 * 60 * 1000;

/** `answer-post`: how many learners post, and the share of their answers that arrive days late. */
const answerPostLearners = 100;
const answerPostLatePercent = 1;

/** `history-page`: what counts as a short history (a first page that is not full). */
const shortHistory = { min: 1, max: 10 };

/**
 * How many answers each of these learners has, read from the cached dataset's SQLite file (read-only; the run
 * copies that file, so it is what the server starts with). Learners without answers are absent.
 */
function answerCountsOf(dataset: Dataset, learners: readonly LearnerToken[]): Map<string, number> {
  const sqlite = new Database(dataset.dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = sqlite
      .prepare('SELECT user_id AS userId, count(*) AS count FROM answers WHERE user_id IN (SELECT value FROM json_each(?)) GROUP BY user_id')
      .all(JSON.stringify(learners.map((learner) => learner.userId))) as { userId: string; count: number }[];
    return new Map(rows.map((row) => [row.userId, row.count]));
  } finally {
    sqlite.close();
  }
}

export const batchSize = 100;

export const scenarios: Scenario[] = [
  {
    name: 'module-get',
    servedFromMemory: true,
    description: 'GET /v1/modules/:slug, a random module',
    minRatio: 0.7,
    baseline: 'same-bytes',
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('module-get'));
      const slugs = dataset.manifest.modules.map((module) => module.slug);
      return { requests: [varying('GET', () => ({ path: `/v1/modules/${rng.pick(slugs)}` }))], check: (response) => expectStatus(response, 200) };
    },
  },
  {
    name: 'module-get-304',
    servedFromMemory: true,
    description: 'GET /v1/modules/:slug with If-None-Match: its ETag (304)',
    minRatio: 0.7,
    baseline: 'not-modified',
    alsoSuccessful: [304],
    writes: false,
    async prepare(context) {
      const rng = new Rng(seedOf('module-get-304'));
      const etags = [...context.etags];
      return {
        requests: [
          varying('GET', () => {
            const [slug, etag] = rng.pick(etags);
            return { path: `/v1/modules/${slug}`, headers: { 'if-none-match': etag } };
          }),
        ],
        check: (response) => expectStatus(response, 304),
      };
    },
  },
  {
    name: 'deck-get',
    servedFromMemory: true,
    replica: true,
    description: 'GET /v1/modules/:slug/flashcards (the deck, default format), a random module',
    minRatio: 0.6,
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('deck-get'));
      const slugs = dataset.manifest.modules.map((module) => module.slug);
      return {
        requests: [varying('GET', () => ({ path: `/v1/modules/${rng.pick(slugs)}/flashcards` }))],
        check: (response) => checkItems(response, 1),
      };
    },
  },
  {
    name: 'deck-get-html',
    servedFromMemory: true,
    replica: true,
    description: 'GET /v1/modules/:slug/flashcards?format=html, a random module',
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('deck-get-html'));
      const slugs = dataset.manifest.modules.map((module) => module.slug);
      return {
        requests: [varying('GET', () => ({ path: `/v1/modules/${rng.pick(slugs)}/flashcards?format=html` }))],
        check: (response) => checkItems(response, 1),
      };
    },
  },
  {
    name: 'graphql-module',
    servedFromMemory: true,
    replica: true,
    description: 'POST /graphql, a whole module (all four sections) by slug',
    minRatio: 0.35,
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('graphql-module'));
      const slugs = dataset.manifest.modules.map((module) => module.slug);
      return {
        requests: [
          varying('POST', () => ({ path: '/graphql', headers: json, body: JSON.stringify({ query: moduleQuery, variables: { slug: rng.pick(slugs) } }) })),
        ],
        check: checkGraphqlModule,
      };
    },
  },
  {
    name: 'graphql-persisted',
    servedFromMemory: true,
    replica: true,
    description: 'POST /graphql, the same query as an automatic persisted query (hash only)',
    minRatio: 0.2,
    writes: false,
    async prepare({ baseUrl, dataset }) {
      const rng = new Rng(seedOf('graphql-persisted'));
      const slugs = dataset.manifest.modules.map((module) => module.slug);
      const extensions = { persistedQuery: { version: 1, sha256Hash: moduleQueryHash } };
      // Registers the query under its hash, as an APQ client does after PersistedQueryNotFound.
      const registered = await send(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ query: moduleQuery, variables: { slug: slugs[0] }, extensions }),
      });
      const problem = checkGraphqlModule(registered);
      if (problem) throw new Error(`registering the persisted query failed: ${problem}`);
      return {
        requests: [varying('POST', () => ({ path: '/graphql', headers: json, body: JSON.stringify({ variables: { slug: rng.pick(slugs) }, extensions }) }))],
        check: checkGraphqlModule,
      };
    },
  },
  {
    name: 'modules-list',
    description: 'GET /v1/modules?limit=100, every page in turn (cursors)',
    writes: false,
    async prepare({ baseUrl }) {
      const cursors: (string | null)[] = [null];
      for (let cursor: string | null = null; ; ) {
        const page: { nextCursor: string | null } = await sendJson(`${baseUrl}/v1/modules?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (!page.nextCursor) break;
        cursors.push(page.nextCursor);
        cursor = page.nextCursor;
      }
      let next = 0;
      return {
        requests: [
          varying('GET', () => {
            const cursor = cursors[next++ % cursors.length];
            return { path: `/v1/modules?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` };
          }),
        ],
        check: (response) => checkItems(response, 1),
      };
    },
  },
  {
    name: 'search-common',
    description: 'GET /v1/search?q=<one of the 10 most frequent words>',
    minRatio: 0.1,
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('search-common'));
      const terms = dataset.manifest.searchTerms.common;
      return { requests: [varying('GET', () => ({ path: `/v1/search?q=${encodeURIComponent(rng.pick(terms))}` }))], check: (response) => checkItems(response, 20) };
    },
  },
  {
    name: 'search-rare',
    description: 'GET /v1/search?q=<a term that occurs once in the dataset>',
    minRatio: 0.1,
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('search-rare'));
      const terms = dataset.manifest.searchTerms.rare;
      return { requests: [varying('GET', () => ({ path: `/v1/search?q=${encodeURIComponent(rng.pick(terms))}` }))], check: (response) => checkItems(response, 1) };
    },
  },
  {
    name: 'study-queue',
    description: 'GET /v1/me/study?module=<one of their modules>, heavy learners (3,000-5,000 answers)',
    minRatio: 0.15,
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('study-queue'));
      const heavy = dataset.tokens.heavy;
      return {
        requests: [
          varying('GET', () => {
            const learner = rng.pick(heavy);
            return { path: `/v1/me/study?module=${rng.pick(learner.modules)}`, headers: bearer(learner.token) };
          }),
        ],
        check: (response) => checkItems(response, 1),
      };
    },
  },
  {
    name: 'history-page',
    description: `GET /v1/me/answers?limit=50, ordinary learners with a short history (${shortHistory.min}-${shortHistory.max} answers)`,
    minRatio: 0.2,
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('history-page'));
      const counts = answerCountsOf(dataset, dataset.tokens.learners);
      const short = dataset.tokens.learners.filter((learner) => {
        const count = counts.get(learner.userId) ?? 0;
        return count >= shortHistory.min && count <= shortHistory.max;
      });
      if (!short.length) throw new Error(`no keyed ordinary learner has ${shortHistory.min}-${shortHistory.max} answers in the dataset`);
      return {
        requests: [varying('GET', () => ({ path: '/v1/me/answers?limit=50', headers: bearer(rng.pick(short).token) }))],
        check: (response) => checkItems(response, 1),
      };
    },
  },
  {
    name: 'history-page-heavy',
    description: 'GET /v1/me/answers?limit=50, heavy learners (3,000-5,000 answers)',
    writes: false,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('history-page-heavy'));
      const heavy = dataset.tokens.heavy;
      return {
        requests: [varying('GET', () => ({ path: '/v1/me/answers?limit=50', headers: bearer(rng.pick(heavy).token) }))],
        check: (response) => checkItems(response, 50),
      };
    },
  },
  {
    name: 'answer-post',
    description:
      `POST /v1/me/answers, ${answerPostLearners} learners in turn, one new answer each (fresh clientAnswerId, random flashcard), ` +
      `answeredAt a few seconds ago in time order per learner; ${answerPostLatePercent}% days late (1-10 days, still 201)`,
    minRatio: 0.15,
    postgres: { minRatio: 0.05 },
    writes: true,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf('answer-post'));
      const keyed = learnerTokens(dataset);
      // A fixed set of learners (every keyed learner when the dataset has fewer), each answering one card at a time.
      const tokens = rng.sample(keyed, Math.min(answerPostLearners, keyed.length));
      const lastAnsweredAt = tokens.map(() => 0);
      const cards = allFlashcardIds(dataset);
      let next = 0;
      return {
        requests: [
          varying('POST', () => {
            const learner = next++ % tokens.length;
            let answeredAt: number;
            if (rng.chance(answerPostLatePercent / 100)) {
              // Synced late (offline for days): the server accepts any past answeredAt and replays the card.
              answeredAt = Date.now() - rng.int(dayMs, 10 * dayMs);
            } else {
              answeredAt = Math.max(Date.now() - rng.int(1000, 5000), lastAnsweredAt[learner]! + 1);
              lastAnsweredAt[learner] = answeredAt;
            }
            return {
              path: '/v1/me/answers',
              headers: { ...json, ...bearer(tokens[learner]!) },
              body: JSON.stringify(newAnswer(rng, cards, answeredAt)),
            };
          }),
        ],
        check: (response) => expectStatus(response, 201),
      };
    },
  },
  answerBatch('answer-batch', batchSize, { perRequest: batchSize, name: 'answers', minPerSecond: 50_000 }, { minPerSecond: 20_000 }),
  // The PostgreSQL issue's batch: the largest the API takes.
  answerBatch('answer-batch-500', maxBatchAnswers, { perRequest: maxBatchAnswers, name: 'answers', minPerSecond: 20_000 }),
];

export const scenarioNames = scenarios.map((scenario) => scenario.name);

/** POST /v1/me/answers/batch with `size` new answers per request, each batch from a random keyed learner. */
function answerBatch(name: string, size: number, units: NonNullable<Scenario['units']>, postgres?: Scenario['postgres']): Scenario {
  return {
    name,
    description: `POST /v1/me/answers/batch, ${size} new answers per request`,
    units,
    ...(postgres ? { postgres } : {}),
    writes: true,
    async prepare({ dataset }) {
      const rng = new Rng(seedOf(name));
      const tokens = learnerTokens(dataset);
      const cards = allFlashcardIds(dataset);
      return {
        requests: [
          varying('POST', () => {
            const start = Date.now() - 5000;
            const answers = Array.from({ length: size }, (_, index) => newAnswer(rng, cards, start + index));
            return { path: '/v1/me/answers/batch', headers: { ...json, ...bearer(rng.pick(tokens)) }, body: JSON.stringify({ answers }) };
          }),
        ],
        check(response) {
          const problem = expectStatus(response, 200);
          if (problem) return problem;
          const results = parsed<{ results?: { status: string }[] }>(response)?.results ?? [];
          const created = results.filter((result) => result.status === 'created').length;
          return created === size ? null : `${created} of ${size} answers created: ${response.body.slice(0, 300)}`;
        },
      };
    },
  };
}
