import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, repoRoot } from '../helpers/app.js';
import { createActors, type Actors } from '../helpers/learners.js';

/**
 * One definition per page limit: the documented table (SECURITY.md), the OpenAPI document (generated from the REST
 * zod schemas), and GraphQL (a literal `first` at the limit passes, one above it is refused, and a `$variable`
 * above it is refused too) must all say the same.
 */
let app: FastifyInstance;
let actors: Actors;
let openapi: { paths: Record<string, { get?: { parameters?: { name: string; in: string; schema: { maximum?: number } }[] } }> };

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app, { deckFrom: 'service' });
  openapi = (await app.inject('/openapi.json')).json();
});
afterAll(() => app.close());

/** The "Page sizes" row of SECURITY.md's limits table, e.g. "modules, answers, study 100; cards 500; ...". */
function documentedPageSizes(): Record<string, number> {
  const row = readFileSync(`${repoRoot}SECURITY.md`, 'utf8')
    .split('\n')
    .find((line) => line.startsWith('| Page sizes |'));
  expect(row).toBeDefined();
  const sizes: Record<string, number> = {};
  for (const group of row!.split('|')[2]!.split(';')) {
    const match = /^\s*(.+?)\s+([\d,]+)\s*$/.exec(group)!;
    for (const name of match[1]!.split(',')) sizes[name.trim()] = Number(match[2]!.replace(/,/g, ''));
  }
  return sizes;
}

const maximumOf = (path: string) => openapi.paths[path]?.get?.parameters?.find((parameter) => parameter.name === 'limit')?.schema.maximum;

describe('page limits', () => {
  it('the documented table equals the OpenAPI document for every paged route', () => {
    const documented = documentedPageSizes();
    expect(documented).toEqual({ modules: maximumOf('/v1/modules'), answers: maximumOf('/v1/me/answers'), study: maximumOf('/v1/me/study'), cards: maximumOf('/v1/me/cards'), changes: maximumOf('/v1/changes'), search: maximumOf('/v1/search') });
  });

  it('GraphQL takes `first` up to the same limits, as a literal or a variable, and refuses one more either way', async () => {
    const documented = documentedPageSizes();
    const cases = [
      { limit: documented.modules!, field: (first: string) => `modules(first: ${first}) { nodes { slug } }`, headers: {} },
      { limit: documented.search!, field: (first: string) => `search(query: "ingress", first: ${first}) { id }`, headers: {} },
      { limit: documented.answers!, field: (first: string) => `me { answers(first: ${first}) { nodes { id } } }`, headers: actors.learner.headers },
      { limit: documented.cards!, field: (first: string) => `me { cards(first: ${first}) { nodes { flashcardId } } }`, headers: actors.learner.headers },
    ];
    for (const { limit, field, headers } of cases) {
      for (const [first, ok] of [[limit, true], [limit + 1, false]] as const) {
        const literal = await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query: `{ ${field(String(first))} }` } });
        expect(literal.json().errors === undefined, `${field(String(first))}`).toBe(ok);
        const variable = await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query: `query($n: Int) { ${field('$n')} }`, variables: { n: first } } });
        expect(variable.json().errors === undefined, `${field('$n')} with ${first}`).toBe(ok);
      }
    }
  });
});
