import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { createActors, type Actors } from '../helpers/learners.js';

/**
 * CONTENT_REQUIRES_AUTH=true: every content door (REST reads, search, the change feed, GraphQL) refuses anonymous
 * callers with 401 before it looks at their input, answers key holders with `Cache-Control: private`, and the
 * caches never hand one caller's answer to another.
 */
let app: FastifyInstance;
let actors: Actors;
let cardId: string;

beforeAll(async () => {
  app = await buildTestApp({ seed: true, config: { contentRequiresAuth: true } });
  actors = await createActors(app, { deckFrom: 'service' });
  cardId = actors.deck[0]!;
});
afterAll(() => app.close());

/** Each read with a valid request and with input that would be refused with 400. */
const reads = () => [
  { valid: '/v1/modules', invalid: '/v1/modules?limit=0' },
  { valid: '/v1/modules?limit=5&format=html', invalid: '/v1/modules?unknown=1' },
  { valid: '/v1/modules/networking', invalid: '/v1/modules/networking?format=pdf' },
  { valid: '/v1/modules/networking/takeaways', invalid: '/v1/modules/NOT_A_SLUG/takeaways' },
  { valid: '/v1/modules/networking/flashcards', invalid: '/v1/modules/networking/flashcards?format=x' },
  { valid: '/v1/modules/networking/cheat-sheet', invalid: '/v1/modules/networking/cheat-sheet?x=1' },
  { valid: '/v1/modules/networking/revision-items', invalid: '/v1/modules/networking/revision-items?format=' },
  { valid: `/v1/flashcards/${cardId}`, invalid: `/v1/flashcards/${cardId}?format=pdf` },
  { valid: '/v1/search?q=ingress', invalid: '/v1/search?q=' },
  { valid: '/v1/changes', invalid: '/v1/changes?cursor=not-a-cursor&limit=0' },
];

describe('CONTENT_REQUIRES_AUTH=true', () => {
  it('REST reads, search and changes: 401 for anonymous callers, whatever their input; 200 and private for key holders', async () => {
    for (const { valid, invalid } of reads()) {
      for (const url of [valid, invalid]) {
        const anonymous = await app.inject({ url });
        expect(anonymous.statusCode, url).toBe(401);
        expect(anonymous.headers['content-type'], url).toContain('application/problem+json');
        expect(anonymous.json().code, url).toBe('MNEMO_AUTH_REQUIRED');
      }
      for (const headers of [actors.learner.headers, actors.integration, actors.admin]) {
        const response = await app.inject({ url: valid, headers });
        expect(response.statusCode, valid).toBe(200);
        // Never storable by a shared cache: `private`, or `no-store` for the change feed, which no cache may keep.
        expect(response.headers['cache-control'], valid).toMatch(/private|no-store/);
        expect(response.headers['cache-control'], valid).not.toContain('public');
        const refused = await app.inject({ url: invalid, headers });
        expect(refused.statusCode, invalid).toBe(400);
      }
    }
  });

  it('a cached REST answer is never served to an anonymous caller, also when it sends a matching ETag', async () => {
    const first = await app.inject({ url: '/v1/modules/networking', headers: actors.learner.headers });
    const etag = first.headers.etag as string;
    const conditional = await app.inject({ url: '/v1/modules/networking', headers: { 'if-none-match': etag } });
    expect(conditional.statusCode).toBe(401);
    expect(conditional.body).not.toContain('Networking');
  });

  it('GraphQL: 401 for anonymous callers over POST and GET, for valid and broken documents alike', async () => {
    const bodies = [
      { query: '{ module(slug: "networking") { slug } }' },
      { query: '{ apiVersion }' },
      { query: '{ module(slug: ' },
      { query: '{ modules(first: 0) { nodes { slug } } }' },
      { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } },
    ];
    for (const payload of bodies) {
      const post = await app.inject({ method: 'POST', url: '/graphql', payload });
      expect(post.statusCode, JSON.stringify(payload)).toBe(401);
      // GraphQL's own error shape, as for every error on /graphql.
      expect(post.json()).toMatchObject({ data: null, errors: [{ extensions: { code: 'MNEMO_AUTH_REQUIRED' } }] });
      if (payload.query) {
        const get = await app.inject({ method: 'GET', url: '/graphql', query: { query: payload.query } });
        expect(get.statusCode, payload.query).toBe(401);
      }
    }
    const keyed = await app.inject({ method: 'POST', url: '/graphql', headers: actors.learner.headers, payload: bodies[0] });
    expect(keyed.json()).toEqual({ data: { module: { slug: 'networking' } } });
  });

  it('GraphQL: a key holder\'s cached answer is never served to an anonymous caller or another key\'s caller-dependent query', async () => {
    const query = '{ module(slug: "networking") { slug flashcards { id } } }';
    for (let i = 0; i < 3; i++) {
      expect((await app.inject({ method: 'POST', url: '/graphql', headers: actors.integration, payload: { query } })).statusCode).toBe(200);
    }
    const anonymous = await app.inject({ method: 'POST', url: '/graphql', payload: { query } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.body).not.toContain(cardId);
    const me = '{ me { id externalId } }';
    expect((await app.inject({ method: 'POST', url: '/graphql', headers: actors.learner.headers, payload: { query: me } })).json().data.me.id).toBe(actors.learner.userId);
    expect((await app.inject({ method: 'POST', url: '/graphql', headers: actors.integration, payload: { query: me } })).json().data.me).toBeNull();
  });
});
