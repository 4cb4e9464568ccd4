import { readFileSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleDto, ModuleSummaryDto } from '../../src/content/schemas.js';
import { buildTestApp, repoRoot } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';

let app: FastifyInstance;
let networking: ModuleDto;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  for (const slug of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) {
    await app.content.importModule(JSON.stringify(generatedModule(slug, 2, { tags: slug === 'charlie' ? ['special'] : ['generated'] })), 'json');
  }
  await app.content.importModule(JSON.stringify({ ...generatedModule('no-sheet', 1), cheatSheet: undefined }), 'json');
  await app.content.importModule(JSON.stringify(generatedModule('versioned', 2)), 'json');
  networking = (await app.inject('/v1/modules/networking')).json();
});
afterAll(() => app.close());

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

function expectProblem(response: Awaited<ReturnType<typeof get>>, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const body = response.json();
  expect(body).toMatchObject({ status, code, type: expect.stringMatching(/^urn:mnemo:problem:/), title: expect.any(String), detail: expect.any(String) });
  expect(body.requestId).toBe(response.headers['x-request-id']);
  expect(response.body).not.toMatch(/at .*\.(ts|js):\d+|SELECT|sqlite/i);
  return body;
}

describe('GET /v1/modules/:slug', () => {
  it('returns the whole module with all four sections in order', () => {
    expect(networking).toMatchObject({ slug: 'networking', version: 1, id: expect.stringMatching(/^mod_/) });
    expect(Object.keys(networking)).toEqual(['id', 'slug', 'title', 'summary', 'tags', 'version', 'createdAt', 'updatedAt', 'takeaways', 'flashcards', 'cheatSheet', 'revisionItems']);
    for (const section of [networking.takeaways, networking.flashcards, networking.revisionItems, networking.cheatSheet!.rows]) {
      expect(section.map((item) => item.position)).toEqual([0, 1, 2, 3, 4]);
    }
    expect(Date.parse(networking.createdAt)).not.toBeNaN();
  });

  it('serves html and text renderings of every text field, same ids and structure', async () => {
    const html: ModuleDto = (await get('/v1/modules/networking?format=html')).json();
    const text: ModuleDto = (await get('/v1/modules/networking?format=text')).json();
    expect(html.takeaways[0]!.body).toBe(
      '<p>They provide a stable IP and DNS name for dynamic Pods. <code>ClusterIP</code> uses virtual IPs managed by <code>iptables</code>/<code>IPVS</code>.</p>',
    );
    expect(text.takeaways[0]!.body).toBe('They provide a stable IP and DNS name for dynamic Pods. ClusterIP uses virtual IPs managed by iptables/IPVS.');
    expect(html.cheatSheet!.rows[0]!.cells[2]).toBe('<code>type: ClusterIP</code>, <code>selector</code>');
    expect(text.cheatSheet!.rows[0]!.cells[2]).toBe('type: ClusterIP, selector');
    expect(html.summary).toMatch(/^<p>This module/);
    const ids = (module: ModuleDto) => [module.id, ...module.takeaways.map((t) => t.id), ...module.flashcards.map((f) => f.id), ...module.revisionItems.map((r) => r.id)];
    expect(ids(html)).toEqual(ids(networking));
    expect(ids(text)).toEqual(ids(networking));
  });

  it('answers 404 problem+json for an unknown module and 400 for a bad slug or format', async () => {
    expectProblem(await get('/v1/modules/does-not-exist'), 404, 'MNEMO_CONTENT_MODULE_NOT_FOUND');
    const badSlug = expectProblem(await get('/v1/modules/Not_A_Slug'), 400, 'MNEMO_REQUEST_INVALID');
    expect(badSlug.errors[0].path).toBe('params.slug');
    const badFormat = expectProblem(await get('/v1/modules/networking?format=pdf'), 400, 'MNEMO_REQUEST_INVALID');
    expect(badFormat.errors[0].path).toBe('querystring.format');
    expectProblem(await get('/v1/modules/networking?unknown=1'), 400, 'MNEMO_REQUEST_INVALID');
  });
});

describe('section endpoints', () => {
  it('serve each section as { items } in order, identical to the module', async () => {
    expect((await get('/v1/modules/networking/takeaways')).json()).toEqual({ items: networking.takeaways });
    expect((await get('/v1/modules/networking/flashcards')).json()).toEqual({ items: networking.flashcards });
    expect((await get('/v1/modules/networking/revision-items')).json()).toEqual({ items: networking.revisionItems });
    expect((await get('/v1/modules/networking/cheat-sheet')).json()).toEqual(networking.cheatSheet);
  });

  it('honour the format on sections too', async () => {
    const deck = (await get('/v1/modules/networking/flashcards?format=html')).json();
    expect(deck.items[1].answer).toBe('<p>Via DNS lookup (CoreDNS). It resolves <code>db.namespace.svc...</code> to the ClusterIP.</p>');
  });

  it('answer 404 for the cheat sheet of a module that has none, and for unknown modules', async () => {
    expect((await get('/v1/modules/no-sheet')).json().cheatSheet).toBeNull();
    expectProblem(await get('/v1/modules/no-sheet/cheat-sheet'), 404, 'MNEMO_CONTENT_CHEAT_SHEET_NOT_FOUND');
    for (const section of ['takeaways', 'flashcards', 'cheat-sheet', 'revision-items']) {
      expectProblem(await get(`/v1/modules/nope/${section}`), 404, 'MNEMO_CONTENT_MODULE_NOT_FOUND');
    }
  });
});

describe('GET /v1/flashcards/:id', () => {
  it('returns one flashcard with its module slug in any format', async () => {
    const card = networking.flashcards[2]!;
    expect((await get(`/v1/flashcards/${card.id}`)).json()).toEqual({ ...card, moduleSlug: 'networking', archived: false });
    expect((await get(`/v1/flashcards/${card.id}?format=text`)).json().question).toBe('What is the difference between LoadBalancer and Ingress?');
  });

  it('answers 404 for an unknown id', async () => {
    expectProblem(await get('/v1/flashcards/fc_unknown'), 404, 'MNEMO_CONTENT_FLASHCARD_NOT_FOUND');
  });
});

describe('GET /v1/modules (list)', () => {
  const allSlugs = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'networking', 'no-sheet', 'versioned'];

  it('lists summaries in slug order with per-section counts', async () => {
    const page = (await get('/v1/modules')).json();
    expect(page.items.map((item: ModuleSummaryDto) => item.slug)).toEqual(allSlugs);
    expect(page.nextCursor).toBeNull();
    expect(page.items.find((item: ModuleSummaryDto) => item.slug === 'networking')).toMatchObject({
      slug: 'networking',
      title: 'Module Review: Networking',
      tags: ['kubernetes', 'networking'],
      version: 1,
      counts: { takeaways: 5, flashcards: 5, cheatSheetRows: 5, revisionItems: 5 },
    });
  });

  it('pages with cursors until the last page, which has a null cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await get(`/v1/modules?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      const page: { items: ModuleSummaryDto[]; nextCursor: string | null } = response.json();
      seen.push(...page.items.map((item) => item.slug));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toEqual(allSlugs);
  });

  it('has no next cursor when the page is exactly full', async () => {
    const page = (await get(`/v1/modules?limit=${allSlugs.length}`)).json();
    expect(page.items).toHaveLength(allSlugs.length);
    expect(page.nextCursor).toBeNull();
  });

  it('filters by tag', async () => {
    expect((await get('/v1/modules?tag=special')).json().items.map((item: ModuleSummaryDto) => item.slug)).toEqual(['charlie']);
    expect((await get('/v1/modules?tag=missing')).json()).toEqual({ items: [], nextCursor: null });
  });

  it('rejects malformed cursors and out-of-range limits with 400 problems', async () => {
    for (const cursor of ['not-base64!', 'eyJ4IjoxfQ', Buffer.from('{"l":"other","slug":"a"}').toString('base64url'), 'a'.repeat(600)]) {
      const response = await get(`/v1/modules?cursor=${encodeURIComponent(cursor)}`);
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
    }
    expectProblem(await get('/v1/modules?cursor=bm9wZQ'), 400, 'MNEMO_REQUEST_BAD_CURSOR');
    for (const limit of ['0', '101', 'ten', '1.5', '-1']) {
      expectProblem(await get(`/v1/modules?limit=${limit}`), 400, 'MNEMO_REQUEST_INVALID');
    }
    expect((await get('/v1/modules?limit=100')).statusCode).toBe(200);
    expect((await get('/v1/modules?limit=1')).json().items).toHaveLength(1);
  });
});

describe('conditional GET and caching', () => {
  it('sends a strong ETag and answers If-None-Match with 304 and no body', async () => {
    const first = await get('/v1/modules/networking');
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(first.headers['cache-control']).toBe('public, no-cache');
    const again = await get('/v1/modules/networking', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
    expect((await get('/v1/modules/networking', { 'if-none-match': `"other", ${etag}` })).statusCode).toBe(304);
    expect((await get('/v1/modules/networking', { 'if-none-match': '"stale"' })).statusCode).toBe(200);
  });

  it('gives each format and each view its own ETag', async () => {
    const etags = await Promise.all(
      ['', '?format=html', '?format=text', '/flashcards', '/takeaways'].map(async (suffix) => (await get(`/v1/modules/networking${suffix}`)).headers.etag),
    );
    expect(new Set(etags).size).toBe(5);
  });

  it('changes the ETag when the module version changes', async () => {
    const module = generatedModule('versioned', 2);
    const before = (await get('/v1/modules/versioned')).headers.etag as string;
    await app.content.importModule(JSON.stringify({ ...module, title: 'New title' }), 'json');
    const after = await get('/v1/modules/versioned', { 'if-none-match': before });
    expect(after.statusCode).toBe(200);
    expect(after.json()).toMatchObject({ version: 2, title: 'New title' });
  });

  it('compresses with brotli or gzip when asked, with a distinct ETag per encoding', async () => {
    const plain = await get('/v1/modules/networking');
    const br = await get('/v1/modules/networking', { 'accept-encoding': 'br, gzip' });
    const gzip = await get('/v1/modules/networking', { 'accept-encoding': 'gzip' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(br.headers.vary).toContain('Accept-Encoding');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(plain.body);
    expect(gunzipSync(gzip.rawPayload).toString()).toBe(plain.body);
    expect(new Set([plain.headers.etag, br.headers.etag, gzip.headers.etag]).size).toBe(3);
    const revalidated = await get('/v1/modules/networking', { 'accept-encoding': 'gzip', 'if-none-match': gzip.headers.etag as string });
    expect(revalidated.statusCode).toBe(304);
  });

  it('sets ETags on lists and flashcards too', async () => {
    for (const url of ['/v1/modules', `/v1/flashcards/${networking.flashcards[0]!.id}`]) {
      const response = await get(url);
      expect(response.headers.etag).toBeDefined();
      expect((await get(url, { 'if-none-match': response.headers.etag as string })).statusCode).toBe(304);
    }
  });
});

describe('documents, health and unknown routes', () => {
  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const doc = (await get('/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const path of ['/v1/modules', '/v1/modules/{slug}', '/v1/modules/{slug}/flashcards', '/v1/modules/{slug}/cheat-sheet', '/v1/flashcards/{id}', '/healthz', '/readyz']) {
      expect(doc.paths[path]?.get, path).toBeDefined();
    }
    const limit = doc.paths['/v1/modules'].get.parameters.find((parameter: { name: string }) => parameter.name === 'limit');
    expect(limit.schema).toMatchObject({ minimum: 1, maximum: 100 });
  });

  it('gives the OpenAPI document the version in package.json', async () => {
    const { version } = JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await get('/openapi.json')).json().info.version).toBe(version);
  });

  it('serves interactive docs at /docs', async () => {
    const response = await get('/docs/');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
  });

  it('reports liveness and readiness', async () => {
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await get('/readyz')).json()).toEqual({ status: 'ok', checks: { database: true, migrations: true, storage: true } });
  });

  it('answers unknown routes and methods with problem+json', async () => {
    expectProblem(await get('/v2/anything'), 404, 'MNEMO_ROUTE_NOT_FOUND');
    const response = await app.inject({ method: 'DELETE', url: '/v1/modules/networking' });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });

  it('echoes a well-formed X-Request-Id and replaces a hostile one', async () => {
    expect((await get('/v1/modules/nope', { 'x-request-id': 'abc-123' })).json().requestId).toBe('abc-123');
    const hostile = await get('/v1/modules/nope', { 'x-request-id': 'evil\nline' });
    expect(hostile.headers['x-request-id']).not.toContain('evil');
  });
});
