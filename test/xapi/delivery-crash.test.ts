import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementIdOf } from '../../src/xapi/statement.js';
import { testBackend } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres-server.js';
import { createActors, deckOf, http, launchServer, newAnswer, serverEnv, useServerWorkspace, wire, type Actors, type RunningServer } from '../helpers/reliability.js';
import { startTestLrs, type TestLrs } from '../helpers/test-lrs.js';

/*
 * The real server process (`node dist/main.js`) killed with SIGKILL while a batch of statements is on its way to the
 * LRS, then started again on the same database (the project's engine): every acknowledged answer's statement reaches
 * the LRS, the batch in flight again once its lease runs out, and the outbox counts each answer delivered once.
 */

const workspace = useServerWorkspace('mnemo-xapi-crash-');
let lrs: TestLrs;
let database: TestDatabase | undefined;
let env: Record<string, string>;
let server: RunningServer;
let actors: Actors;
let deck: string[];

beforeAll(async () => {
  // Slow answers keep a batch in flight long enough to kill the server during it.
  lrs = await startTestLrs({ delayMs: 400 });
  database = testBackend === 'postgres' ? await createTestDatabase() : undefined;
  env = serverEnv(database ? { url: database.url } : `${workspace.path}/mnemo.db`, { LRS_ENDPOINT: lrs.endpoint, LRS_TIMEOUT_MS: '1000', LRS_BATCH_SIZE: '10' });
  server = await launchServer(env);
  actors = await createActors(server.baseUrl, env, 4);
  deck = await deckOf(server.baseUrl, 'networking');
}, 60_000);

afterAll(async () => {
  await lrs?.close();
  await database?.drop();
});

describe('xAPI delivery across kill -9', () => {
  it('delivers every acknowledged answer\'s statement after the server is killed mid-delivery and restarted', async () => {
    const ids: string[] = [];
    for (const learner of actors.learners) {
      const answers = Array.from({ length: 15 }, () => newAnswer(learner.userId, deck));
      const response = await http(server.baseUrl, 'POST', '/v1/me/answers/batch', { token: learner.token, body: { answers: answers.map(wire) } });
      expect(response.status).toBe(200);
      expect((response.body.results as { status: string }[]).every((result) => result.status === 'created')).toBe(true);
      ids.push(...answers.map((sent) => statementIdOf(learner.userId, sent.clientAnswerId)));
    }
    // A batch has reached the LRS, which is still answering it: the server dies with the batch in flight.
    await lrs.until(() => lrs.arrived() > lrs.requests.length);
    server.child.kill('SIGKILL');
    await server.closed;
    const storedAtKill = lrs.stored.size;
    expect(storedAtKill).toBeLessThan(ids.length);

    server = await launchServer(env);
    // The LRS may have stored the batch in flight after all (it answered a client that was gone): the outbox still
    // holds it until its lease runs out and the new process sends it again.
    const status = async () => (await http(server.baseUrl, 'GET', '/v1/admin/xapi/status', { token: actors.adminToken })).body;
    await expect.poll(async () => (await status()).pending, { timeout: 30_000, interval: 200 }).toBe(0);
    expect(ids.filter((id) => !lrs.stored.has(id))).toEqual([]);
    expect(lrs.stored.size).toBe(ids.length);
    const after = await status();
    expect(after).toMatchObject({ pending: 0, parked: 0 });
    // Each outbox row is counted once, when it is deleted; the batch in flight may reach the LRS twice (at least once).
    expect(after.delivered).toBe(ids.length);
    const redelivered = ids.filter((id) => (lrs.receipts.get(id) ?? 0) > 1).length;
    console.log(`[xapi crash] ${ids.length} statements: ${storedAtKill} at the LRS when killed, ${redelivered} sent again after the restart`);
  }, 60_000);
});
