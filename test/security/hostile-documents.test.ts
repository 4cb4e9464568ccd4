import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { createActors, type Actors } from '../helpers/learners.js';

/**
 * GraphQL documents and JSON bodies of hostile shapes, deep and wide, up to the size limits. Each must get a
 * client error with a code (never a 500, never a stack overflow): the document size and token limits run before
 * graphql-js parses, and JSON nesting is refused before any recursive walk.
 */

const seed = Number(process.env.HOSTILE_DOCUMENTS_SEED ?? 20261202);
let app: FastifyInstance;
let actors: Actors;
beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

const depth = fc.integer({ min: 1, max: 40_000 });
const documents = fc.oneof(
  depth.map((d) => `{ ${'modules { nodes { '.repeat(d)}slug${' } }'.repeat(d)} }`),
  depth.map((d) => `${'{ a '.repeat(d)}${'}'.repeat(d)}`),
  depth.map((d) => `{ modules(first: ${'['.repeat(d)}1${']'.repeat(d)}) { nodes { slug } } }`),
  depth.map((d) => `{ search(q: ${'{a: '.repeat(d)}1${'}'.repeat(d)}) { total } }`),
  depth.map((d) => `{ ${Array.from({ length: Math.min(d, 6000) }, (_, i) => `a${i}: apiVersion`).join(' ')} }`),
  depth.map((d) => `query Q ${'@skip(if: false) '.repeat(Math.min(d, 4000))}{ apiVersion }`),
  depth.map((d) => `{ ...F0 } ${Array.from({ length: Math.min(d, 3000) }, (_, i) => `fragment F${i} on Query { ...F${i + 1} }`).join(' ')}`),
  depth.map((d) => `{ apiVersion } # ${'#'.repeat(d * 20)}`),
  depth.map((d) => `{ module(slug: "${'\\u0041'.repeat(d)}") { slug } }`),
);

const deepValue = (d: number, kind: 'array' | 'object') =>
  kind === 'array' ? `${'['.repeat(d)}1${']'.repeat(d)}` : `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`;

describe('hostile GraphQL documents and JSON bodies (property-based, seed ' + seed + ')', () => {
  it('answers every generated deep or wide document with 200 or a coded 4xx, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(documents, async (query) => {
        const response = await app.inject({ method: 'POST', url: '/graphql', payload: { query } });
        expect(response.statusCode, response.body.slice(0, 300)).toBeLessThan(500);
        const body = response.json();
        if (response.statusCode !== 200) {
          expect(body.errors[0].extensions.code, response.body.slice(0, 300)).toMatch(/^MNEMO_/);
          expect(response.body).not.toMatch(/call stack|RangeError|at .*\.js:\d+/);
        }
      }),
      { seed, numRuns: 60 },
    );
  });

  it('refuses documents nested deeper than 64 levels before graphql-js parses them (it recurses)', async () => {
    for (const query of [
      `{ module(slug: ${'['.repeat(2450)}"x"${']'.repeat(2450)}) { slug } }`,
      `mutation { recordAnswers(inputs: ${'['.repeat(2400)}{}${']'.repeat(2400)}) { results { status } } }`,
      `{ module(slug: ${'{a: '.repeat(65)}1${'}'.repeat(65)}) { slug } }`,
    ]) {
      const response = await app.inject({ method: 'POST', url: '/graphql', headers: actors.admin, payload: { query } });
      expect(response.statusCode).toBe(400);
      expect(response.json().errors[0].extensions.code).toBe('MNEMO_GRAPHQL_TOO_DEEP');
      expect(response.body).not.toMatch(/call stack/);
    }
    // Comments and block strings cannot hide the nesting (the lexer skips them), nor make a legitimate query deep.
    const deepList = `${'['.repeat(2400)}{}${']'.repeat(2400)}`;
    for (const query of [
      `# "\nmutation { recordAnswers(inputs: ${deepList}) { results { status } } }`,
      `mutation { a: recordAnswers(inputs: [], userId: """x"y""") { results { status } } b: recordAnswers(inputs: ${deepList}) { results { status } } }`,
    ]) {
      const response = await app.inject({ method: 'POST', url: '/graphql', headers: actors.admin, payload: { query } });
      expect(response.json().errors[0].extensions.code, response.body.slice(0, 200)).toBe('MNEMO_GRAPHQL_TOO_DEEP');
    }
    for (const query of [`# ${'('.repeat(70)}\n{ apiVersion }`, `${'# oops :(\n'.repeat(70)}{ apiVersion }`, `{ search(q: """say " ${'('.repeat(70)}""") { total } }`]) {
      const response = await app.inject({ method: 'POST', url: '/graphql', payload: { query } });
      expect(response.body).not.toMatch(/MNEMO_GRAPHQL_TOO_DEEP/);
    }
    const inside = `{ module(slug: ${'['.repeat(60)}"x"${']'.repeat(60)}) { slug } }`;
    expect((await app.inject({ method: 'POST', url: '/graphql', payload: { query: inside } })).json().errors[0].extensions.code).not.toBe('MNEMO_GRAPHQL_TOO_DEEP');
  });

  it('never looks up (or remembers) a module slug no import could have stored', async () => {
    const statements = async (slug: string) => {
      const before = app.store.stats.driverStatements;
      const response = await app.inject({ method: 'POST', url: '/graphql', payload: { query: 'query ($s: String!) { module(slug: $s) { slug } }', variables: { s: slug } } });
      expect(response.json().data.module).toBeNull();
      return app.store.stats.driverStatements - before;
    };
    // A possible slug costs the head lookup on top of the response cache's content stamp; an impossible one does not.
    const lookedUp = await statements('no-such-module');
    expect(await statements('x'.repeat(250_000))).toBeLessThan(lookedUp);
    expect(await statements('Not A Slug')).toBeLessThan(lookedUp);
  });

  it('refuses deeply nested variables and JSON bodies with 400, over POST and GET', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1000, max: 60_000 }), fc.constantFrom('array', 'object'), async (d, kind) => {
        const value = deepValue(d, kind as 'array' | 'object');
        const viaPost = await app.inject({
          method: 'POST',
          url: '/graphql',
          headers: { 'content-type': 'application/json' },
          payload: `{"query":"query ($slug: String!) { module(slug: $slug) { slug } }","variables":{"slug":${value},"extra":${value}}}`,
        });
        expect([400, 413], viaPost.body.slice(0, 300)).toContain(viaPost.statusCode);
        const viaGet = await app.inject({
          method: 'GET',
          url: `/graphql?query=${encodeURIComponent('query ($s: String!) { module(slug: $s) { slug } }')}&variables=${encodeURIComponent(`{"s":${value}}`)}`,
        });
        expect([400, 414], viaGet.body.slice(0, 300)).toContain(viaGet.statusCode);
        const rest = await app.inject({
          method: 'POST',
          url: '/v1/me/answers',
          headers: { ...actors.learner.headers, 'content-type': 'application/json' },
          payload: `{"flashcardId":${value},"rating":"good","clientAnswerId":"x"}`,
        });
        expect([400, 413], rest.body.slice(0, 300)).toContain(rest.statusCode);
        expect(rest.headers['content-type']).toMatch(/problem\+json/);
      }),
      { seed, numRuns: 20 },
    );
  });
});
