import type { FastifyInstance } from 'fastify';
import { getIntrospectionQuery } from 'graphql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testConfig, type GraphqlConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { gql } from '../helpers/graphql.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function appWith(graphql: Partial<GraphqlConfig> = {}, env: 'test' | 'production' | 'development' = 'test') {
  const base = testConfig({}, { NODE_ENV: env });
  app = await buildTestApp({ seed: true, config: { env, graphql: { ...base.graphql, ...graphql } } });
  return app;
}

const codes = (result: { errors?: { extensions?: { code?: string } }[] }) => result.errors?.map((error) => error.extensions?.code);

describe('query depth', () => {
  it('accepts a query at the limit and rejects one just over it, before any resolver runs', async () => {
    await appWith({ maxDepth: 4 });
    const spy = vi.spyOn(app!.content, 'getFlashcard');
    const atLimit = await gql(app!, '{ modules { nodes { takeaways { id } } } }');
    expect(atLimit.errors).toBeUndefined();
    const over = await gql(app!, '{ flashcard(id: "x") { module { cheatSheet { rows { position } } } } }');
    expect(over.statusCode).toBe(400);
    expect(codes(over)).toEqual(['MNEMO_GRAPHQL_TOO_DEEP']);
    expect(over.errors![0]!.message).toBe('anonymous operation has depth 5; the limit is 4');
    expect(spy).not.toHaveBeenCalled();
  });

  it('counts depth through fragments', async () => {
    await appWith({ maxDepth: 4 });
    const over = await gql(app!, 'query Deep { flashcard(id: "x") { ...M } } fragment M on Flashcard { module { cheatSheet { rows { position } } } }');
    expect(codes(over)).toEqual(['MNEMO_GRAPHQL_TOO_DEEP']);
  });

  it('lets the default limit of 10 run GraphiQL’s introspection query', async () => {
    await appWith();
    const result = await gql(app!, getIntrospectionQuery());
    expect(result.errors).toBeUndefined();
    expect(result.data!.__schema.queryType.name).toBe('Query');
  });
});

describe('aliases', () => {
  it('accepts the maximum number of aliases and rejects one more, counting fragment expansions', async () => {
    await appWith({ maxAliases: 3 });
    expect((await gql(app!, '{ a: apiVersion b: apiVersion c: apiVersion }')).errors).toBeUndefined();
    const over = await gql(app!, '{ a: apiVersion b: apiVersion c: apiVersion d: apiVersion }');
    expect(codes(over)).toEqual(['MNEMO_GRAPHQL_TOO_MANY_ALIASES']);
    const viaFragments = await gql(app!, '{ ...F ...G } fragment F on Query { a: apiVersion b: apiVersion } fragment G on Query { c: apiVersion d: apiVersion }');
    expect(codes(viaFragments)).toEqual(['MNEMO_GRAPHQL_TOO_MANY_ALIASES']);
  });
});

describe('cost', () => {
  // modules(first: 100) { nodes { slug title } } costs 1 + 100 x (nodes 1 + slug 1 + title 1) = 301.
  const query = '{ modules(first: 100) { nodes { slug title } } }';

  it('accepts a query exactly at the budget and rejects it when the budget is one less', async () => {
    await appWith({ maxCost: 301 });
    expect((await gql(app!, query)).errors).toBeUndefined();
    await app!.close();
    await appWith({ maxCost: 300 });
    const over = await gql(app!, query);
    expect(codes(over)).toEqual(['MNEMO_GRAPHQL_TOO_COSTLY']);
    expect(over.errors![0]!.message).toContain('estimated cost of 301; the limit is 300');
  });

  it('counts a list without `first` at its real maximum: a page of whole decks is expensive', async () => {
    await appWith();
    // 1 + 100 x (nodes 1 + flashcards 1 + 500 cards x 3 fields) = 150,201.
    const decks = await gql(app!, '{ modules(first: 100) { nodes { flashcards { id question answer } } } }');
    expect(codes(decks)).toEqual(['MNEMO_GRAPHQL_TOO_COSTLY']);
    expect(decks.errors![0]!.message).toContain('estimated cost of 150201');
  });

  it('refuses paths that re-enter the object they came from (flashcard -> module -> flashcards -> module)', async () => {
    await appWith();
    const spy = vi.spyOn(app!.content, 'getModuleContent');
    for (const query of [
      '{ module(slug: "networking") { flashcards { module { flashcards { id answer } } } } }',
      '{ modules { nodes { flashcards { module { slug } } } } }',
      '{ flashcard(id: "x") { module { flashcards { id } } } }',
      '{ module(slug: "networking") { ...F } } fragment F on Module { flashcards { ...G } } fragment G on Flashcard { module { slug } }',
    ]) {
      const result = await gql(app!, query);
      expect(result.statusCode, query).toBe(400);
      expect(codes(result), query).toContain('MNEMO_GRAPHQL_CYCLE');
    }
    expect(spy).not.toHaveBeenCalled();
    // The same fragment is fine where it does not re-enter.
    const fine = await gql(app!, '{ flashcard(id: "x") { ...G } } fragment G on Flashcard { module { slug } }');
    expect(fine.errors).toBeUndefined();
  });

  it('counts a variable `first` as the maximum page size', async () => {
    await appWith({ maxCost: 300 });
    const result = await gql(app!, 'query($n: Int) { modules(first: $n) { nodes { slug title } } }', { n: 1 });
    expect(codes(result)).toEqual(['MNEMO_GRAPHQL_TOO_COSTLY']);
  });

  it('allows a page of 20 whole modules (the default page) under the default budget, at any module size', async () => {
    await appWith();
    const result = await gql(app!, '{ modules(first: 20) { nodes { takeaways { id title body } flashcards { id question answer } cheatSheet { columns rows { cells } } revisionItems { id term definition } } } }');
    expect(result.errors).toBeUndefined();
  });
});

describe('page size', () => {
  it('caps first at 100: a literal over it fails validation, a variable over it fails before data is read', async () => {
    await appWith();
    expect((await gql(app!, '{ modules(first: 100) { nodes { slug } } }')).errors).toBeUndefined();
    const literal = await gql(app!, '{ modules(first: 101) { nodes { slug } } }');
    expect(literal.statusCode).toBe(400);
    expect(codes(literal)).toEqual(['MNEMO_GRAPHQL_VALIDATION']);
    const spy = vi.spyOn(app!.content, 'listModules');
    for (const n of [0, 101, -5]) {
      const variable = await gql(app!, 'query($n: Int) { modules(first: $n) { nodes { slug } } }', { n });
      expect(codes(variable)).toEqual(['MNEMO_REQUEST_INVALID']);
      expect(variable.errors![0]!.message).toBe('first must be between 1 and 100');
    }
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('tokens', () => {
  const fields = (count: number) => `{ ${Array(count).fill('apiVersion').join(' ')} }`;

  it('parses a document of exactly the maximum tokens and rejects one token more', async () => {
    await appWith({ maxTokens: 100 });
    expect((await gql(app!, fields(98))).errors).toBeUndefined();
    const over = await gql(app!, fields(99));
    expect(over.statusCode).toBe(400);
    expect(codes(over)).toEqual(['MNEMO_GRAPHQL_TOO_MANY_TOKENS']);
  });
});

describe('batched queries', () => {
  const batch = (count: number) =>
    app!.inject({ method: 'POST', url: '/graphql', payload: Array.from({ length: count }, () => ({ query: '{ apiVersion }' })) });

  it('are refused by default', async () => {
    await appWith();
    const response = await batch(1);
    expect(response.statusCode).toBe(400);
    expect(response.json().errors[0].extensions.code).toBe('MNEMO_GRAPHQL_BATCH_DISABLED');
  });

  it('when enabled, run up to the cap and refuse one more', async () => {
    await appWith({ batchLimit: 2 });
    const ok = await batch(2);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual([{ data: { apiVersion: '1' } }, { data: { apiVersion: '1' } }]);
    const over = await batch(3);
    expect(over.statusCode).toBe(400);
    expect(over.json().errors[0]).toMatchObject({ extensions: { code: 'MNEMO_GRAPHQL_BATCH_TOO_LARGE' } });
  });
});

describe('introspection and suggestions', () => {
  it('introspection is on by default, in production too; suggestions stay off there', async () => {
    await appWith({}, 'production');
    const result = await gql(app!, '{ __schema { queryType { name } } __type(name: "Module") { name } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ __schema: { queryType: { name: 'Query' } }, __type: { name: 'Module' } });
    const typo = await gql(app!, '{ module(slug: "networking") { titel } }');
    expect(typo.errors![0]!.message).toBe('Cannot query field "titel" on type "Module".');
  });

  it('GRAPHQL_INTROSPECTION=false refuses __schema and __type (one error per entry point), __typename still works', async () => {
    const { graphql } = testConfig({}, { NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'false' });
    expect(graphql.introspection).toBe(false);
    await appWith(graphql, 'production');
    expect(codes(await gql(app!, '{ __schema { types { name fields { name type { name } } } } }'))).toEqual(['MNEMO_GRAPHQL_INTROSPECTION_DISABLED']);
    expect(codes(await gql(app!, '{ __type(name: "Module") { name } }'))).toEqual(['MNEMO_GRAPHQL_INTROSPECTION_DISABLED']);
    const both = await gql(app!, '{ a: __schema { queryType { name } } b: __type(name: "Module") { fields { name } } }');
    expect(both.statusCode).toBe(400);
    expect(codes(both)).toEqual(['MNEMO_GRAPHQL_INTROSPECTION_DISABLED', 'MNEMO_GRAPHQL_INTROSPECTION_DISABLED']);
    expect(both.errors![0]!.message).toContain('"__schema"');
    expect(codes(await gql(app!, getIntrospectionQuery()))).toEqual(['MNEMO_GRAPHQL_INTROSPECTION_DISABLED']);
    expect((await gql(app!, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  });

  it('suggestions can be switched on in production by configuration', async () => {
    await appWith({ suggestions: true }, 'production');
    expect((await gql(app!, '{ module(slug: "x") { titel } }')).errors![0]!.message).toContain('Did you mean "title"?');
  });
});

describe('errors', () => {
  it('turns bad variables into a validation error, never a 500', async () => {
    await appWith();
    const query = 'query($slug: String!) { module(slug: $slug) { id } }';
    for (const variables of [{ slug: 5 }, {}, { slug: null }, { slug: ['a'] }]) {
      const result = await gql(app!, query, variables);
      expect(result.statusCode).toBe(400);
      expect(codes(result)).toEqual(['MNEMO_GRAPHQL_BAD_VARIABLES']);
    }
    const notJson = await app!.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(query)}&variables=%7Bnot-json` });
    expect(notJson.statusCode).toBe(400);
  });

  it('reports syntax errors and unknown fields with codes', async () => {
    await appWith();
    expect(codes(await gql(app!, '{ module(slug: "x" { id } }'))).toEqual(['MNEMO_GRAPHQL_SYNTAX']);
    expect(codes(await gql(app!, '{ nothing }'))).toEqual(['MNEMO_GRAPHQL_VALIDATION']);
  });

  // The codes follow from where graphql-js reports an error (parser, validation rule, variable coercion), not from
  // its English message: these are the codes clients have always seen for each kind of mistake.
  it.each<{ query: string; variables?: Record<string, unknown>; operationName?: string; expected: string[] }>([
    { query: '{', expected: ['MNEMO_GRAPHQL_SYNTAX'] },
    { query: 'query { module(slug: "x") { id } } }', expected: ['MNEMO_GRAPHQL_SYNTAX'] },
    { query: '"unterminated', expected: ['MNEMO_GRAPHQL_SYNTAX'] },
    { query: '{ module { id } }', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: '{ module(slug: 5) { id } }', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: '{ apiVersion @nope }', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: '{ ...F } fragment F on Foo { apiVersion }', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: 'query A { apiVersion } query B { apiVersion }', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: 'query A { apiVersion }', operationName: 'C', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: 'query($s: Int = "a") { modules(first: $s) { nodes { id } } }', expected: ['MNEMO_GRAPHQL_VALIDATION'] },
    { query: 'query($s: String, $s: String) { module(slug: $s) { id } }', expected: ['MNEMO_GRAPHQL_VALIDATION', 'MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: 'query($s: Foo) { apiVersion }', expected: ['MNEMO_GRAPHQL_VALIDATION', 'MNEMO_GRAPHQL_BAD_VARIABLES'] },
    // A variable declared with an output type is a document error, like an unknown type (it was BAD_VARIABLES
    // while codes were read from messages, which began with "Variable").
    { query: 'query($s: Module!) { apiVersion }', expected: ['MNEMO_GRAPHQL_VALIDATION', 'MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: 'query($x: Int) { apiVersion }', expected: ['MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: '{ module(slug: $s) { id } }', expected: ['MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: 'query($s: Int) { module(slug: $s) { id } }', variables: { s: 1 }, expected: ['MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: 'query($n: Int) { modules(first: $n) { nodes { id } } }', variables: { n: 'x' }, expected: ['MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: 'query($n: Int) { modules(first: $n) { nodes { id } } }', variables: { n: 2 ** 40 }, expected: ['MNEMO_GRAPHQL_BAD_VARIABLES'] },
    { query: 'query($s: String!) { module(slug: $s) { id } }', expected: ['MNEMO_GRAPHQL_BAD_VARIABLES'] },
  ])('$query $variables -> $expected', async ({ query, variables, operationName, expected }) => {
    await appWith();
    const response = await app!.inject({ method: 'POST', url: '/graphql', payload: { query, variables, operationName } });
    expect(response.statusCode).toBe(400);
    expect(codes(response.json())).toEqual(expected);
  });

  it('reports bad variables with the same code once graphql-jit has compiled the query', async () => {
    await appWith({ jit: 1 });
    const query = 'query($slug: String!) { module(slug: $slug) { slug } }';
    // The second execution compiles the query; later ones run the compiled code, which coerces variables itself.
    for (let run = 0; run < 3; run++) expect((await gql(app!, query, { slug: 'networking' })).data).toEqual({ module: { slug: 'networking' } });
    for (const variables of [undefined, {}, { slug: 5 }, { slug: null }]) {
      const result = await gql(app!, query, variables);
      expect(result.statusCode, JSON.stringify(variables)).toBe(400);
      expect(codes(result), JSON.stringify(variables)).toEqual(['MNEMO_GRAPHQL_BAD_VARIABLES']);
    }
  });

  it('hides unexpected failures behind a generic message with the request id', async () => {
    await appWith();
    vi.spyOn(app!.content, 'listModules').mockImplementation(() => {
      throw new Error('SQLITE_ERROR: no such table: modules (SELECT * FROM modules) at /work/main/src/content/repository.ts:42');
    });
    const response = await app!.inject({ method: 'POST', url: '/graphql', payload: { query: '{ modules { nodes { slug } } }' } });
    expect(response.body).not.toMatch(/SQLITE|SELECT|repository\.ts|\/work\//);
    const body = response.json();
    expect(body.errors[0]).toMatchObject({
      message: expect.stringContaining('an unexpected error occurred'),
      extensions: { code: 'MNEMO_INTERNAL', requestId: response.headers['x-request-id'] },
    });
  });

  it('keeps other fields when one nullable field fails (partial data, status 200)', async () => {
    await appWith();
    vi.spyOn(app!.content, 'getFlashcard').mockImplementation(() => {
      throw new Error('boom');
    });
    const result = await gql(app!, '{ apiVersion flashcard(id: "x") { id } }');
    expect(result.statusCode).toBe(200);
    expect(result.data).toEqual({ apiVersion: '1', flashcard: null });
    expect(codes(result)).toEqual(['MNEMO_INTERNAL']);
  });
});

describe('GraphiQL', () => {
  it('is served in development and absent in production', async () => {
    await appWith({ graphiql: true }, 'development');
    expect((await app!.inject('/graphiql')).statusCode).toBe(200);
    await app!.close();
    await appWith({ graphiql: false }, 'production');
    expect((await app!.inject('/graphiql')).statusCode).toBe(404);
  });
});
