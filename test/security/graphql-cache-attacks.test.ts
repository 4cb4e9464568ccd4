import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, settleCommits } from '../helpers/app.js';
import { answer, bearer, createLearner, type Learner } from '../helpers/learners.js';

/**
 * The GraphQL response cache attacked as a second tenant would. Integration X and its learner are the victims;
 * integration Y and its learner attack. Every response the attacker receives is scanned for anything of X's.
 */

interface World {
  app: FastifyInstance;
  x: { integration: { authorization: string }; learner: Learner; secret: string };
  y: { integration: { authorization: string }; learner: Learner; secret: string };
  deck: string[];
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function world(config: { contentRequiresAuth?: boolean } = {}): Promise<World> {
  app = await buildTestApp({ seed: true, config });
  const admin = bearer((await app.auth.createKey({ role: 'admin', name: 'admin' }, null)).token);
  const tenant = async (name: string) => {
    const created = await app!.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload: { role: 'integration', name } });
    const integration = bearer(created.json().token);
    const learner = await createLearner(app!, integration, `${name}-learner-${randomUUID()}`);
    return { integration, learner, secret: `${name}-secret-${randomUUID()}` };
  };
  const x = await tenant('x');
  const y = await tenant('y');
  const deck = (await app.content.getModuleContent('networking')).flashcards.map((card) => card.id);
  for (const side of [x, y]) {
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/me/answers',
      headers: side.learner.headers,
      payload: answer(deck[0]!, { response: side.secret, answeredAt: new Date(Date.now() - 3 * 86_400_000).toISOString() }),
    });
    expect(posted.statusCode).toBe(201);
  }
  // On PostgreSQL, the setup's commit notifications are heard now, not in the middle of a statement count.
  await settleCommits(app);
  return { app, x, y, deck };
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const persisted = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

interface Body {
  query?: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  extensions?: Record<string, unknown>;
}

async function post(app: FastifyInstance, body: Body, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'POST', url: '/graphql', headers, payload: body });
  return { status: response.statusCode, text: response.body, json: response.json() };
}

async function get(app: FastifyInstance, body: Body, headers: Record<string, string> = {}) {
  const query: Record<string, string> = {};
  if (body.query !== undefined) query.query = body.query;
  if (body.operationName !== undefined) query.operationName = body.operationName;
  if (body.variables !== undefined) query.variables = JSON.stringify(body.variables);
  if (body.extensions !== undefined) query.extensions = JSON.stringify(body.extensions);
  const response = await app.inject({ method: 'GET', url: '/graphql', headers, query });
  return { status: response.statusCode, text: response.body, json: response.json() };
}

/** Nothing identifying the victim may appear in what the attacker receives. */
function expectNothingOf(victim: World['x'], text: string) {
  expect(text).not.toContain(victim.secret);
  expect(text).not.toContain(victim.learner.externalId);
  expect(text).not.toContain(victim.learner.userId);
}

const meQuery = 'query Me { me { id externalId answers(first: 5) { nodes { response } } } }';

describe.each([
  ['POST', post],
  ['GET', get],
] as const)('GraphQL response cache under attack over %s', (_method, send) => {
  it('a persisted-query hash registered with another text never makes a victim answer reachable (the reported attack)', async () => {
    const { app, x, y } = await world();
    const hash = sha256(meQuery);
    // 1. The victim registers its query, as any APQ client does.
    const registered = await send(app, { query: meQuery, operationName: 'Me', extensions: persisted(hash) }, x.learner.headers);
    expect(registered.json.data.me.externalId).toBe(x.learner.externalId);
    // 2. The attacker sends a trap text under the victim's hash.
    const trap = 'query Me { __typename } # trap';
    const mismatch = await send(app, { query: trap, operationName: 'Me', extensions: persisted(hash) }, y.learner.headers);
    expect(mismatch.json.errors[0].extensions.code).toBe('MNEMO_GRAPHQL_BAD_REQUEST');
    // 3. The victim keeps using its hash.
    for (let i = 0; i < 3; i++) {
      const again = await send(app, { operationName: 'Me', extensions: persisted(hash) }, x.learner.headers);
      expect(again.json.data.me.externalId).toBe(x.learner.externalId);
    }
    // 4. The attacker asks for the trap text, and for the hash alone.
    const stolen = await send(app, { query: trap, operationName: 'Me' }, y.learner.headers);
    expectNothingOf(x, stolen.text);
    expect(stolen.json).toEqual({ data: { __typename: 'Query' } });
    const byHash = await send(app, { operationName: 'Me', extensions: persisted(hash) }, y.learner.headers);
    expectNothingOf(x, byHash.text);
    expect(byHash.json.data.me.externalId).toBe(y.learner.externalId);
  });

  it('an attacker registering the trap first, before the victim, gains nothing either', async () => {
    const { app, x, y } = await world();
    const hash = sha256(meQuery);
    const trap = 'query Me { __typename }';
    await send(app, { query: trap, operationName: 'Me', extensions: persisted(hash) }, y.learner.headers);
    await send(app, { query: meQuery, operationName: 'Me', extensions: persisted(hash) }, x.learner.headers);
    await send(app, { operationName: 'Me', extensions: persisted(hash) }, x.learner.headers);
    expectNothingOf(x, (await send(app, { query: trap, operationName: 'Me' }, y.learner.headers)).text);
    expectNothingOf(x, (await send(app, { query: trap }, y.learner.headers)).text);
    expectNothingOf(x, (await send(app, { query: trap, operationName: 'Me' })).text);
  });

  it('a content-only text cached under a hash never answers a different document', async () => {
    const { app, x, y } = await world();
    const content = 'query Me { module(slug: "networking") { slug } }';
    // The attacker claims the content query's text belongs to the hash of the victim's query.
    await send(app, { query: content, operationName: 'Me', extensions: persisted(sha256(meQuery)) }, y.learner.headers);
    await send(app, { query: meQuery, operationName: 'Me', extensions: persisted(sha256(meQuery)) }, x.learner.headers);
    await send(app, { operationName: 'Me', extensions: persisted(sha256(meQuery)) }, x.learner.headers);
    const answerToContent = await send(app, { query: content, operationName: 'Me' }, y.learner.headers);
    expect(answerToContent.json).toEqual({ data: { module: { slug: 'networking' } } });
    // And the hash alone never answers with the content text.
    const byHash = await send(app, { operationName: 'Me', extensions: persisted(sha256(meQuery)) }, y.learner.headers);
    expect(byHash.json.data.me.externalId).toBe(y.learner.externalId);
  });

  it('operationName games: a document of several operations is refused, so no name can pick a cached answer of another', async () => {
    const { app, x, y } = await world();
    const document = 'query Content { module(slug: "networking") { slug } } query Me { me { externalId answers(first: 5) { nodes { response } } } }';
    for (const operationName of ['Content', 'Me']) {
      const victim = await send(app, { query: document, operationName }, x.learner.headers);
      expect(victim.status).toBe(400);
      expect(victim.json.errors[0].extensions.code).toBe('MNEMO_GRAPHQL_VALIDATION');
    }
    // One operation, named: the name must be its own; any other is refused before anything runs.
    const single = 'query Me { me { externalId answers(first: 5) { nodes { response } } } }';
    expect((await send(app, { query: single, operationName: 'Me' }, x.learner.headers)).json.data.me.externalId).toBe(x.learner.externalId);
    for (const operationName of ['Me', 'Content', 'Other']) {
      const attack = await send(app, { query: single, operationName }, y.learner.headers);
      expectNothingOf(x, attack.text);
    }
    expect((await send(app, { query: single, operationName: 'Me' }, y.learner.headers)).json.data.me.externalId).toBe(y.learner.externalId);
  });

  it('variables: an integration asking for another tenant\'s learner by id gets null, cached or not', async () => {
    const { app, x, y } = await world();
    const query = 'query U($id: ID!) { user(id: $id) { id externalId answers(first: 5) { nodes { response } } } }';
    for (let i = 0; i < 3; i++) {
      const own = await send(app, { query, variables: { id: x.learner.userId } }, x.integration);
      expect(own.json.data.user.externalId).toBe(x.learner.externalId);
    }
    const attack = await send(app, { query, variables: { id: x.learner.userId } }, y.integration);
    expect(attack.json.data.user).toBeNull();
    expect(attack.text).not.toContain(x.secret);
    expect(attack.text).not.toContain(x.learner.externalId);
  });

  it('aliases and fragments over every learner-dependent field answer each caller with its own data', async () => {
    const { app, x, y, deck } = await world();
    const documents = [
      '{ a: me { externalId } b: me { answers(first: 5) { nodes { response } } } }',
      'fragment L on Learner { id externalId answers(first: 5) { nodes { response } } } { me { ...L } }',
      '{ me { ... on Learner { externalId progress { moduleSlug answers } } } }',
      '{ me { externalId study(limit: 5) { reason flashcard { id myState { reps } } state { reps } } } }',
      '{ me { externalId cards(first: 5) { nodes { flashcardId reps } } } }',
      'fragment S on Flashcard { id myState { reps lastAnsweredAt } } { module(slug: "networking") { flashcards { ...S } } }',
      '{ module(slug: "networking") { flashcards { ... on Flashcard { id state: myState { reps } } } } }',
      `{ flashcard(id: "${deck[0]}") { id myState { reps lastAnsweredAt } } }`,
    ];
    for (const query of documents) {
      const victim = await send(app, { query }, x.learner.headers);
      expect(victim.json.errors, query).toBeUndefined();
      await send(app, { query }, x.learner.headers);
      const attacker = await send(app, { query }, y.learner.headers);
      expect(attacker.json.errors, query).toBeUndefined();
      expectNothingOf(x, attacker.text);
      const anonymous = await send(app, { query });
      expectNothingOf(x, anonymous.text);
    }
  });

  it('a learner\'s myState is never served to another learner who answered differently', async () => {
    const { app, x, y, deck } = await world();
    // X answered the first card once; Y now answers it twice more, so their states differ.
    for (let i = 0; i < 2; i++) {
      await app.inject({ method: 'POST', url: '/v1/me/answers', headers: y.learner.headers, payload: answer(deck[0]!) });
    }
    const query = `{ flashcard(id: "${deck[0]}") { myState { reps } } }`;
    expect((await send(app, { query }, x.learner.headers)).json.data.flashcard.myState.reps).toBe(1);
    expect((await send(app, { query }, x.learner.headers)).json.data.flashcard.myState.reps).toBe(1);
    expect((await send(app, { query }, y.learner.headers)).json.data.flashcard.myState.reps).toBe(3);
    expect((await send(app, { query })).json.data.flashcard.myState).toBeNull();
  });
});

describe('GraphQL response cache and CONTENT_REQUIRES_AUTH', () => {
  const content = '{ module(slug: "networking") { slug flashcards { question } } }';

  it('with auth required, an answer cached for a key holder is never served to an anonymous caller', async () => {
    const { app, x } = await world({ contentRequiresAuth: true });
    for (let i = 0; i < 3; i++) {
      expect((await post(app, { query: content }, x.learner.headers)).json.data.module.slug).toBe('networking');
    }
    for (const send of [post, get]) {
      const anonymous = await send(app, { query: content });
      // Refused for the whole endpoint, like every other door, before anything is parsed or looked up.
      expect(anonymous.status).toBe(401);
      expect(anonymous.json.errors[0].extensions.code).toBe('MNEMO_AUTH_REQUIRED');
      expect(anonymous.text).not.toContain('networking');
    }
    // With a hash, too.
    await post(app, { query: content, extensions: persisted(sha256(content)) }, x.learner.headers);
    const byHash = await post(app, { extensions: persisted(sha256(content)) });
    expect(byHash.status).toBe(401);
    expect(byHash.text).not.toContain('networking');
  });

  it('with auth off, content is shared between callers and served from the cache', async () => {
    const { app, x, y } = await world();
    const first = await post(app, { query: content }, x.learner.headers);
    const before = app.store.stats.statements;
    expect((await post(app, { query: content }, y.learner.headers)).json).toEqual(first.json);
    expect((await post(app, { query: content })).json).toEqual(first.json);
    expect((await get(app, { query: content })).json).toEqual(first.json);
    // Served from memory: the content-stamp check per request, plus the key lookup of the one keyed caller.
    expect(app.store.stats.statements - before).toBeLessThanOrEqual(4);
  });

  it('a hash is learnt only once its text is verified, and a verified hash serves the cached answer', async () => {
    const { app } = await world();
    const hash = sha256(content);
    // A wrong text for the hash teaches nothing: the hash stays unknown.
    await post(app, { query: '{ __typename }', extensions: persisted(hash) });
    expect((await post(app, { extensions: persisted(hash) })).json.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const registered = await post(app, { query: content, extensions: persisted(hash) });
    expect(registered.json.data.module.slug).toBe('networking');
    const before = app.store.stats.statements;
    expect((await post(app, { extensions: persisted(hash) })).json).toEqual(registered.json);
    expect(app.store.stats.statements - before).toBeLessThanOrEqual(1);
  });
});
