import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { buildTestApp, settleCommits, testBackend } from '../helpers/app.js';
import { gql } from '../helpers/graphql.js';
import { answer, bearer, createLearner, type Learner } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

const wholeModules = `{
  modules(first: 50) {
    nodes {
      slug
      takeaways { id title }
      flashcards { id question }
      cheatSheet { columns rows { cells } }
      revisionItems { id term }
    }
  }
}`;

let app: FastifyInstance | undefined;
afterEach(() => app?.close());

/** Statements one request runs, counted by Drizzle's logger and, independently, at the driver (better-sqlite3). */
interface Counted {
  drizzle: number;
  driver: number;
}

async function counting<T>(app: FastifyInstance, run: () => Promise<T>): Promise<Counted & { result: T }> {
  const before = { ...app.store.stats };
  const result = await run();
  const after = app.store.stats;
  return { drizzle: after.statements - before.statements, driver: after.driverStatements - before.driverStatements, result };
}

async function statementsFor(moduleCount: number): Promise<Counted & { modules: number }> {
  // Fifty whole modules cost more than the default budget allows at the sections' maximum sizes.
  const base = testConfig();
  app = await buildTestApp({ config: { graphql: { ...base.graphql, maxCost: 1_000_000 } } });
  for (let index = 0; index < moduleCount; index++) {
    await app.content.importModule(JSON.stringify(generatedModule(`module-${String(index).padStart(3, '0')}`, 3)), 'json');
  }
  const { result, ...counted } = await counting(app, () => gql(app!, wholeModules));
  expect(result.errors).toBeUndefined();
  const nodes = result.data!.modules.nodes as { flashcards: { question: string }[]; slug: string }[];
  for (const node of nodes) expect(node.flashcards).toHaveLength(3);
  await app.close();
  app = undefined;
  return { ...counted, modules: nodes.length };
}

/**
 * A learner whose every card of a `cardCount`-card module was answered Again a day ago: each card has a state and
 * is due now, so `myState` is set on all of them and the study queue lists them all (no other module, so no new
 * cards).
 */
async function learnerWithCards(cardCount: number): Promise<{ app: FastifyInstance; learner: Learner }> {
  const built = await buildTestApp();
  app = built;
  await built.content.importModule(JSON.stringify(generatedModule('loader-deck', cardCount)), 'json');
  const admin = bearer((await built.auth.createKey({ role: 'admin', name: 'admin' }, null)).token);
  const integration = await built.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload: { role: 'integration', name: 'lms' } });
  const learner = await createLearner(built, bearer(integration.json().token), `loader-learner-${cardCount}`);
  const yesterday = new Date(Date.now() - 86_400_000).toISOString();
  const cards = (await built.content.getModuleContent('loader-deck')).flashcards.map((card) => card.id);
  const batch = await built.inject({
    method: 'POST',
    url: '/v1/me/answers/batch',
    headers: learner.headers,
    payload: { answers: cards.map((id) => answer(id, { rating: 1, answeredAt: yesterday })) },
  });
  expect(batch.statusCode).toBe(200);
  return { app: built, learner };
}

async function learnerQuery(cardCount: number, query: string): Promise<Counted & { data: Record<string, any> }> {
  const { app: built, learner } = await learnerWithCards(cardCount);
  const { result: response, ...counted } = await counting(built, () => built.inject({ method: 'POST', url: '/graphql', headers: learner.headers, payload: { query } }));
  const body = response.json() as { data: Record<string, any>; errors?: unknown };
  expect(body.errors, response.body).toBeUndefined();
  await built.close();
  app = undefined;
  return { ...counted, data: body.data };
}

describe('GraphQL loaders batch section reads', () => {
  // Imports or answers hundreds of times: on PostgreSQL each is a few network round trips, slow on a loaded 2-core CI.
  it('runs the same small number of SQL statements for 2, 10 and 50 modules', { timeout: 60_000 }, async () => {
    const small = await statementsFor(2);
    const medium = await statementsFor(10);
    const large = await statementsFor(50);
    expect([small.modules, medium.modules, large.modules]).toEqual([2, 10, 50]);
    // The content stamp (response cache), one page query and one query per section (four).
    expect(small.drizzle).toBe(6);
    expect([medium.drizzle, large.drizzle]).toEqual([small.drizzle, small.drizzle]);
    // The driver sees every statement, Drizzle's or not (raw SQL, lookups outside Drizzle).
    expect(small.driver).toBeGreaterThanOrEqual(small.drizzle);
    expect([medium.driver, large.driver]).toEqual([small.driver, small.driver]);
    console.log(`modules: ${small.drizzle} Drizzle / ${small.driver} driver statements for 2, 10 and 50 whole modules`);
  });

  it('answers a repeated module(slug) query from cache with no query: only the check for other connections\' commits', async () => {
    app = await buildTestApp({ seed: true });
    // On PostgreSQL, the seed import's commit notifications are heard first (they would drop what the first query caches).
    await settleCommits(app);
    const query = '{ module(slug: "networking") { takeaways { id } flashcards { id } cheatSheet { columns } revisionItems { id } } }';
    await gql(app, query);
    const counted = await counting(app, () => gql(app!, query));
    // The content stamp that tells the cached answer is current is itself kept until a commit: what remains is
    // `PRAGMA data_version` at the driver on SQLite. PostgreSQL hears of commits as notifications on the listener's
    // connection (not counted, not a statement), so there nothing at all is sent.
    expect([counted.drizzle, counted.driver]).toEqual(testBackend === 'sqlite' ? [0, 1] : [0, 0]);
  });
});

describe('statement counters', () => {
  it('count at the driver what Drizzle never logs (raw SQL, exec) and Drizzle queries at both', async () => {
    app = await buildTestApp();
    const { store } = app;
    const raw = await counting(app, async () => {
      if (store.engine === 'sqlite') {
        store.sqlite.sqlite.prepare('SELECT 1 AS one').get();
        store.sqlite.sqlite.prepare('SELECT 1 AS one').raw().all();
        store.sqlite.sqlite.exec('SELECT 1');
      } else {
        await store.postgres.pool.query('SELECT 1 AS one');
        await store.postgres.pool.query({ text: 'SELECT 1 AS one', rowMode: 'array' });
        const client = await store.postgres.pool.connect();
        try {
          await client.query('SELECT 1');
          // Transaction control is not a statement the counters count.
          await client.query('BEGIN');
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      }
    });
    expect([raw.drizzle, raw.driver]).toEqual([0, 3]);
    const viaDrizzle = await counting(app, async () => {
      if (store.engine === 'sqlite') {
        store.db.all(sql`SELECT 1 AS one`);
        store.db.get(sql`SELECT 2 AS two`);
      } else {
        await store.db.execute(sql`SELECT 1 AS one`);
        await store.db.execute(sql`SELECT 2 AS two`);
      }
    });
    expect([viaDrizzle.drizzle, viaDrizzle.driver]).toEqual([2, 2]);
  });
});

describe('GraphQL loaders batch learner reads', () => {
  it("reads a module's card states (Flashcard.myState) with as many statements for 40 cards as for 2", async () => {
    const query = '{ module(slug: "loader-deck") { flashcards { myState { reps } } } }';
    const small = await learnerQuery(2, query);
    const large = await learnerQuery(40, query);
    for (const [result, cards] of [[small, 2], [large, 40]] as const) {
      expect(result.data.module.flashcards).toHaveLength(cards);
      expect(result.data.module.flashcards.every((card: { myState: { reps: number } | null }) => card.myState?.reps === 1)).toBe(true);
    }
    expect(large.drizzle).toBe(small.drizzle);
    expect(large.driver).toBe(small.driver);
    expect(small.driver).toBeLessThanOrEqual(12);
    console.log(`myState: ${small.drizzle} Drizzle / ${small.driver} driver statements for 2 cards, ${large.drizzle} / ${large.driver} for 40`);
  });

  it('builds the study queue (me.study with flashcards, modules and states) with as many statements for 40 items as for 2', async () => {
    const query = '{ me { study(limit: 50) { flashcard { id module { slug } } state { reps } } } }';
    const small = await learnerQuery(2, query);
    const large = await learnerQuery(40, query);
    for (const [result, items] of [[small, 2], [large, 40]] as const) {
      expect(result.data.me.study).toHaveLength(items);
      for (const item of result.data.me.study) expect(item).toMatchObject({ flashcard: { module: { slug: 'loader-deck' } }, state: { reps: 1 } });
    }
    expect(large.drizzle).toBe(small.drizzle);
    expect(large.driver).toBe(small.driver);
    expect(small.driver).toBeLessThanOrEqual(12);
    console.log(`me.study: ${small.drizzle} Drizzle / ${small.driver} driver statements for 2 items, ${large.drizzle} / ${large.driver} for 40`);
  });
});
