import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModuleInput } from '../../src/content/module-source/module-input.js';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { answer, countRows, createActors, type Actors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

let app: FastifyInstance;
let actors: Actors;

beforeEach(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterEach(() => app.close());

const importSource = (payload: string, contentType: string, query = '', headers: Record<string, string> = actors.admin) =>
  app.inject({ method: 'POST', url: `/v1/admin/modules${query}`, headers: { ...headers, 'content-type': contentType }, payload });
const importJson = (module: ModuleInput, query = '') => importSource(JSON.stringify(module), 'application/json', query);
const storeSnapshot = () =>
  Promise.all(
    ['modules', 'module_versions', 'flashcards', 'takeaways', 'cheat_sheet_rows', 'revision_items', 'changes', 'search_index'].map((table) =>
      countRows(app, table),
    ),
  );

describe('POST /v1/admin/modules', () => {
  it('creates (201), updates in place (200, version + 1) and reports unchanged content (200, same version)', async () => {
    const module = generatedModule('lifecycle', 3);
    const created = await importJson(module);
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ slug: 'lifecycle', version: 1, status: 'created', dryRun: false });

    const updated = await importJson({ ...module, revisionItems: module.revisionItems.slice(1) });
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({ version: 2, status: 'updated', changes: { revisionItems: { added: 0, updated: 2, removed: 1 } } });

    const unchanged = await importJson({ ...module, revisionItems: module.revisionItems.slice(1) });
    expect(unchanged.json()).toMatchObject({ version: 2, status: 'unchanged' });
  });

  it('accepts the Markdown format as text/markdown', async () => {
    const response = await importSource(seedSource().replace('slug: networking', 'slug: networking-copy'), 'text/markdown; charset=utf-8');
    expect(response.statusCode).toBe(201);
    expect((await app.inject('/v1/modules/networking-copy')).json().flashcards).toHaveLength(5);
  });

  it('with dryRun=true reports the same result and writes nothing', async () => {
    const before = await storeSnapshot();
    const dry = await importJson(generatedModule('dry', 2), '?dryRun=true');
    expect(dry.statusCode).toBe(201);
    expect(dry.json()).toMatchObject({ status: 'created', version: 1, dryRun: true });
    const dryUpdate = await importSource(seedSource().replace('kube-proxy', 'The kube-proxy'), 'text/markdown', '?dryRun=true');
    expect(dryUpdate.json()).toMatchObject({ status: 'updated', version: 2, changes: { flashcards: { updated: 1 } } });
    expect(await storeSnapshot()).toEqual(before);
  });

  it('lists every error with its line (Markdown) or path (JSON), and leaves the store unchanged', async () => {
    const before = await storeSnapshot();
    const markdown = await importSource(
      '---\nslug: broken\ntitle: Broken\n---\n## Key Takeaways\n- no lead-in\n## Cheat Sheet\n| A | B |\n|---|---|\n| 1 |\n## Flashcards\n### Q {#k}\na\n### Q2 {#k}\nb\n',
      'text/markdown',
    );
    expect(markdown.statusCode).toBe(400);
    expect(markdown.headers['content-type']).toContain('application/problem+json');
    expect(markdown.json()).toMatchObject({ code: 'MNEMO_IMPORT_INVALID' });
    expect(markdown.json().errors.map((error: { line: number }) => error.line)).toEqual([6, 10, 14]);

    const json = await importSource(JSON.stringify({ ...generatedModule('bad', 1), extra: true, flashcards: [{ question: 'Q' }] }), 'application/json');
    expect(json.statusCode).toBe(400);
    expect(json.json().errors).toEqual(expect.arrayContaining([{ path: 'extra', message: 'unknown field "extra"' }, { path: 'flashcards.0.answer', message: 'an answer is required' }]));

    const syntax = await importSource('{"slug": ', 'application/json');
    expect(syntax.json()).toMatchObject({ status: 400, code: 'MNEMO_IMPORT_INVALID' });
    expect(await storeSnapshot()).toEqual(before);
  });

  it('refuses modules that one source format could not express (multi-line titles, headings in answers)', async () => {
    const module = generatedModule('odd', 1);
    const response = await importJson({ ...module, flashcards: [{ key: 'k', question: 'Line one\nline two', answer: 'Text\n\n## Heading' }] });
    expect(response.json().errors).toEqual([
      { path: 'flashcards.0.question', message: 'must be a single line' },
      { path: 'flashcards.0.answer', message: 'must not contain headings (#, ## or underlined)' },
    ]);
  });

  it('answers 415 for other media types and 413 over the size limit', async () => {
    expect((await importSource('<module/>', 'application/xml')).statusCode).toBe(415);
    const huge = await importSource(`---\nslug: huge\ntitle: Huge\n---\n${'x'.repeat(1024 * 1024 + 1)}`, 'text/markdown');
    expect(huge.statusCode).toBe(413);
    expect(huge.json().code).toBe('MNEMO_REQUEST_TOO_LARGE');
  });
});

describe('answer history across imports', () => {
  it('survives a reworded question (same key) and the removal of a card', async () => {
    const [first, second] = actors.deck;
    for (const card of [first, second]) {
      await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(card!) });
    }
    const reworded = seedSource().replace('What component implements Service VIPs (ClusterIP)?', 'Which component implements Service virtual IPs?');
    expect((await importSource(reworded, 'text/markdown')).json()).toMatchObject({ status: 'updated', changes: { flashcards: { updated: 1 } } });
    const deck = (await app.inject('/v1/modules/networking/flashcards')).json().items;
    expect(deck[0]).toMatchObject({ id: first, question: 'Which component implements Service virtual IPs?' });

    // Remove the second card ("How does a Pod find...").
    const withoutSecond = reworded.replace(/### How does a Pod find[^\n]*\n\n[^\n]*\n\n/, '');
    expect((await importSource(withoutSecond, 'text/markdown')).json()).toMatchObject({ status: 'updated', changes: { flashcards: { removed: 1 } } });
    const newDeck = (await app.inject('/v1/modules/networking/flashcards')).json().items.map((card: { id: string }) => card.id);
    expect(newDeck).toHaveLength(4);
    expect(newDeck).not.toContain(second);
    expect((await app.inject(`/v1/flashcards/${second}`)).json()).toMatchObject({ id: second, archived: true });

    const history = (await app.inject({ url: '/v1/me/answers', headers: actors.learner.headers })).json().items;
    expect(history.map((item: { flashcardId: string }) => item.flashcardId).sort()).toEqual([first, second].sort());
    const cards = (await app.inject({ url: '/v1/me/cards', headers: actors.learner.headers })).json().items;
    expect(cards.map((item: { flashcardId: string }) => item.flashcardId).sort()).toEqual([first, second].sort());
    const study = (await app.inject({ url: '/v1/me/study?limit=20&newLimit=20', headers: actors.learner.headers })).json().items;
    expect(study.map((item: { flashcard: { id: string } }) => item.flashcard.id)).not.toContain(second);
  });
});

describe('versions and export', () => {
  it('lists every version with who imported it and what changed, and serves old content with its ids', async () => {
    const original = (await app.inject('/v1/modules/networking')).json();
    await importSource(seedSource().replace('kube-proxy (using iptables or IPVS mode).', 'kube-proxy.'), 'text/markdown');
    // Who imported is shown to admins only (key names are not content).
    const versions = (await app.inject({ url: '/v1/modules/networking/versions', headers: actors.admin })).json().items;
    expect(versions).toEqual([
      { version: 1, createdAt: expect.any(String), importedBy: 'test', changes: expect.objectContaining({ flashcards: { added: 5, updated: 0, removed: 0 } }) },
      { version: 2, createdAt: expect.any(String), importedBy: 'admin', changes: expect.objectContaining({ flashcards: { added: 0, updated: 1, removed: 0 } }) },
    ]);
    const v1 = (await app.inject('/v1/modules/networking/versions/1')).json();
    expect(v1).toEqual({ ...original, updatedAt: original.updatedAt });
    expect((await app.inject('/v1/modules/networking/versions/2')).json().flashcards[0].answer).toBe('kube-proxy.');
    expect((await app.inject('/v1/modules/networking/versions/1?format=html')).json().flashcards[0].answer).toBe('<p>kube-proxy (using iptables or IPVS mode).</p>');
    expect((await app.inject('/v1/modules/networking/versions/3')).json().code).toBe('MNEMO_CONTENT_VERSION_NOT_FOUND');
  });

  const roundTrips: [string, ModuleInput | null][] = [
    ['the seed', null],
    ['a generated module', generatedModule('round-trip', 40)],
    ['a module without summary, tags or cheat sheet', { ...generatedModule('bare', 2), summary: undefined, tags: [], cheatSheet: undefined }],
  ];
  for (const [name, module] of roundTrips) {
    it(`round-trips ${name} through both export formats as unchanged`, async () => {
      const slug = module ? module.slug : 'networking';
      if (module) expect((await importJson(module)).statusCode).toBe(201);
      const before = (await app.inject(`/v1/modules/${slug}`)).json();
      const formats: [string, string][] = [
        ['md', 'text/markdown'],
        ['markdown', 'text/markdown'],
        ['json', 'application/json'],
      ];
      for (const [format, contentType] of formats) {
        const exported = await app.inject(`/v1/modules/${slug}/export?format=${format}`);
        expect(exported.statusCode).toBe(200);
        expect(exported.headers['content-type']).toContain(contentType);
        const reimported = await importSource(exported.body, contentType);
        expect(reimported.json(), format).toMatchObject({ status: 'unchanged', version: before.version });
      }
      expect((await app.inject(`/v1/modules/${slug}`)).json()).toEqual(before);
    });
  }
});

describe('archive and restore', () => {
  it('hide a module from everyone but admins, and bring it back with its history', async () => {
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    const archived = await app.inject({ method: 'DELETE', url: '/v1/admin/modules/networking', headers: actors.admin });
    expect(archived.json()).toEqual({ slug: 'networking', version: 1, archived: true });
    for (const url of ['/v1/modules/networking', '/v1/modules/networking/flashcards', `/v1/flashcards/${actors.deck[0]}`]) {
      expect((await app.inject(url)).statusCode, url).toBe(404);
      expect((await app.inject({ url, headers: actors.admin })).statusCode, url).toBe(200);
    }
    expect((await app.inject('/v1/modules')).json().items).toEqual([]);
    expect((await app.inject('/v1/search?q=kube')).json().items).toEqual([]);
    expect((await app.inject({ url: '/v1/me/study', headers: actors.learner.headers })).json().items).toEqual([]);

    const restored = await app.inject({ method: 'POST', url: '/v1/admin/modules/networking/restore', headers: actors.admin });
    expect(restored.json()).toMatchObject({ archived: false });
    expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
    expect((await app.inject('/v1/search?q=kube')).json().items.length).toBeGreaterThan(0);
    expect((await app.inject({ url: '/v1/me/answers', headers: actors.learner.headers })).json().items).toHaveLength(1);
    expect(await countRows(app, 'modules')).toBe(1);
  });

  it('answer 404 for unknown modules', async () => {
    expect((await app.inject({ method: 'DELETE', url: '/v1/admin/modules/nope', headers: actors.admin })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: '/v1/admin/modules/nope/restore', headers: actors.admin })).statusCode).toBe(404);
  });
});

describe('admin-only enforcement', () => {
  it('every admin route refuses anonymous callers (401) and other keys (403)', async () => {
    const requests = [
      { method: 'POST' as const, url: '/v1/admin/modules', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(generatedModule('x', 1)) },
      { method: 'DELETE' as const, url: '/v1/admin/modules/networking' },
      { method: 'POST' as const, url: '/v1/admin/modules/networking/restore' },
    ];
    for (const request of requests) {
      expect((await app.inject(request)).statusCode, request.url).toBe(401);
      for (const headers of [actors.integration, actors.learner.headers]) {
        const response = await app.inject({ ...request, headers: { ...request.headers, ...headers } });
        expect(response.statusCode, request.url).toBe(403);
        expect(response.json().code).toBe('MNEMO_AUTH_FORBIDDEN');
      }
    }
    expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
  });

  it('every admin mutation refuses other callers', async () => {
    const mutations = [
      `mutation { importModule(source: ${JSON.stringify(JSON.stringify(generatedModule('x', 1)))}, format: JSON) { status } }`,
      'mutation { archiveModule(slug: "networking") { archived } }',
      'mutation { restoreModule(slug: "networking") { archived } }',
    ];
    for (const query of mutations) {
      for (const [headers, code] of [
        [{}, 'MNEMO_AUTH_REQUIRED'],
        [actors.integration, 'MNEMO_AUTH_FORBIDDEN'],
        [actors.learner.headers, 'MNEMO_AUTH_FORBIDDEN'],
      ] as const) {
        const response = (await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query } })).json();
        expect(response.errors[0].extensions.code, query).toBe(code);
      }
      const asAdmin = (await app.inject({ method: 'POST', url: '/graphql', headers: actors.admin, payload: { query } })).json();
      expect(asAdmin.errors, query).toBeUndefined();
    }
    expect(await countRows(app, 'modules')).toBe(2);
  });

  it('GraphQL importModule reports source errors with lines in extensions', async () => {
    const query = 'mutation($s: String!) { importModule(source: $s, format: MARKDOWN) { status } }';
    const response = (await app.inject({ method: 'POST', url: '/graphql', headers: actors.admin, payload: { query, variables: { s: '---\nslug: x\n---\n## Nope\n' } } })).json();
    expect(response.errors[0].extensions).toMatchObject({ code: 'MNEMO_IMPORT_INVALID', errors: expect.arrayContaining([expect.objectContaining({ line: 4 })]) });
  });
});
