import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ResponseBudget } from '../../src/graphql/context.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors, type Actors } from '../helpers/learners.js';

/**
 * What a security review found by attacking the GraphQL endpoint after the cache and cost fixes; each case was
 * reproduced against the previous code (free `__typename` aliases, a `query` sent as an array to skip the token
 * limit, unbounded cache keys, multi-operation documents compiled once for any operationName, mutations over
 * HEAD, a 500 for an unknown operationName over GET).
 */
let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app, { deckFrom: 'service' });
});
afterAll(() => app.close());

const post = (payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/graphql', headers, payload: payload as object });
const codes = (body: { errors?: { extensions?: { code?: string } }[] }) => body.errors?.map((error) => error.extensions?.code);

describe('GraphQL abuse found in review', () => {
  it('counts __typename and introspection fields, and their aliases, like any other field', async () => {
    const typenames = Array.from({ length: 40 }, (_, index) => `a${index}: __typename`).join(' ');
    const aliased = await post({ query: `{ modules { nodes { flashcards { ${typenames} } } } }` });
    expect(aliased.statusCode).toBe(400);
    expect(codes(aliased.json())).toContain('MNEMO_GRAPHQL_TOO_MANY_ALIASES');
    const schemas = Array.from({ length: 31 }, (_, index) => `s${index}: __schema { types { name } }`).join(' ');
    const introspection = await post({ query: `{ ${schemas} }` });
    expect(introspection.statusCode).toBe(400);
    expect(codes(introspection.json())).toContain('MNEMO_GRAPHQL_TOO_MANY_ALIASES');
  });

  it('refuses a query, operationName, variables or extensions of the wrong type instead of coercing it', async () => {
    const big = `{ ${Array.from({ length: 6000 }, () => '__typename').join(' ')} }`;
    for (const payload of [{ query: ['{ apiVersion }'] }, { query: [big] }, { query: 5 }, { query: '{ apiVersion }', operationName: ['x'] }, { query: '{ apiVersion }', variables: 'x' }, { query: '{ apiVersion }', extensions: [] }]) {
      const response = await post(payload);
      expect(response.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(codes(response.json())).toEqual(['MNEMO_GRAPHQL_BAD_REQUEST']);
    }
  });

  it('refuses a document over the size limit, so padding cannot fill memory', async () => {
    const padded = `{ apiVersion } #${'x'.repeat(200 * 1024)}`;
    const response = await post({ query: padded });
    expect(response.statusCode).toBe(400);
    expect(codes(response.json())).toEqual(['MNEMO_GRAPHQL_DOCUMENT_TOO_LARGE']);
  });

  it('does not cache answers to padded documents: a cache entry weighs its key too', async () => {
    const padded = `{ module(slug: "networking") { slug } } #${'x'.repeat(20 * 1024)}`;
    const resolved = vi.spyOn(app.content, 'getModuleContent');
    expect((await post({ query: padded })).statusCode).toBe(200);
    expect((await post({ query: padded })).json()).toEqual({ data: { module: { slug: 'networking' } } });
    // Executed both times, never served from the response cache.
    expect(resolved).toHaveBeenCalledTimes(2);
    resolved.mockRestore();
  });

  it('takes one operation per document, so a compiled document can never run another operation', async () => {
    const document = `query Q { __typename } mutation M { recordAnswer(input: { clientAnswerId: "c1", flashcardId: "${actors.deck[0]}", rating: 3, answeredAt: "${new Date().toISOString()}" }) { id } }`;
    for (const operationName of ['M', 'M', 'Q']) {
      const response = await post({ query: document, operationName }, actors.learner.headers);
      expect(response.statusCode).toBe(400);
      expect(codes(response.json())).toEqual(['MNEMO_GRAPHQL_VALIDATION']);
    }
    const viaGet = await app.inject({ method: 'GET', url: '/graphql', headers: actors.learner.headers, query: { query: document, operationName: 'Q' } });
    expect(viaGet.statusCode).toBe(400);
    expect(await countRows(app, 'answers', 'user_id = ?', actors.learner.userId)).toBe(0);
  });

  it('never runs a mutation over HEAD', async () => {
    const mutation = `mutation { recordAnswer(input: { clientAnswerId: "head-1", flashcardId: "${actors.deck[0]}", rating: 3, answeredAt: "${new Date().toISOString()}" }) { id } }`;
    const head = await app.inject({ method: 'HEAD', url: '/graphql', headers: actors.learner.headers, query: { query: mutation } });
    expect(head.statusCode).toBeGreaterThanOrEqual(400);
    expect(await countRows(app, 'answers', 'user_id = ?', actors.learner.userId)).toBe(0);
  });

  it('answers 400, not 500, for an operationName the document does not define', async () => {
    for (const query of [{ query: 'query A { __typename }', operationName: 'B' }]) {
      const get = await app.inject({ method: 'GET', url: '/graphql', query });
      expect(get.statusCode).toBe(400);
      expect(get.json().errors[0].extensions.code).toBe('MNEMO_GRAPHQL_VALIDATION');
      const viaPost = await post(query);
      expect(viaPost.statusCode).toBe(400);
    }
  });

  it('counts learners\' answer texts against the response size budget as they resolve', async () => {
    for (let index = 0; index < 3; index++) {
      await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[index]!, { response: 'r'.repeat(10_000) }) });
    }
    const spend = vi.spyOn(ResponseBudget.prototype, 'spend');
    const answered = await post({ query: '{ me { answers { nodes { response } } } }' }, actors.learner.headers);
    expect(answered.statusCode).toBe(200);
    expect(answered.json().data.me.answers.nodes).toHaveLength(3);
    expect(spend.mock.calls.filter(([text]) => text === 'r'.repeat(10_000))).toHaveLength(3);
    spend.mockRestore();
  });
});
