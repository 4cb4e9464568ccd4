import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  type GraphQLField,
  type GraphQLObjectType,
  type OperationDefinitionNode,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { measureOperation } from '../../src/graphql/limits.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

/**
 * GraphQL amplification: what a short query can make the server build. A module at the import limits (500 cards,
 * 200 takeaways and rows, 500 revision items) answers generated queries; the cost computed before execution
 * must bound what comes back, and the size cap must hold for whatever the cost lets through.
 */

const maxResponseBytes = 256 * 1024;
let app: FastifyInstance;
let actors: Actors;
let cardId: string;

beforeAll(async () => {
  const base = testConfig();
  app = await buildTestApp({ seed: true, config: { graphql: { ...base.graphql, maxResponseBytes } } });
  const big = generatedModule('big-deck', 200, {
    flashcards: Array.from({ length: 500 }, (_, index) => ({ key: `card-${index}`, question: `Question ${index}?`, answer: `${'An answer that is long. '.repeat(40)}${index}` })),
    revisionItems: Array.from({ length: 500 }, (_, index) => ({ term: `Term ${index}`, definition: `Definition ${index}.` })),
  });
  await app.content.importModule(JSON.stringify(big), 'json');
  actors = await createActors(app);
  cardId = (await app.content.getModuleContent('big-deck')).flashcards[0]!.id;
  const answers = [...actors.deck, cardId].map((id, index) => answer(id, { answeredAt: new Date(Date.now() - (index + 1) * 3_600_000).toISOString(), response: 'x'.repeat(200) }));
  const posted = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers } });
  expect(posted.statusCode).toBe(200);
}, 60_000);
afterAll(() => app.close());

const ask = async (query: string, headers: Record<string, string> = {}) => {
  const response = await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query } });
  return { status: response.statusCode, bytes: response.rawPayload.length, body: response.json() };
};

describe('the reported amplification', () => {
  it('refuses the 80-byte query that looped flashcards -> module -> flashcards, before reading any card', async () => {
    const query = '{ module(slug: "big-deck") { flashcards { module { flashcards { id answer } } } } }';
    const result = await ask(query);
    expect(result.status).toBe(400);
    expect(result.body.data).toBeNull();
    expect(result.body.errors.map((error: { extensions: { code: string } }) => error.extensions.code)).toEqual(['MNEMO_GRAPHQL_CYCLE']);
    expect(result.bytes).toBeLessThan(1024);
  });

  it('counts a deck at its real size: 30 aliased decks cost 30 x 1,002, not 30 x 52', async () => {
    const aliases = Array.from({ length: 30 }, (_, index) => `d${index}: module(slug: "big-deck") { flashcards { id answer(format: HTML) } }`).join(' ');
    const document = parse(`{ ${aliases} }`);
    const cost = measureOperation(app.graphql.schema, document, document.definitions[0] as OperationDefinitionNode, { listBounds: app.graphqlListBounds }, () => {}).cost;
    expect(cost).toBe(30 * (1 + 1 + 500 * 2));
  });

  it('stops an answer over the size cap with one clear error, not a truncated body', async () => {
    const aliases = Array.from({ length: 30 }, (_, index) => `d${index}: module(slug: "big-deck") { flashcards { id answer(format: HTML) } }`).join(' ');
    const result = await ask(`{ ${aliases} }`);
    expect(result.status).toBe(400);
    expect(result.body).toEqual({
      data: null,
      errors: [{ message: expect.stringContaining('size limit'), extensions: { code: 'MNEMO_GRAPHQL_RESPONSE_TOO_LARGE' } }],
    });
    expect(result.bytes).toBeLessThan(1024);
    // The same query within the cap answers in full.
    const one = await ask('{ module(slug: "big-deck") { flashcards { id } } }');
    expect(one.body.data.module.flashcards).toHaveLength(500);
  });

  it('caps answers whose size comes from other fields than content text (learner responses)', async () => {
    const aliases = Array.from({ length: 30 }, (_, index) => `a${index}: answers(first: 100) { nodes { id response clientAnswerId flashcardId moduleSlug answeredAt receivedAt } }`).join(' ');
    const small = await ask('{ me { answers(first: 100) { nodes { response } } } }', actors.learner.headers);
    expect(small.status).toBe(200);
    // The serialised answer is measured as the last line: 30 x 7 answers x ~450 bytes stays under 256 KiB here, so
    // the check is shown by a server with a smaller cap.
    const base = testConfig();
    const tight = await buildTestApp({ seed: true, config: { graphql: { ...base.graphql, maxResponseBytes: 2048 } } });
    try {
      const tightActors = await createActors(tight);
      for (let index = 0; index < 5; index++) {
        await tight.inject({ method: 'POST', url: '/v1/me/answers', headers: tightActors.learner.headers, payload: answer(tightActors.deck[index]!, { response: 'r'.repeat(500) }) });
      }
      const response = await tight.inject({ method: 'POST', url: '/graphql', headers: tightActors.learner.headers, payload: { query: `{ me { ${aliases} } }` } });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ data: null, errors: [{ message: expect.any(String), extensions: { code: 'MNEMO_GRAPHQL_RESPONSE_TOO_LARGE' } }] });
    } finally {
      await tight.close();
    }
  });
});

/** Fields (object keys) in a response: what the cost counts, one per resolved field. */
function countFields(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + countFields(item), 0);
  if (value && typeof value === 'object') return Object.values(value).reduce((sum: number, child) => sum + 1 + countFields(child), 0);
  return 0;
}

type Random = { int(max: number): number; pick<T>(values: readonly T[]): T; chance(p: number): boolean };

function random(seed: number): Random {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  return {
    int: (max) => Math.floor(next() * max),
    pick: (values) => values[Math.floor(next() * values.length)]!,
    chance: (p) => next() < p,
  };
}

/**
 * A random query over the read side of the schema: any fields, aliases, inline fragments, formats and page
 * sizes; required arguments get values that exist. Paths that re-enter a type are left out (they are refused).
 */
function generateQuery(rng: Random): string {
  const schema = app.graphql.schema;
  const argumentValue = (field: GraphQLField<unknown, unknown>, name: string): string | undefined => {
    const arg = field.args.find((candidate) => candidate.name === name)!;
    const type = getNullableType(arg.type);
    if (name === 'slug') return '"big-deck"';
    if (name === 'id') return `"${cardId}"`;
    if (name === 'first') return String(1 + rng.int(rng.chance(0.5) ? 5 : 100));
    if (name === 'limit' || name === 'newLimit') return String(1 + rng.int(100));
    if (name === 'query') return '"answer"';
    if (isEnumType(type) && name === 'format') return rng.pick(['MARKDOWN', 'HTML', 'TEXT']);
    return isNonNullType(arg.type) ? undefined : undefined;
  };
  const selection = (type: GraphQLObjectType, enclosing: string[], depth: number): string => {
    const fields = Object.values(type.getFields()).filter((field) => {
      const named = getNamedType(field.type);
      if (isObjectType(named) && !named.name.endsWith('Connection') && enclosing.includes(named.name)) return false;
      if (!isLeafType(named) && depth >= 6) return false;
      return field.args.every((arg) => !isNonNullType(arg.type) || ['slug', 'id', 'query'].includes(arg.name));
    });
    const chosen = fields.filter(() => rng.chance(0.6));
    if (!chosen.length) chosen.push(fields.find((field) => isLeafType(getNamedType(field.type))) ?? fields[0]!);
    const parts: string[] = [];
    for (const field of chosen) {
      const copies = rng.chance(0.15) ? 2 : 1;
      for (let copy = 0; copy < copies; copy++) {
        const args = field.args
          .map((arg) => (rng.chance(isNonNullType(arg.type) ? 1 : 0.5) ? [arg.name, argumentValue(field, arg.name)] : undefined))
          .filter((pair): pair is [string, string] => pair !== undefined && pair[1] !== undefined)
          .map(([name, value]) => `${name}: ${value}`);
        const alias = copy > 0 || rng.chance(0.1) ? `a${rng.int(1_000_000)}: ` : '';
        const named = getNamedType(field.type);
        const head = `${alias}${field.name}${args.length ? `(${args.join(', ')})` : ''}`;
        if (isLeafType(named)) parts.push(head);
        else if (isObjectType(named)) {
          const inside = named.name.endsWith('Connection') ? enclosing : [...enclosing, named.name];
          const body = selection(named, inside, depth + 1);
          parts.push(rng.chance(0.1) ? `${head} { ... on ${named.name} { ${body} } }` : `${head} { ${body} }`);
        }
      }
    }
    return parts.join(' ');
  };
  const query = schema.getQueryType()!;
  const roots = ['module', 'modules', 'flashcard', 'me', 'search'].map((name) => query.getFields()[name]!).filter(Boolean);
  const root = rng.pick(roots);
  void isListType;
  const args = root.args
    .map((arg) => (isNonNullType(arg.type) || rng.chance(0.5) ? [arg.name, argumentValue(root, arg.name)] : undefined))
    .filter((pair): pair is [string, string] => pair !== undefined && pair[1] !== undefined)
    .map(([name, value]) => `${name}: ${value}`);
  const type = getNamedType(root.type) as GraphQLObjectType;
  const enclosing = type.name.endsWith('Connection') ? [] : [type.name];
  return `{ ${root.name}${args.length ? `(${args.join(', ')})` : ''} { ${selection(type, enclosing, 1)} } }`;
}

describe('cost bounds the answer (property)', () => {
  it('for generated queries, the fields returned never exceed the cost, and no body exceeds the cap', async () => {
    const seed = Number(process.env.COST_PROPERTY_SEED ?? 20261129);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (querySeed) => {
        const query = generateQuery(random(querySeed));
        const document = parse(query);
        const errors: string[] = [];
        const measure = measureOperation(app.graphql.schema, document, document.definitions[0] as OperationDefinitionNode, { listBounds: app.graphqlListBounds }, (code) => errors.push(code));
        const result = await ask(query, actors.learner.headers);
        expect(result.bytes, query).toBeLessThanOrEqual(maxResponseBytes + 1024);
        if (result.status !== 200) {
          const codes = result.body.errors.map((error: { extensions: { code: string } }) => error.extensions.code);
          expect(['MNEMO_GRAPHQL_TOO_COSTLY', 'MNEMO_GRAPHQL_TOO_DEEP', 'MNEMO_GRAPHQL_VALIDATION', 'MNEMO_GRAPHQL_RESPONSE_TOO_LARGE', 'MNEMO_REQUEST_INVALID'], `${query}\n${JSON.stringify(result.body.errors)}`).toEqual(expect.arrayContaining(codes));
          return;
        }
        expect(errors, query).toEqual([]);
        expect(countFields(result.body.data), query).toBeLessThanOrEqual(measure.cost);
      }),
      { seed, numRuns: 80 },
    );
  }, 120_000);
});
