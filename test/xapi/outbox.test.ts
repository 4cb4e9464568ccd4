import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { statementIdOf } from '../../src/xapi/statement.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors, createLearner, type Actors } from '../helpers/learners.js';
import { startTestLrs, type TestLrs, type TestLrsOptions } from '../helpers/test-lrs.js';
import { validateStatement } from '../helpers/xapi.js';

let app: FastifyInstance | undefined;
let lrs: TestLrs | undefined;

afterEach(async () => {
  await app?.close();
  await lrs?.close();
  app = undefined;
  lrs = undefined;
});

async function setUp(lrsOptions: TestLrsOptions = {}, lrsConfig: { batchSize?: number } = {}): Promise<{ app: FastifyInstance; lrs: TestLrs; actors: Actors }> {
  lrs = await startTestLrs({ username: 'mnemo', password: 's3cret', ...lrsOptions });
  const defaults = testConfig().xapi;
  app = await buildTestApp({
    seed: true,
    config: {
      xapi: {
        ...defaults,
        accountHomePage: 'https://lms.example.com',
        activityBase: 'https://mnemo.example.com/xapi',
        lrs: { endpoint: lrs.endpoint, username: 'mnemo', password: 's3cret', version: '1.0.3', batchSize: lrsConfig.batchSize ?? 50, timeoutMs: 2000 },
      },
    },
  });
  return { app, lrs, actors: await createActors(app) };
}

/** The dispatcher writes what became of a batch a moment after the LRS answers (and polls once a second). */
const settled = { timeout: 10_000, interval: 50 };

const status = async (server: FastifyInstance, admin: Actors['admin']) => (await server.inject({ url: '/v1/admin/xapi/status', headers: admin })).json();

describe('the xAPI outbox', () => {
  it('delivers every answer\'s statement once, through failures, with the version header and Basic auth', async () => {
    const { app, lrs, actors } = await setUp({ failFirst: 2 });
    const sent = Array.from({ length: 30 }, (_, index) => answer(actors.deck[index % actors.deck.length]!, { durationMs: 1500 + index }));
    const batch = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: sent } });
    expect(batch.statusCode).toBe(200);
    const ids = sent.map((item) => statementIdOf(actors.learner.userId, item.clientAnswerId));
    await lrs.until(() => ids.every((id) => lrs.stored.has(id)));
    expect(lrs.requests.slice(0, 2).map((request) => request.status)).toEqual([503, 503]);
    expect(lrs.requests.every((request) => request.version === '1.0.3')).toBe(true);
    expect(lrs.stored.size).toBe(30);
    for (const statement of lrs.stored.values()) expect(validateStatement(statement)).toEqual([]);
    const first = lrs.stored.get(ids[0]!) as unknown as { actor: unknown; object: { id: string }; result: { duration: string } };
    const integrationKey = (await app.inject({ url: '/v1/keys', headers: actors.admin })).json().items.find((key: { role: string }) => key.role === 'integration');
    expect(first.actor).toEqual({ objectType: 'Agent', account: { homePage: `https://lms.example.com/integrations/${integrationKey.id}`, name: actors.learner.externalId } });
    expect(first.object.id).toMatch(/^https:\/\/mnemo\.example\.com\/xapi\/modules\/networking\/flashcards\/.+/);
    expect(first.result.duration).toBe('PT1.5S');
    await expect.poll(async () => (await status(app, actors.admin)).pending, settled).toBe(0);
    const after = await status(app, actors.admin);
    expect(after).toMatchObject({ lrsConfigured: true, pending: 0, delivered: 30, parked: 0, oldestPendingAgeSeconds: null });
    expect(after.lastError.message).toMatch(/503/);
  });

  it('re-sends a batch refused with 409 one statement at a time, and counts a known id as delivered', async () => {
    const { app, lrs, actors } = await setUp({ batchConflicts: true }, { batchSize: 10 });
    const first = answer(actors.deck[0]!);
    expect((await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: first })).statusCode).toBe(201);
    const firstId = statementIdOf(actors.learner.userId, first.clientAnswerId);
    await lrs.until(() => lrs.stored.has(firstId));
    await expect.poll(async () => (await status(app, actors.admin)).pending, settled).toBe(0);
    // The same answer queued again (a backfill) beside new ones: the LRS refuses the batch for the known id.
    expect(await app.services.xapi.backfill(undefined)).toEqual({ queued: 1 });
    const more = Array.from({ length: 3 }, (_, index) => answer(actors.deck[(index + 1) % actors.deck.length]!));
    await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: more } });
    const ids = more.map((item) => statementIdOf(actors.learner.userId, item.clientAnswerId));
    const knownIdPut = () => lrs.requests.some((request) => request.status === 409 && request.method === 'PUT');
    await lrs.until(() => ids.every((id) => lrs.stored.has(id)) && knownIdPut());
    expect(lrs.requests.some((request) => request.status === 409 && request.method === 'POST')).toBe(true);
    expect(lrs.requests.some((request) => request.status === 409 && request.method === 'PUT')).toBe(true);
    expect(lrs.stored.size).toBe(4);
    await expect.poll(async () => (await status(app, actors.admin)).pending, settled).toBe(0);
    expect((await status(app, actors.admin)).parked).toBe(0);
  });

  it('parks the statement the LRS refuses without holding up the rest, and re-queues it on request', async () => {
    const { app, lrs, actors } = await setUp({ rejectResponse: 'refuse me' });
    const good = Array.from({ length: 5 }, (_, index) => answer(actors.deck[index % actors.deck.length]!));
    const bad = answer(actors.deck[0]!, { response: 'refuse me' });
    const recorded = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: [...good.slice(0, 2), bad, ...good.slice(2)] } });
    expect(recorded.json().results.map((result: { status: string }) => result.status)).toEqual(Array(6).fill('created'));
    const goodIds = good.map((item) => statementIdOf(actors.learner.userId, item.clientAnswerId));
    const badId = statementIdOf(actors.learner.userId, bad.clientAnswerId);
    await lrs.until(() => goodIds.every((id) => lrs.stored.has(id)));
    await expect.poll(async () => (await status(app, actors.admin)).parked, settled).toBe(1);
    const parked = await status(app, actors.admin);
    expect(parked.parkedStatements).toEqual([{ statementId: badId, reason: expect.stringMatching(/refused the statement \(400\)/), parkedAt: expect.any(String) }]);
    expect(parked.pending).toBe(0);
    expect(lrs.stored.has(badId)).toBe(false);

    lrs.acceptAll();
    const retry = await app.inject({ method: 'POST', url: '/v1/admin/xapi/parked/retry', headers: actors.admin });
    expect(retry.json()).toEqual({ requeued: 1 });
    await lrs.until(() => lrs.stored.has(badId));
    await expect.poll(async () => (await status(app, actors.admin)).parked, settled).toBe(0);
  });

  it('parks a statement too large for the LRS (413) and delivers everyone else\'s, batch after batch', async () => {
    const { app, lrs, actors } = await setUp({ maxBodyBytes: 16 * 1024 });
    const other = await createLearner(app, actors.integration, 'other-learner');
    // 30 KB of UTF-8 in one answer's response, within the API's 10,000 characters.
    const huge = answer(actors.deck[0]!, { response: '€'.repeat(10_000) });
    expect((await app.inject({ method: 'POST', url: '/v1/me/answers', headers: other.headers, payload: huge })).statusCode).toBe(201);
    const rest = Array.from({ length: 5 }, (_, index) => answer(actors.deck[index % actors.deck.length]!));
    await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: rest } });
    const ids = rest.map((item) => statementIdOf(actors.learner.userId, item.clientAnswerId));
    await lrs.until(() => ids.every((id) => lrs.stored.has(id)));
    await expect.poll(async () => (await status(app, actors.admin)).parked, settled).toBe(1);
    const after = await status(app, actors.admin);
    expect(after.parkedStatements).toEqual([{ statementId: statementIdOf(other.userId, huge.clientAnswerId), reason: expect.stringMatching(/\(413\)/), parkedAt: expect.any(String) }]);
    await expect.poll(async () => (await status(app, actors.admin)).pending, settled).toBe(0);
  });

  it('erasing a learner removes their pending statements; other learners\' stay', async () => {
    // The LRS is down for the whole test: nothing leaves the outbox.
    const { app, actors } = await setUp({ failFirst: 1_000_000 });
    const other = await createLearner(app, actors.integration, 'other-learner');
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: other.headers, payload: answer(actors.deck[0]!) });
    expect(await countRows(app, 'xapi_outbox')).toBe(2);
    expect((await app.inject({ method: 'DELETE', url: `/v1/users/${actors.learner.userId}`, headers: actors.integration })).statusCode).toBe(204);
    expect(await countRows(app, 'xapi_outbox')).toBe(1);
    expect(await countRows(app, 'xapi_outbox o JOIN answers a ON a.id = o.answer_id', 'a.user_id = ?', other.userId)).toBe(1);
  });

  it('only admins read the status or re-queue', async () => {
    const { app, actors } = await setUp();
    for (const headers of [actors.integration, actors.learner.headers]) {
      expect((await app.inject({ url: '/v1/admin/xapi/status', headers })).statusCode).toBe(403);
      expect((await app.inject({ method: 'POST', url: '/v1/admin/xapi/parked/retry', headers })).statusCode).toBe(403);
    }
    expect((await app.inject({ url: '/v1/admin/xapi/status' })).statusCode).toBe(401);
  });
});

describe('without an LRS', () => {
  it('queues nothing, and the status says no LRS is configured', async () => {
    app = await buildTestApp({ seed: true });
    const actors = await createActors(app);
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    expect(await countRows(app, 'xapi_outbox')).toBe(0);
    expect(await status(app, actors.admin)).toMatchObject({ lrsConfigured: false, pending: 0, delivered: 0, parked: 0, lastError: null });
  });
});
