import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementIdOf } from '../../src/xapi/statement.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres-server.js';
import { createActors, deckOf, http, killChildren, launchServer, newAnswer, serverEnv, wire, type Actors, type RunningServer } from '../helpers/reliability.js';
import { ensureBuilt } from '../helpers/server-process.js';
import { startTestLrs, type TestLrs } from '../helpers/test-lrs.js';

/*
 * Two real server processes on one PostgreSQL database, both pushing the outbox to one LRS: their claims skip each
 * other's rows (FOR UPDATE SKIP LOCKED) and hold them for a lease, so the statements of answers written through
 * both reach the LRS once each, nobody's twice. PostgreSQL only (vitest.config.ts): SQLite has one server process.
 */

let lrs: TestLrs;
let database: TestDatabase;
let a: RunningServer;
let b: RunningServer;
let actors: Actors;
let deck: string[];

beforeAll(async () => {
  ensureBuilt();
  // Each request takes a while, so both dispatchers have batches in flight at once.
  lrs = await startTestLrs({ delayMs: 50 });
  database = await createTestDatabase();
  const env = serverEnv({ url: database.url }, { LRS_ENDPOINT: lrs.endpoint, LRS_BATCH_SIZE: '5' });
  a = await launchServer(env);
  b = await launchServer(env);
  actors = await createActors(a.baseUrl, env, 8);
  deck = await deckOf(b.baseUrl, 'networking');
}, 60_000);

afterAll(async () => {
  killChildren();
  await lrs?.close();
  await database?.drop();
});

describe('xAPI delivery from two instances', () => {
  it('sends each statement once when both instances dispatch the same outbox', async () => {
    const ids: string[] = [];
    await Promise.all(
      actors.learners.map(async (learner, index) => {
        const server = index % 2 ? b : a;
        for (let round = 0; round < 5; round++) {
          const answers = Array.from({ length: 6 }, () => newAnswer(learner.userId, deck));
          const response = await http(server.baseUrl, 'POST', '/v1/me/answers/batch', { token: learner.token, body: { answers: answers.map(wire) } });
          expect(response.status).toBe(200);
          ids.push(...answers.map((sent) => statementIdOf(learner.userId, sent.clientAnswerId)));
        }
      }),
    );
    await lrs.until(() => ids.every((id) => lrs.stored.has(id)), 30_000);
    expect(lrs.stored.size).toBe(ids.length);
    const sentTwice = ids.filter((id) => lrs.receipts.get(id) !== 1);
    expect(sentTwice).toEqual([]);
    // The LRS has the last batch a moment before its dispatcher has deleted the batch's rows.
    const status = async () => (await http(b.baseUrl, 'GET', '/v1/admin/xapi/status', { token: actors.adminToken })).body;
    await expect.poll(async () => (await status()).pending, { timeout: 10_000, interval: 100 }).toBe(0);
    expect(await status()).toMatchObject({ pending: 0, parked: 0, delivered: ids.length });
    console.log(`[xapi instances] ${ids.length} statements in ${lrs.requests.length} requests, each sent once`);
  }, 60_000);
});
