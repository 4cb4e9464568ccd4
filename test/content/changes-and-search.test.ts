import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';

let app: FastifyInstance;
beforeEach(async () => {
  app = await buildTestApp({ seed: true });
});
afterEach(() => app.close());

interface Change {
  entity: string;
  id: string;
  moduleSlug: string;
  op: string;
  version: number;
}

async function feed(since?: string, limit = 1000): Promise<{ changes: Change[]; nextCursor: string; hasMore: boolean }> {
  const query = new URLSearchParams({ limit: String(limit), ...(since ? { since } : {}) });
  const response = await app.inject(`/v1/changes?${query}`);
  expect(response.statusCode).toBe(200);
  return response.json();
}

describe('GET /v1/changes', () => {
  it('from the beginning lists the seed: the module and each of its cards', async () => {
    const { changes, nextCursor, hasMore } = await feed();
    expect(changes).toHaveLength(6);
    expect(changes[0]).toMatchObject({ entity: 'module', moduleSlug: 'networking', op: 'upsert', version: 1 });
    expect(changes.slice(1).every((change) => change.entity === 'flashcard' && change.op === 'upsert')).toBe(true);
    expect(hasMore).toBe(false);
    expect((await feed(nextCursor)).changes).toEqual([]);
  });

  it('gives a client that stored nextCursor exactly what changed since, across several imports', async () => {
    let cursor = (await feed()).nextCursor;
    const deck = (await app.inject('/v1/modules/networking/flashcards')).json().items;

    await app.content.importModule(seedSource().replace('kube-proxy (using', 'kube-proxy (in'), 'markdown');
    let page = await feed(cursor);
    expect(page.changes).toEqual([
      { entity: 'module', id: expect.any(String), moduleSlug: 'networking', op: 'upsert', version: 2 },
      { entity: 'flashcard', id: deck[0].id, moduleSlug: 'networking', op: 'upsert', version: 2 },
    ]);
    cursor = page.nextCursor;

    await app.content.importModule(JSON.stringify(generatedModule('second', 2)), 'json');
    await app.content.importModule(seedSource().replace(/### Why might a NetworkPolicy[^\n]*\n\n[^\n]*\n\n/, '').replace('kube-proxy (using', 'kube-proxy (in'), 'markdown');
    app.content.archiveModule('second');
    page = await feed(cursor);
    expect(page.changes.map((change) => [change.entity, change.moduleSlug, change.op])).toEqual([
      ['module', 'second', 'upsert'],
      ['flashcard', 'second', 'upsert'],
      ['flashcard', 'second', 'upsert'],
      ['module', 'networking', 'upsert'],
      ['flashcard', 'networking', 'archive'],
      ['module', 'second', 'archive'],
    ]);
    expect(page.changes[4]!.id).toBe(deck[4].id);
    // Unchanged imports add nothing.
    await app.content.importModule(JSON.stringify(generatedModule('second', 2)), 'json');
    expect((await feed(page.nextCursor)).changes).toEqual([]);
  });

  it('pages without gaps or repeats', async () => {
    for (let index = 0; index < 5; index++) await app.content.importModule(JSON.stringify(generatedModule(`paged-${index}`, 3)), 'json');
    const everything = (await feed()).changes;
    const seen: Change[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await feed(cursor, 7);
      seen.push(...page.changes);
      cursor = page.nextCursor;
      if (!page.hasMore) break;
    }
    expect(seen).toEqual(everything);
    expect(everything).toHaveLength(6 + 5 * 4);
  });

  it('rejects malformed cursors and limits', async () => {
    for (const query of ['since=garbage', 'since=eyJsIjoibW9kdWxlcyIsInNsdWciOiJhIn0', 'limit=0', 'limit=1001', 'limit=x']) {
      const response = await app.inject(`/v1/changes?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
    }
  });
});

describe('GET /v1/search', () => {
  const search = async (query: string) => {
    const response = await app.inject(`/v1/search?${query}`);
    return { status: response.statusCode, body: response.json() };
  };

  it('finds every kind of content, best first, with marked snippets', async () => {
    const { body } = await search('q=ingress');
    const kinds = new Set(body.items.map((item: { kind: string }) => item.kind));
    expect(kinds).toEqual(new Set(['takeaway', 'flashcard', 'cheatSheetRow', 'revisionItem']));
    const scores = body.items.map((item: { score: number }) => item.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(body.items[0]).toMatchObject({ moduleSlug: 'networking', id: expect.any(String), title: expect.any(String) });
    expect(body.items.some((item: { snippet: string }) => item.snippet.includes('<mark>Ingress</mark>'))).toBe(true);
    expect((await search('q=Module%20Review')).body.items[0]).toMatchObject({ kind: 'module', title: 'Module Review: Networking' });
  });

  it('ranks a match in a title above a match in a body', async () => {
    const { body } = await search('q=coredns');
    expect(body.items.map((item: { kind: string }) => item.kind)).toEqual(expect.arrayContaining(['takeaway', 'flashcard']));
    const { body: titles } = await search('q=networkpolicy');
    expect(titles.items[0]).toMatchObject({ kind: 'revisionItem', title: 'NetworkPolicy' });
  });

  it('matches the last word as a prefix (type-ahead), and all words are required', async () => {
    expect((await search('q=kube-prox')).body.items[0].title).toBe('What component implements Service VIPs (ClusterIP)?');
    expect((await search('q=flannel%20calico')).body.items.length).toBeGreaterThan(0);
    expect((await search('q=flannel%20zzzunknown')).body.items).toEqual([]);
  });

  it('filters by module and kind, and escapes content in snippets', async () => {
    await app.content.importModule(JSON.stringify(generatedModule('other', 2)), 'json');
    expect((await search('q=ingress&module=other')).body.items).toEqual([]);
    const cards = (await search('q=ingress&kind=flashcard')).body.items;
    expect(cards.every((item: { kind: string }) => item.kind === 'flashcard')).toBe(true);
    const escaped = (await search('q=svc')).body.items[0].snippet;
    expect(escaped).toContain('&lt;');
    expect(escaped).not.toMatch(/<svc>/);
    expect((await search('q=ingress&module=missing')).status).toBe(404);
  });

  it('never lets input reach FTS syntax: hostile queries give 400 or a sensible result, never 500', async () => {
    const hostile = ['"', '""', 'ingress"', '(', ')', '(ingress', 'ingress OR', 'NOT ingress', 'ingress AND', '*', 'ingr*', 'NEAR(a b)', 'title:ingress', '-ingress', '^ingress', "'; DROP TABLE modules; --", '\u0000', 'ṡvc', '🦀', 'a'.repeat(200), 'ingress '.repeat(30)];
    for (const q of hostile) {
      const { status, body } = await search(`q=${encodeURIComponent(q)}`);
      expect([200, 400], q).toContain(status);
      if (status === 400) expect(body.code).toBe('MNEMO_REQUEST_INVALID');
    }
    // A column filter is just two words here, both required.
    expect((await search('q=title%3Aingress')).status).toBe(200);
    expect((await search(`q=${'a'.repeat(201)}`)).status).toBe(400);
    expect((await search('q=')).status).toBe(400);
    expect((await search('q=%22%29')).status).toBe(400);
  });

  it('drops archived modules and removed flashcards from the index', async () => {
    await app.content.importModule(seedSource().replace(/### Why might a NetworkPolicy[^\n]*\n\n[^\n]*\n\n/, ''), 'markdown');
    expect((await search('q=underlying&kind=flashcard')).body.items).toEqual([]);
    app.content.archiveModule('networking');
    expect((await search('q=ingress')).body.items).toEqual([]);
  });

  it('is served over GraphQL with the same results', async () => {
    const rest = (await search('q=ingress&limit=5')).body.items;
    const graphql = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ search(query: "ingress", first: 5) { kind moduleSlug id title snippet score } }' } });
    expect(graphql.json().data.search).toEqual(rest);
  });
});
