import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors, type Actors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

/**
 * Hostile input against every route: generated requests with wrong types, missing and extra fields, huge and
 * odd strings, prototype keys, malformed JSON, wrong content types, bad cursors and ids, under every kind of
 * caller. Must hold for each: no 5xx; every error is problem+json (GraphQL: errors with extensions.code); no
 * internals leak; a refused request changes no row. At the end the database passes integrity_check.
 */
const runs = Number(process.env.FUZZ_RUNS ?? 10_000);
/**
 * Fixed by default, so every run sends the same requests in the same order to a fresh app: a failure reproduces
 * from the seed (and FUZZ_RUNS, which only decides where the sequence stops). FUZZ_SEED picks another sequence;
 * FUZZ_PATH (from a failure report) replays only the shrunk counterexample.
 */
const seed = Number(process.env.FUZZ_SEED ?? 20_261_129);
const replayPath = process.env.FUZZ_PATH || undefined;
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(runs) || runs < 1) throw new Error(`FUZZ_SEED and FUZZ_RUNS must be integers (got ${process.env.FUZZ_SEED}, ${process.env.FUZZ_RUNS})`);
const reproduce = `FUZZ_SEED=${seed} FUZZ_RUNS=${runs} npx vitest run test/security/fuzz.test.ts`;

let app: FastifyInstance;
let actors: Actors;
let ids: { user: string; card: string; key: string };

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
  await app.content.importModule(JSON.stringify(generatedModule('fuzz-module', 3)), 'json');
  await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
  const spareKey = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'spare' } });
  ids = { user: actors.learner.userId, card: actors.deck[0]!, key: spareKey.json().id };
});
afterAll(() => app.close());

const weirdStrings = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '__proto__',
    'constructor',
    'prototype',
    '../../etc/passwd',
    '%00',
    '\u0000',
    '\uFEFF',
    '\uD800',
    '🦀'.repeat(50),
    'null',
    'undefined',
    'NaN',
    '-1',
    '1e309',
    '0x10',
    "' OR 1=1 --",
    '"; DROP TABLE answers; --',
    '<script>alert(1)</script>',
    '{{7*7}}',
    '${jndi:ldap://x}',
    'eyJsIjoibW9kdWxlcyIsInNsdWciOiJ6In0',
    'a'.repeat(5000),
  ),
);

const anyValue = fc.oneof(
  weirdStrings,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);

/** An object shaped like a request body: known fields with hostile values, missing fields, extra and prototype keys. */
const bodyLike = (known: Record<string, fc.Arbitrary<unknown>>) =>
  fc
    .tuple(
      fc.record(Object.fromEntries(Object.entries(known).map(([key, arbitrary]) => [key, fc.oneof(arbitrary, anyValue)])), { requiredKeys: [] }),
      fc.dictionary(fc.oneof(weirdStrings, fc.constantFrom('__proto__', 'constructor', 'userId', 'role', 'id')), anyValue, { maxKeys: 2 }),
    )
    .map(([body, extra]) => ({ ...extra, ...body }));

const answerBody = bodyLike({
  clientAnswerId: fc.uuid(),
  flashcardId: fc.constantFrom('fc_missing', 'x'),
  rating: fc.integer({ min: -2, max: 6 }),
  correct: fc.boolean(),
  answeredAt: fc.constantFrom('2026-11-01T00:00:00Z', '2099-01-01T00:00:00Z', 'yesterday', '2026-13-45T99:99:99Z'),
  durationMs: fc.integer({ min: -10, max: 1e10 }),
  response: fc.string({ maxLength: 50 }),
});

const idArb = () => fc.oneof(weirdStrings, fc.constantFrom(ids.user, ids.card, ids.key, 'networking', 'fuzz-module'));
const queryArb = (keys: string[]) => fc.dictionary(fc.oneof(fc.constantFrom(...keys), weirdStrings), fc.oneof(weirdStrings, fc.integer().map(String)), { maxKeys: 4 });

interface Generated {
  method: InjectOptions['method'];
  url: string;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
}

/** Lone surrogates cannot be percent-encoded; the server sees them as U+FFFD either way. */
const encode = (value: string) => encodeURIComponent((value as string & { toWellFormed(): string }).toWellFormed());
const path = (segments: TemplateStringsArray, ...values: string[]) =>
  segments.reduce((url, segment, index) => url + segment + (index < values.length ? encode(values[index]!) : ''), '');

/** Built after setup, since it draws on the ids created there. */
const requestArbitrary = (): fc.Arbitrary<Generated> => fc.oneof(
  fc.tuple(queryArb(['limit', 'cursor', 'tag', 'format'])).map(([query]) => ({ method: 'GET' as const, url: `/v1/modules?${new URLSearchParams(query)}` })),
  fc
    .tuple(idArb(), fc.constantFrom('', '/takeaways', '/flashcards', '/cheat-sheet', '/revision-items', '/versions', '/versions/1', '/versions/x', '/export'), queryArb(['format']))
    .map(([slug, view, query]) => ({ method: 'GET' as const, url: `${path`/v1/modules/${slug}`}${view}?${new URLSearchParams(query)}` })),
  fc.tuple(idArb(), queryArb(['format'])).map(([id, query]) => ({ method: 'GET' as const, url: `${path`/v1/flashcards/${id}`}?${new URLSearchParams(query)}` })),
  fc.tuple(queryArb(['q', 'module', 'kind', 'limit'])).map(([query]) => ({ method: 'GET' as const, url: `/v1/search?${new URLSearchParams(query)}` })),
  fc.tuple(queryArb(['since', 'limit'])).map(([query]) => ({ method: 'GET' as const, url: `/v1/changes?${new URLSearchParams(query)}` })),
  fc.tuple(fc.constantFrom('/v1/me/answers', path`/v1/users/${'placeholder'}/answers`), answerBody).map(([url, body]) => ({
    method: 'POST' as const,
    url: url.replace('placeholder', ids.user),
    body,
  })),
  fc.tuple(fc.oneof(fc.array(answerBody, { maxLength: 5 }), anyValue), fc.boolean()).map(([answers, wrap]) => ({
    method: 'POST' as const,
    url: '/v1/me/answers/batch',
    body: wrap ? { answers } : answers,
  })),
  fc
    .tuple(fc.constantFrom('answers', 'cards', 'study', 'progress'), fc.boolean(), idArb(), queryArb(['limit', 'cursor', 'module', 'flashcardId', 'since', 'until', 'due', 'newLimit', 'format']))
    .map(([resource, me, userId, query]) => ({
      method: 'GET' as const,
      url: `${me ? '/v1/me' : path`/v1/users/${userId}`}/${resource}?${new URLSearchParams(query)}`,
    })),
  bodyLike({ externalId: fc.string({ maxLength: 30 }), displayName: fc.string({ maxLength: 30 }) }).map((body) => ({ method: 'POST' as const, url: '/v1/users', body })),
  fc.tuple(queryArb(['externalId'])).map(([query]) => ({ method: 'GET' as const, url: `/v1/users?${new URLSearchParams(query)}` })),
  fc
    .tuple(idArb(), fc.constantFrom('', '/export'))
    .map(([userId, suffix]) => ({ method: 'GET' as const, url: `${path`/v1/users/${userId}`}${suffix}` })),
  fc.tuple(idArb(), bodyLike({ name: fc.string({ maxLength: 20 }) })).map(([userId, body]) => ({ method: 'POST' as const, url: `${path`/v1/users/${userId}`}/keys`, body })),
  bodyLike({ role: fc.constantFrom('admin', 'integration', 'learner', 'root'), name: fc.string({ maxLength: 20 }) }).map((body) => ({ method: 'POST' as const, url: '/v1/keys', body })),
  weirdStrings.map((id) => ({ method: 'DELETE' as const, url: path`/v1/keys/${id}` })),
  weirdStrings.map((id) => ({ method: 'DELETE' as const, url: path`/v1/users/${id}` })),
  fc
    .tuple(fc.oneof(weirdStrings, fc.constantFrom('---\nslug: fuzz-import\ntitle: T\n---\n## Nope', '{"slug":"fuzz-import"}', '---\n: : :\n---')), fc.constantFrom('text/markdown', 'application/json', 'text/plain', 'application/xml'), queryArb(['dryRun']))
    .map(([rawBody, contentType, query]) => ({ method: 'POST' as const, url: `/v1/admin/modules?${new URLSearchParams(query)}`, rawBody, contentType })),
  idArb().map((slug) => ({ method: 'DELETE' as const, url: path`/v1/admin/modules/${slug}x` })),
  fc
    .tuple(
      fc.oneof(
        weirdStrings,
        fc.constantFrom('{ module(slug: "networking") { title } }', '{ modules(first: 1000) { nodes { slug } } }', 'mutation { recordAnswer(input: {}) { id } }', '{ __schema { types { name } } }', '{ a'),
      ),
      fc.oneof(anyValue, fc.constant(undefined)),
    )
    .map(([query, variables]) => ({ method: 'POST' as const, url: '/graphql', body: { query, variables } })),
  fc.tuple(fc.string({ maxLength: 60 }), fc.constantFrom('/v1/me/answers', '/v1/users', '/graphql', '/v1/keys')).map(([rawBody, url]) => ({
    method: 'POST' as const,
    url,
    rawBody,
    contentType: 'application/json',
  })),
  fc.tuple(fc.string({ maxLength: 30 }), fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/xml')).map(([rawBody, contentType]) => ({
    method: 'POST' as const,
    url: '/v1/me/answers',
    rawBody,
    contentType,
  })),
  fc
    .constantFrom('/v1/modules/%E0%A4%A', '/v1/modules/%', '/v1/flashcards/%00', '/v1/modules?limit=%ZZ', '/v1/search?q=%F0%9F', '//v1//modules', '/v1/modules/..%2F..%2Fetc', '/v1/modules?format[]=html&format[]=text')
    .map((url) => ({ method: 'GET' as const, url })),
  fc.tuple(fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD') as fc.Arbitrary<InjectOptions['method']>, fc.constantFrom('/v1/modules', '/v1/me/answers', '/graphql')).map(([method, url]) => ({ method, url })),
);

// Valid callers are drawn more often than anonymous and broken ones, so most requests get past authentication.
const callerArb = (): fc.Arbitrary<Record<string, string>> =>
  fc.oneof(
    { arbitrary: fc.constant(actors.admin), weight: 3 },
    { arbitrary: fc.constant(actors.integration), weight: 3 },
    { arbitrary: fc.constant(actors.learner.headers), weight: 3 },
    { arbitrary: fc.constant({}), weight: 2 },
    { arbitrary: fc.constantFrom({ authorization: 'Bearer mnemo_' + 'A'.repeat(43) }, { authorization: 'Basic Zm9vOmJhcg==' }, { authorization: '' }), weight: 1 },
  );

const tables = ['modules', 'flashcards', 'users', 'api_keys', 'answers', 'card_states', 'changes', 'module_versions'];
const snapshot = async () => (await Promise.all(tables.map((table) => countRows(app, table)))).join(',');

describe('hostile input fuzzing', () => {
  it('draws the same requests from the same seed, and others from another', () => {
    const draw = (from: number) => fc.sample(fc.tuple(requestArbitrary(), callerArb()), { seed: from, numRuns: 200 });
    expect(draw(seed)).toEqual(draw(seed));
    expect(draw(seed + 1)).not.toEqual(draw(seed));
  });

  it(`holds its guarantees for ${runs} generated requests (seed ${seed})`, async () => {
    console.log(`fuzz: seed ${seed}, ${runs} runs${replayPath ? `, replaying path ${replayPath}` : ''}; reproduce with ${reproduce}`);
    const statusCounts = new Map<number, number>();
    const details = await fc.check(
      fc.asyncProperty(requestArbitrary(), callerArb(), async (generated, caller) => {
        // Routes that erase or revoke must not take the fuzzer's own actors with them.
        fc.pre(!(generated.method === 'DELETE' && [ids.user, ids.key].some((id) => generated.url.includes(id))));
        const before = await snapshot();
        const headers: Record<string, string> = { ...caller };
        if (generated.contentType) headers['content-type'] = generated.contentType;
        const response = await app.inject({
          method: generated.method,
          url: generated.url,
          headers,
          ...(generated.rawBody !== undefined ? { payload: generated.rawBody } : generated.body !== undefined ? { payload: JSON.stringify(generated.body), headers: { ...headers, 'content-type': 'application/json' } } : {}),
        });
        statusCounts.set(response.statusCode, (statusCounts.get(response.statusCode) ?? 0) + 1);
        expect(response.statusCode, `${generated.method} ${generated.url}`).toBeLessThan(500);
        expect(response.body).not.toMatch(/\bat .+\.(ts|js):\d+|SQLITE_|SELECT .* FROM|\/work\/main/);
        if (response.statusCode >= 400 && generated.method !== 'HEAD') {
          if (generated.url.startsWith('/graphql') && !String(response.headers['content-type']).includes('problem+json')) {
            const body = response.json() as { errors?: { extensions?: { code?: string } }[] };
            expect(body.errors?.[0]?.extensions?.code, response.body).toEqual(expect.any(String));
          } else {
            expect(response.headers['content-type'], response.body).toContain('application/problem+json');
            expect(response.json().code).toMatch(/^MNEMO_/);
          }
          expect(await snapshot(), `${generated.method} ${generated.url} -> ${response.statusCode}`).toBe(before);
        }
      }),
      { numRuns: runs, seed, ...(replayPath ? { path: replayPath } : {}) },
    );
    if (details.failed) {
      // fast-check's report names the counterexample, the seed and the path; the first line says how to rerun.
      throw new Error(
        `fuzz failed after ${details.numRuns} requests. Reproduce the whole run with ${reproduce}; ` +
          `replay only the counterexample with FUZZ_PATH=${details.counterexamplePath} added.\n${fc.defaultReportMessage(details)}`,
        { cause: details.errorInstance },
      );
    }
    // SQLite's own check of its file; PostgreSQL keeps no file of ours to check (its constraints held throughout).
    if (app.store.engine === 'sqlite') expect(app.store.sqlite.sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
    console.log(`fuzz: ${runs} requests (seed ${seed}), statuses ${JSON.stringify(Object.fromEntries([...statusCounts].sort()))}`);
  }, 300_000);
});
