import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { snippetSegments } from '../../src/search/service.js';
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
  changedAt: string;
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
      { entity: 'module', id: expect.any(String), moduleSlug: 'networking', op: 'upsert', version: 2, changedAt: expect.any(String) },
      { entity: 'flashcard', id: deck[0].id, moduleSlug: 'networking', op: 'upsert', version: 2, changedAt: expect.any(String) },
    ]);
    cursor = page.nextCursor;

    await app.content.importModule(JSON.stringify(generatedModule('second', 2)), 'json');
    await app.content.importModule(seedSource().replace(/### Why might a NetworkPolicy[^\n]*\n\n[^\n]*\n\n/, '').replace('kube-proxy (using', 'kube-proxy (in'), 'markdown');
    await app.content.archiveModule('second');
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

  it('dates every entry with changedAt, the time its transaction wrote it', async () => {
    const { nextCursor } = await feed();
    const before = new Date().toISOString();
    await app.content.importModule(seedSource().replace('kube-proxy (using', 'kube-proxy (in'), 'markdown');
    await app.content.archiveModule('networking');
    await app.content.restoreModule('networking');
    const after = new Date().toISOString();
    const { changes } = await feed(nextCursor);
    expect(changes.map((change) => change.op)).toEqual(['upsert', 'upsert', 'archive', 'upsert']);
    for (const change of changes) {
      expect(change.changedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(change.changedAt >= before && change.changedAt <= after, change.changedAt).toBe(true);
    }
    // Commit order is time order.
    expect(changes.map((change) => change.changedAt)).toEqual(changes.map((change) => change.changedAt).sort());
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

interface Hit {
  kind: string;
  moduleSlug: string;
  id: string;
  title: string;
  snippet: { text: string; match: boolean }[];
  score: number;
}

const joined = (snippet: Hit['snippet']) => snippet.map((segment) => segment.text).join('');

describe('GET /v1/search', () => {
  const search = async (query: string) => {
    const response = await app.inject(`/v1/search?${query}`);
    return { status: response.statusCode, body: response.json() };
  };

  it('finds every kind of content, best first, with the matched terms marked in the snippets', async () => {
    const { body } = await search('q=ingress');
    const kinds = new Set(body.items.map((item: { kind: string }) => item.kind));
    expect(kinds).toEqual(new Set(['takeaway', 'flashcard', 'cheatSheetRow', 'revisionItem']));
    const scores = body.items.map((item: { score: number }) => item.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(body.items[0]).toMatchObject({ moduleSlug: 'networking', id: expect.any(String), title: expect.any(String) });
    expect(body.items.some((item: Hit) => item.snippet.some((segment) => segment.match && segment.text === 'Ingress'))).toBe(true);
    for (const item of body.items as Hit[]) {
      expect(item.snippet.length, item.id).toBeGreaterThan(0);
      expect(item.snippet.filter((segment) => segment.match).map((segment) => segment.text.toLowerCase())).toEqual(
        expect.arrayContaining(['ingress']),
      );
    }
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

  it('filters by module and kind, and keeps content as plain text in snippets', async () => {
    await app.content.importModule(JSON.stringify(generatedModule('other', 2)), 'json');
    expect((await search('q=ingress&module=other')).body.items).toEqual([]);
    const cards = (await search('q=ingress&kind=flashcard')).body.items;
    expect(cards.every((item: { kind: string }) => item.kind === 'flashcard')).toBe(true);
    const snippets = ((await search('q=svc')).body.items as Hit[]).map((item) => joined(item.snippet));
    expect(snippets.some((text) => text.includes('<svc>.<ns>.svc.cluster.local'))).toBe(true);
    expect(snippets.join(' ')).not.toMatch(/&lt;|&gt;|&amp;|<mark>/);
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
    await app.content.archiveModule('networking');
    expect((await search('q=ingress')).body.items).toEqual([]);
  });

  it('is served over GraphQL with the same results', async () => {
    const rest = (await search('q=ingress&limit=5')).body.items;
    const graphql = await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ search(query: "ingress", first: 5) { kind moduleSlug id title snippet { text match } score } }' } });
    expect(graphql.json().data.search).toEqual(rest);
  });
});

describe('search results: one escaping contract for every field (plain text, never HTML)', () => {
  // Every text of this module holds what HTML would interpret: tags, ampersands, both quotes, and the control
  // characters the index uses to mark matches.
  const hostile = generatedModule('hostile', 1, {
    title: `Hostile <script>alert("t&t")</script> & 'quotes'`,
    summary: `Summary with <img src=x onerror="alert(1)"> & "double" 'single' quotes, hostile.`,
    takeaways: [{ title: `Takeaway <b>bold</b> & "q" hostile`, body: `Body <script>alert('b')</script> & more` }],
    flashcards: [{ key: 'card', question: `Is <script>x</script> & "y" 'z' hostile?`, answer: `Answer <i>hostile</i> & "quoted" \u0002fake mark\u0003 end` }],
    cheatSheet: { columns: ['Name', 'Value'], rows: [[`<em>cell</em> & "c" hostile`, `value <u>v</u> & 'w'`]] },
    revisionItems: [{ term: `<Term> & "t" hostile`, definition: `definition <def> & 'd'` }],
  });
  const titles: Record<string, string> = {
    module: `Hostile <script>alert("t&t")</script> & 'quotes'`,
    takeaway: `Takeaway <b>bold</b> & "q" hostile`,
    flashcard: `Is <script>x</script> & "y" 'z' hostile?`,
    cheatSheetRow: `<em>cell</em> & "c" hostile`,
    revisionItem: `<Term> & "t" hostile`,
  };
  const query = '{ search(query: "hostile", module: "hostile", first: 50) { kind moduleSlug id title snippet { text match } score } }';

  it('returns title and snippet as the raw text, highlights as data, identically over REST and GraphQL', async () => {
    await app.content.importModule(JSON.stringify(hostile), 'json');
    const rest = await app.inject('/v1/search?q=hostile&module=hostile&limit=50');
    expect(rest.statusCode).toBe(200);
    const items = rest.json().items as Hit[];
    expect(new Set(items.map((item) => item.kind))).toEqual(new Set(Object.keys(titles)));

    for (const item of items) {
      // The title is exactly what the author wrote: not escaped, not marked up.
      expect(item.title, item.kind).toBe(titles[item.kind]);
      // The snippet is plain text too: its pieces joined are an excerpt of the raw title or body text.
      const text = joined(item.snippet);
      expect(text, item.kind).toMatch(/[<&"']/);
      for (const piece of text.split('…').filter(Boolean)) expect(`${item.title}\n${bodyOf(item.kind)}`, item.kind).toContain(piece.replace(/^ +| +$/g, ''));
      // Only the matched word is marked, and the marker characters in the content mark nothing.
      expect(item.snippet.filter((segment) => segment.match).map((segment) => segment.text.toLowerCase())).toEqual(
        expect.arrayContaining(['hostile']),
      );
      expect(item.snippet.filter((segment) => segment.match).every((segment) => segment.text.toLowerCase() === 'hostile')).toBe(true);
      // No field of any hit is HTML: no entity the server made, no markup it added.
      for (const value of [item.kind, item.moduleSlug, item.id, item.title, ...item.snippet.map((segment) => segment.text)]) {
        expect(value).not.toMatch(/&(lt|gt|amp|quot|apos|#x?[0-9a-f]+);|<\/?mark>/i);
        expect(value.includes('\u0002') || value.includes('\u0003'), value).toBe(false);
      }
    }
    // The index's own marker characters, written into content, mark nothing: only the matched words are marked.
    const card = items.find((item) => item.kind === 'flashcard')!;
    const cardByItsAnswer = (await app.inject('/v1/search?q=quoted&module=hostile&kind=flashcard')).json().items as Hit[];
    expect(cardByItsAnswer.map((item) => item.id)).toEqual([card.id]);
    expect(cardByItsAnswer[0]!.snippet.filter((segment) => segment.match)).toEqual([{ text: 'quoted', match: true }]);
    expect(joined(cardByItsAnswer[0]!.snippet)).toContain('"quoted"  fake mark  end');

    const graphql = await app.inject({ method: 'POST', url: '/graphql', payload: { query } });
    expect(graphql.json()).toEqual({ data: { search: items } });

    // The contract is in the OpenAPI document (derived from the response schema).
    const hit = (await app.inject('/openapi.json')).json().components.schemas.SearchHit;
    expect(hit.properties.title.description).toMatch(/plain text, never HTML/i);
    expect(hit.properties.snippet.items.$ref).toBe('#/components/schemas/SnippetSegment');
  });

  it('turns FTS5 snippets into segments: adjacent pieces joined, empty ones dropped, stray markers harmless', () => {
    const [start, end] = [String.fromCharCode(2), String.fromCharCode(3)];
    expect(snippetSegments(`…a ${start}b${end}${start}c${end} <d>${start}${end}…`)).toEqual([
      { text: '…a ', match: false },
      { text: 'bc', match: true },
      { text: ' <d>…', match: false },
    ]);
    expect(snippetSegments('')).toEqual([]);
    expect(snippetSegments(`x${end}y`)).toEqual([{ text: 'xy', match: false }]);
  });

  function bodyOf(kind: string): string {
    const bodies: Record<string, string> = {
      module: `Summary with <img src=x onerror="alert(1)"> & "double" 'single' quotes, hostile.`,
      takeaway: `Body <script>alert('b')</script> & more`,
      flashcard: `Answer <i>hostile</i> & "quoted"  fake mark  end`,
      cheatSheetRow: `value <u>v</u> & 'w'`,
      revisionItem: `definition <def> & 'd'`,
    };
    return bodies[kind]!;
  }
});
