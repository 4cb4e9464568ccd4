import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors, createLearner, queryRows, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

describe('learners', () => {
  it('are created once per externalId and integration: 201, then 200 with the same learner', async () => {
    const first = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'lms-42', displayName: 'Ada' } });
    const again = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'lms-42', displayName: 'Other' } });
    expect([first.statusCode, again.statusCode]).toEqual([201, 200]);
    expect(again.json()).toEqual(first.json());
    expect(first.json()).toMatchObject({ externalId: 'lms-42', displayName: 'Ada', id: expect.stringMatching(/^usr_/) });
    const found = await app.inject({ url: '/v1/users?externalId=lms-42', headers: actors.integration });
    expect(found.json()).toEqual({ items: [first.json()] });
    const byId = await app.inject({ url: `/v1/users/${first.json().id}`, headers: actors.integration });
    expect(byId.json()).toEqual(first.json());
  });

  it('with the same externalId under two integrations are two learners', async () => {
    const key = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'other lms' } });
    const other = { authorization: `Bearer ${key.json().token}` };
    const mine = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'shared-id' } });
    const theirs = await app.inject({ method: 'POST', url: '/v1/users', headers: other, payload: { externalId: 'shared-id' } });
    expect(theirs.statusCode).toBe(201);
    expect(theirs.json().id).not.toBe(mine.json().id);
    expect((await app.inject({ url: '/v1/users?externalId=shared-id', headers: actors.admin })).json().items).toHaveLength(2);
  });

  it('are renamed with PATCH: the new displayName is stored and returned, null removes it; a repeated POST does not rename', async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'renamed', displayName: 'Old Name' } });
    const id = created.json().id as string;
    const renamed = await app.inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: actors.integration, payload: { displayName: '  New Name ' } });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toEqual({ ...created.json(), displayName: 'New Name' });
    expect((await app.inject({ url: `/v1/users/${id}`, headers: actors.integration })).json().displayName).toBe('New Name');

    const again = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'renamed', displayName: 'Ignored' } });
    expect(again.statusCode).toBe(200);
    expect(again.json().displayName).toBe('New Name');

    const cleared = await app.inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: actors.admin, payload: { displayName: null } });
    expect(cleared.json()).toMatchObject({ id, displayName: null });
    expect(await queryRows(app, 'SELECT display_name FROM users WHERE id = ?', id)).toEqual([{ display_name: null }]);
  });

  it('may be renamed by an admin or their own integration only', async () => {
    const learner = await createLearner(app, actors.integration, 'rename-authz');
    const other = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'rename other' } });
    const callers: [string, Record<string, string>, number][] = [
      ['anonymous', {}, 401],
      ['the learner', learner.headers, 403],
      ['another integration', { authorization: `Bearer ${other.json().token}` }, 404],
      ['its integration', actors.integration, 200],
      ['admin', actors.admin, 200],
    ];
    for (const [name, headers, status] of callers) {
      const response = await app.inject({ method: 'PATCH', url: `/v1/users/${learner.userId}`, headers, payload: { displayName: `by ${name}` } });
      expect(response.statusCode, name).toBe(status);
    }
    expect((await app.inject({ url: `/v1/users/${learner.userId}`, headers: actors.admin })).json().displayName).toBe('by admin');
    expect((await app.inject({ method: 'PATCH', url: '/v1/users/usr_missing', headers: actors.admin, payload: { displayName: 'x' } })).statusCode).toBe(404);
  });

  it('refuses renames without a valid displayName or with other fields', async () => {
    const learner = await createLearner(app, actors.integration, 'rename-invalid');
    for (const payload of [{}, { displayName: '' }, { displayName: '   ' }, { displayName: 'x'.repeat(201) }, { displayName: 'ok', externalId: 'changed' }, { displayName: 7 }]) {
      const response = await app.inject({ method: 'PATCH', url: `/v1/users/${learner.userId}`, headers: actors.integration, payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
  });

  it('refuses extra fields and empty externalIds', async () => {
    for (const payload of [{ externalId: '' }, { externalId: 'x', role: 'admin' }, {}]) {
      const response = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload });
      expect(response.statusCode).toBe(400);
    }
  });
});

describe('export and erasure', () => {
  it('export returns the learner, keys (without tokens or hashes), answers and card states', async () => {
    const learner = await createLearner(app, actors.integration, 'exported');
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: answer(actors.deck[0]!) });
    const response = await app.inject({ url: `/v1/users/${learner.userId}/export`, headers: actors.integration });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.user).toMatchObject({ id: learner.userId, externalId: 'exported' });
    expect(body.keys).toHaveLength(1);
    expect(body.answers).toHaveLength(1);
    expect(body.cardStates).toHaveLength(1);
    expect(response.body).not.toContain(learner.token);
    expect(response.body).not.toMatch(/token_?hash/i);
  });

  it('erasure leaves no row of the learner behind, and their key stops working', async () => {
    const learner = await createLearner(app, actors.integration, 'erased');
    await app.inject({
      method: 'POST',
      url: '/v1/me/answers/batch',
      headers: learner.headers,
      payload: { answers: actors.deck.map((card) => answer(card)) },
    });
    expect(await countRows(app, 'answers', 'user_id = ?', learner.userId)).toBe(5);
    expect(await countRows(app, 'card_states', 'user_id = ?', learner.userId)).toBe(5);

    const erased = await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration });
    expect(erased.statusCode).toBe(204);
    for (const [table, column] of [['users', 'id'], ['answers', 'user_id'], ['card_states', 'user_id'], ['api_keys', 'user_id']] as const) {
      expect(await countRows(app, table, `${column} = ?`, learner.userId), table).toBe(0);
    }
    expect((await app.inject({ url: '/v1/me/answers', headers: learner.headers })).statusCode).toBe(401);
    expect((await app.inject({ url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(404);
  });
});

describe('API keys', () => {
  it('are shown once, stored only as a hash, and stop working when revoked', async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'temp' } });
    expect(created.statusCode).toBe(201);
    const key = created.json();
    expect(key).toMatchObject({ id: expect.stringMatching(/^key_/), role: 'integration', name: 'temp', token: expect.stringMatching(/^mnemo_[A-Za-z0-9_-]{43}$/) });
    const [stored] = await queryRows(app, 'SELECT * FROM api_keys WHERE id = ?', key.id);
    expect(JSON.stringify(stored)).not.toContain(key.token);
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    const listed = (await app.inject({ url: '/v1/keys', headers: actors.admin })).body;
    expect(listed).not.toContain(key.token);

    const headers = { authorization: `Bearer ${key.token}` };
    expect((await app.inject({ method: 'POST', url: '/v1/users', headers, payload: { externalId: 'k' } })).statusCode).toBe(201);
    const revoked = await app.inject({ method: 'DELETE', url: `/v1/keys/${key.id}`, headers: actors.admin });
    expect(revoked.json().revokedAt).toEqual(expect.any(String));
    const after = await app.inject({ method: 'POST', url: '/v1/users', headers, payload: { externalId: 'k' } });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('MNEMO_AUTH_INVALID_TOKEN');
    expect(after.headers['www-authenticate']).toBe('Bearer');
  });

  it('refuse learner keys through /v1/keys and unknown key ids', async () => {
    const learnerRole = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'learner', name: 'x' } });
    expect(learnerRole.statusCode).toBe(400);
    expect((await app.inject({ method: 'DELETE', url: '/v1/keys/key_unknown', headers: actors.admin })).statusCode).toBe(404);
  });

  it('check the caller before the input: anonymous with a bad body is 401, a learner is 403', async () => {
    const requests = [
      { method: 'POST' as const, url: '/v1/users', payload: {} },
      { method: 'GET' as const, url: '/v1/users' },
      { method: 'POST' as const, url: '/v1/keys', payload: { role: 'learner' } },
      { method: 'GET' as const, url: '/v1/users/x/answers?limit=abc' },
    ];
    for (const request of requests) {
      expect((await app.inject(request)).statusCode, request.url).toBe(401);
      expect((await app.inject({ ...request, headers: actors.learner.headers })).statusCode, request.url).toBe(403);
    }
    expect((await app.inject({ method: 'GET', url: '/v1/me/answers?limit=abc' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/v1/me/answers?limit=abc', headers: actors.admin })).statusCode).toBe(403);
  });

  it('reject malformed Authorization headers with 401', async () => {
    for (const header of ['Bearer', 'Basic dXNlcjpwYXNz', 'Bearer not-a-token', `Bearer mnemo_${'a'.repeat(43)}`, 'Bearer  ']) {
      const response = await app.inject({ url: '/v1/modules', headers: { authorization: header } });
      expect(response.statusCode, header).toBe(401);
    }
  });
});
