import xapiClient from '@xapi/xapi';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { answeredVerb, statementIdOf } from '../../src/xapi/statement.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, bearer, createLearner, type Learner } from '../helpers/learners.js';
import { validateStatement } from '../helpers/xapi.js';

const homePage = 'https://lms.example.com';
const activityBase = 'https://mnemo.example.com/xapi';
const v = { 'x-experience-api-version': '1.0.3' };

let app: FastifyInstance;
let admin: { authorization: string };
let lmsA: { id: string; token: string; headers: { authorization: string } };
let lmsB: { id: string; token: string; headers: { authorization: string } };
let alice: Learner;
let bob: Learner;
let carol: Learner;
let deck: { id: string; key: string }[];
/** Alice's answers in the order sent: the first batch, then (after `between`) the second. */
let aliceFirst: ReturnType<typeof answer>[];
let aliceSecond: ReturnType<typeof answer>[];
let between: string;
/** The default homePage of lms-a's learners (lms-a sets none). */
let homeA: string;

// A CommonJS package: its class is the module's `default` (the class also names itself there, for either interop).
const XAPI = xapiClient.default;

const basic = (id: string, token: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${token}`).toString('base64')}` });

async function integration(name: string, extra: Record<string, unknown> = {}) {
  const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload: { role: 'integration', name, ...extra } });
  expect(response.statusCode).toBe(201);
  const { id, token } = response.json();
  return { id, token, headers: bearer(token) };
}

async function record(learner: Learner, items: ReturnType<typeof answer>[]) {
  const response = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: learner.headers, payload: { answers: items } });
  expect(response.json().results.every((result: { status: string }) => result.status === 'created')).toBe(true);
  return response.json().results.map((result: { answer: { receivedAt: string } }) => result.answer.receivedAt) as string[];
}

const get = (query: string, headers: Record<string, string>) => app.inject({ url: `/xapi/statements${query}`, headers: { ...v, ...headers } });

beforeAll(async () => {
  app = await buildTestApp({ seed: true, config: { xapi: { ...testConfig().xapi, accountHomePage: homePage, activityBase } } });
  admin = bearer((await app.auth.createKey({ role: 'admin', name: 'admin' }, null)).token);
  lmsA = await integration('lms-a');
  homeA = `${homePage}/integrations/${lmsA.id}`;
  lmsB = await integration('lms-b', { xapiHomePage: 'https://b.example.org/' });
  alice = await createLearner(app, lmsA.headers, 'alice');
  bob = await createLearner(app, lmsA.headers, 'bob');
  carol = await createLearner(app, lmsB.headers, 'carol');
  deck = (await app.content.getModuleContent('networking')).flashcards.map((card) => ({ id: card.id, key: card.key }));
  aliceFirst = Array.from({ length: 4 }, (_, index) => answer(deck[index % deck.length]!.id, { durationMs: 2000 }));
  aliceSecond = Array.from({ length: 3 }, (_, index) => answer(deck[0]!.id, { rating: index + 1, response: `take ${index}` }));
  const firstTimes = await record(alice, aliceFirst);
  between = firstTimes.sort().at(-1)!;
  await record(alice, aliceSecond);
  await record(bob, [answer(deck[1]!.id)]);
  await record(carol, [answer(deck[0]!.id)]);
});

afterAll(async () => {
  await app.close();
});

const idsOf = (learner: Learner, items: ReturnType<typeof answer>[]) => items.map((item) => statementIdOf(learner.userId, item.clientAnswerId));

describe('GET /xapi/statements', () => {
  it('serves valid statements, newest first, with the version and consistency headers', async () => {
    const response = await get('', lmsA.headers);
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-experience-api-version']).toBe('1.0.3');
    expect(Date.parse(response.headers['x-experience-api-consistent-through'] as string)).toBeLessThan(Date.now());
    const { statements, more } = response.json();
    expect(more).toBe('');
    expect(statements).toHaveLength(8);
    for (const statement of statements) expect(validateStatement(statement)).toEqual([]);
    const stored = statements.map((statement: { stored: string }) => statement.stored);
    expect(stored).toEqual([...stored].sort().reverse());
    const first = statements.find((statement: { id: string }) => statement.id === idsOf(alice, aliceFirst)[0]);
    expect(first).toMatchObject({
      actor: { objectType: 'Agent', account: { homePage: homeA, name: 'alice' } },
      verb: { id: answeredVerb },
      object: { id: `${activityBase}/modules/networking/flashcards/${encodeURIComponent(deck[0]!.key)}`, definition: { type: 'http://adlnet.gov/expapi/activities/cmi.interaction' } },
      result: { success: true, duration: 'PT2S' },
      context: { platform: 'mnemo', contextActivities: { parent: [{ id: `${activityBase}/modules/networking` }] } },
      timestamp: aliceFirst[0]!.answeredAt,
    });
  });

  it('keeps each tenant to its own learners: an integration, another integration, a learner, an admin', async () => {
    const ids = async (headers: Record<string, string>) => new Set((await get('', headers)).json().statements.map((statement: { id: string }) => statement.id));
    const aliceIds = [...idsOf(alice, aliceFirst), ...idsOf(alice, aliceSecond)];
    const seenByB = await ids(lmsB.headers);
    expect(seenByB.size).toBe(1);
    for (const id of aliceIds) expect(seenByB.has(id)).toBe(false);
    const seenByAlice = await ids(alice.headers);
    expect(seenByAlice).toEqual(new Set(aliceIds));
    expect((await ids(admin)).size).toBe(9);
    // Another tenant's learner named as the agent, or its statement asked for by id: nothing, as if it did not exist.
    const aliceAgent = encodeURIComponent(JSON.stringify({ account: { homePage: homeA, name: 'alice' } }));
    expect((await get(`?agent=${aliceAgent}`, lmsB.headers)).json().statements).toEqual([]);
    expect((await get(`?statementId=${aliceIds[0]}`, lmsB.headers)).statusCode).toBe(404);
    expect((await get(`?statementId=${aliceIds[0]}`, bob.headers)).statusCode).toBe(404);
    expect((await get(`?statementId=${aliceIds[0]}`, lmsA.headers)).json().id).toBe(aliceIds[0]);
  });

  it('only an integration key takes an xAPI homePage, an http(s) URL, shown with the key', async () => {
    const refuse = async (payload: Record<string, unknown>) => (await app.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload })).statusCode;
    expect(await refuse({ role: 'admin', name: 'x', xapiHomePage: 'https://a.example' })).toBe(400);
    for (const xapiHomePage of ['javascript:alert(1)', 'https://lms.example/\tx', 'https://lms.example/a b', 'https://lms.example/\n', 'https://user:pw@lms.example/']) {
      expect(await refuse({ role: 'integration', name: 'x', xapiHomePage }), xapiHomePage).toBe(400);
    }
    const keys = (await app.inject({ url: '/v1/keys', headers: admin })).json().items as { id: string; xapiHomePage?: string }[];
    expect(keys.find((key) => key.id === lmsB.id)?.xapiHomePage).toBe('https://b.example.org/');
    expect(keys.find((key) => key.id === lmsA.id)).not.toHaveProperty('xapiHomePage');
  });

  it('never makes two integrations\' learners one agent: each integration has its own default homePage', async () => {
    const lmsC = await integration('lms-c');
    const twin = await createLearner(app, lmsC.headers, 'alice');
    await record(twin, [answer(deck[0]!.id)]);
    const [statement] = (await get('', lmsC.headers)).json().statements;
    expect(statement.actor.account).toEqual({ homePage: `${homePage}/integrations/${lmsC.id}`, name: 'alice' });
    const agent = (home: string) => encodeURIComponent(JSON.stringify({ account: { homePage: home, name: 'alice' } }));
    expect((await get(`?agent=${agent(homeA)}`, admin)).json().statements).toHaveLength(7);
    expect((await get(`?agent=${agent(`${homePage}/integrations/${lmsC.id}`)}`, admin)).json().statements).toHaveLength(1);
    expect((await get(`?agent=${agent(homePage)}`, admin)).json().statements).toEqual([]);
    // A learner an admin created is known under the deployment's homePage itself.
    const own = await createLearner(app, admin, 'alice');
    await record(own, [answer(deck[0]!.id)]);
    const byAdmin = (await get(`?agent=${agent(homePage)}`, admin)).json().statements;
    expect(byAdmin.map((item: { actor: unknown }) => item.actor)).toEqual([{ objectType: 'Agent', account: { homePage, name: 'alice' } }]);
    await app.inject({ method: 'DELETE', url: `/v1/users/${twin.userId}`, headers: admin });
    await app.inject({ method: 'DELETE', url: `/v1/users/${own.userId}`, headers: admin });
  });

  it('names learners by their owner key\'s homePage when it set one', async () => {
    const [statement] = (await get('', lmsB.headers)).json().statements;
    expect(statement.actor.account).toEqual({ homePage: 'https://b.example.org/', name: 'carol' });
    const agent = encodeURIComponent(JSON.stringify(statement.actor));
    expect((await get(`?agent=${agent}`, lmsB.headers)).json().statements).toHaveLength(1);
    const wrongHome = encodeURIComponent(JSON.stringify({ account: { homePage, name: 'carol' } }));
    expect((await get(`?agent=${wrongHome}`, lmsB.headers)).json().statements).toEqual([]);
  });

  it('filters by agent, verb, activity (and its module with related_activities), since and until', async () => {
    const ids = async (query: string) => (await get(query, admin)).json().statements.map((statement: { id: string }) => statement.id).sort();
    const bobAgent = encodeURIComponent(JSON.stringify({ objectType: 'Agent', account: { homePage: homeA, name: 'bob' } }));
    expect(await ids(`?agent=${bobAgent}`)).toHaveLength(1);
    expect(await ids(`?agent=${encodeURIComponent(JSON.stringify({ mbox: 'mailto:alice@example.com' }))}`)).toEqual([]);
    expect(await ids(`?verb=${encodeURIComponent('http://adlnet.gov/expapi/verbs/experienced')}`)).toEqual([]);
    expect(await ids(`?verb=${encodeURIComponent(answeredVerb)}`)).toHaveLength(9);
    const card0 = encodeURIComponent(`${activityBase}/modules/networking/flashcards/${encodeURIComponent(deck[0]!.key)}`);
    const onCard0 = [aliceFirst, aliceSecond].flat().filter((item) => item.flashcardId === deck[0]!.id).length + 1; // carol's too
    expect(await ids(`?activity=${card0}`)).toHaveLength(onCard0);
    const moduleIri = encodeURIComponent(`${activityBase}/modules/networking`);
    expect(await ids(`?activity=${moduleIri}`)).toEqual([]);
    expect(await ids(`?activity=${moduleIri}&related_activities=true`)).toHaveLength(9);
    const since = encodeURIComponent(between);
    const aliceAgent = encodeURIComponent(JSON.stringify({ account: { homePage: homeA, name: 'alice' } }));
    expect(await ids(`?agent=${aliceAgent}&since=${since}`)).toEqual(idsOf(alice, aliceSecond).sort());
    expect(await ids(`?agent=${aliceAgent}&until=${since}`)).toEqual(idsOf(alice, aliceFirst).sort());
  });

  it('pages with limit and more, in either order, and a more link carries the filters', async () => {
    const aliceAgent = encodeURIComponent(JSON.stringify({ account: { homePage: homeA, name: 'alice' } }));
    for (const ascending of [true, false]) {
      const seen: string[] = [];
      let next = `?agent=${aliceAgent}&limit=3&ascending=${ascending}`;
      for (let page = 0; page < 10 && next; page++) {
        const response = await get(next, lmsA.headers);
        expect(response.statusCode).toBe(200);
        const body = response.json();
        expect(body.statements.length).toBeLessThanOrEqual(3);
        seen.push(...body.statements.map((statement: { stored: string; id: string }) => statement.id));
        next = body.more ? body.more.replace('/xapi/statements', '') : '';
      }
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set([...idsOf(alice, aliceFirst), ...idsOf(alice, aliceSecond)]));
    }
  });

  it('a more link keeps the format it was asked with: every page of format=ids is trimmed', async () => {
    const aliceAgent = encodeURIComponent(JSON.stringify({ account: { homePage: homeA, name: 'alice' } }));
    let next = `?agent=${aliceAgent}&limit=3&format=ids`;
    let pages = 0;
    while (next) {
      const body = (await get(next, lmsA.headers)).json();
      for (const statement of body.statements) expect(statement.verb).toEqual({ id: answeredVerb });
      next = body.more ? body.more.replace('/xapi/statements', '') : '';
      pages++;
    }
    expect(pages).toBe(3);
  });

  it('a real xAPI client pages through it with Basic auth (key id and token)', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const client = new XAPI({ endpoint: `${address}/xapi/`, auth: XAPI.toBasicAuth(lmsA.id, lmsA.token) });
    const seen: string[] = [];
    let response = await client.getStatements({ limit: 2 });
    seen.push(...response.data.statements.map((statement) => statement.id!));
    while (response.data.more) {
      response = (await client.getMoreStatements({ more: response.data.more })) as typeof response;
      seen.push(...response.data.statements.map((statement) => statement.id!));
    }
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
    const one = await client.getStatement({ statementId: seen[0]! });
    expect(one.data.id).toBe(seen[0]);
  });

  it('finds a statement by id past the first 200 learners in scope, for the owner only', async () => {
    // 201 learners of lms-a whose externalIds sort before "alice": her answers are in the lookup's second read.
    for (let index = 0; index <= 200; index++) {
      const created = await app.inject({ method: 'POST', url: '/v1/users', headers: lmsA.headers, payload: { externalId: `a-${String(index).padStart(3, '0')}` } });
      expect(created.statusCode).toBe(201);
    }
    const id = idsOf(alice, aliceSecond)[2]!;
    expect((await get(`?statementId=${id}`, lmsA.headers)).json().id).toBe(id);
    expect((await get(`?statementId=${id.toUpperCase()}`, admin)).json().id).toBe(id);
    expect((await get(`?statementId=${id}`, lmsB.headers)).statusCode).toBe(404);
  });

  it('statementId returns the one statement; format=ids trims it; attachments=true is multipart', async () => {
    const id = idsOf(alice, aliceFirst)[0]!;
    const exact = (await get(`?statementId=${id}`, alice.headers)).json();
    expect(exact.id).toBe(id);
    const ids = (await get(`?statementId=${id}&format=ids`, alice.headers)).json();
    expect(ids.verb).toEqual({ id: answeredVerb });
    expect(ids.object).toEqual({ objectType: 'Activity', id: exact.object.id });
    const multipart = await get(`?statementId=${id}&attachments=true`, alice.headers);
    expect(multipart.headers['content-type']).toMatch(/^multipart\/mixed; boundary=/);
    expect(multipart.body).toContain(`"id":"${id}"`);
  });

  it('answers wrong requests with the status codes the spec gives', async () => {
    expect((await app.inject({ url: '/xapi/statements', headers: lmsA.headers })).statusCode).toBe(400);
    expect((await app.inject({ url: '/xapi/statements', headers: { ...lmsA.headers, 'x-experience-api-version': '0.95' } })).statusCode).toBe(400);
    const id = idsOf(alice, aliceFirst)[0]!;
    expect((await get(`?statementId=${id}&verb=${encodeURIComponent(answeredVerb)}`, lmsA.headers)).statusCode).toBe(400);
    expect((await get(`?voidedStatementId=${id}`, lmsA.headers)).statusCode).toBe(404);
    expect((await get('?statementId=not-a-uuid', lmsA.headers)).statusCode).toBe(400);
    expect((await get('?unknownParameter=1', lmsA.headers)).statusCode).toBe(400);
    expect((await get('?agent=%7Bnot-json', lmsA.headers)).statusCode).toBe(400);
    expect((await get(`?agent=${encodeURIComponent('{"name":"no identifier"}')}`, lmsA.headers)).statusCode).toBe(400);
    expect((await get('?since=yesterday', lmsA.headers)).statusCode).toBe(400);
    expect((await get('?more=garbage', lmsA.headers)).statusCode).toBe(400);
    const noAuth = await get('', {});
    expect(noAuth.statusCode).toBe(401);
    expect(noAuth.headers['www-authenticate']).toMatch(/^Basic/);
    expect(noAuth.headers['x-experience-api-version']).toBe('1.0.3');
    expect((await app.inject({ url: '/xapi/about' })).json()).toEqual({ version: ['1.0.3', '2.0.0'] });
  });

  it('Basic auth needs the key id that owns the token, and is refused outside /xapi', async () => {
    expect((await get('', basic(lmsA.id, lmsA.token))).statusCode).toBe(200);
    expect((await get('', basic(lmsB.id, lmsA.token))).statusCode).toBe(401);
    expect((await get('', basic(lmsA.id, 'mnemo_not-a-real-token'))).statusCode).toBe(401);
    expect((await get('', { authorization: 'Basic !!!' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/users', headers: basic(lmsA.id, lmsA.token) })).statusCode).toBe(401);
  });
});
