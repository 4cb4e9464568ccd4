import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { moduleSelection } from '../helpers/graphql.js';

let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/graphql`;
});
afterAll(() => app.close());

/** A minimal GraphQL-over-HTTP client, as a mobile app would send. */
async function post(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { data?: any; errors?: any[] } };
}

describe('GraphQL over a real socket', () => {
  const query = `query Module($slug: String!) { module(slug: $slug) { ${moduleSelection('MARKDOWN')} } }`;

  it('answers POST with variables, compressed when asked, equal to REST', async () => {
    const { status, headers, body } = await post({ query, variables: { slug: 'networking' } }, { 'accept-encoding': 'gzip' });
    expect(status).toBe(200);
    expect(headers.get('content-encoding')).toBe('gzip');
    const rest = await (await fetch(url.replace('/graphql', '/v1/modules/networking'))).json();
    expect(body.data.module).toEqual(rest);
  });

  it('answers GET for queries', async () => {
    const params = new URLSearchParams({ query: '{ module(slug: "networking") { slug version } }' });
    const response = await fetch(`${url}?${params}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { module: { slug: 'networking', version: 1 } } });
  });

  it('supports automatic persisted queries: unknown hash, then hash with query, then hash alone', async () => {
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const unknown = await post({ extensions, variables: { slug: 'networking' } });
    expect(unknown.body.errors![0]).toMatchObject({ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } });
    const registered = await post({ query, extensions, variables: { slug: 'networking' } });
    expect(registered.body.data.module.slug).toBe('networking');
    const byHash = await post({ extensions, variables: { slug: 'networking' } });
    expect(byHash.body).toEqual(registered.body);
  });

  it('rejects a persisted query whose hash does not match its text', async () => {
    const mismatch = await post({ query, extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } }, variables: { slug: 'networking' } });
    expect(mismatch.body.errors![0].extensions.code).toBe('MNEMO_GRAPHQL_BAD_REQUEST');
  });

  it('answers malformed JSON bodies with a GraphQL error, not a 500', async () => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('MNEMO_REQUEST_INVALID');
  });
});
