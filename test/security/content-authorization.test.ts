import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { createActors, createLearner, type Actors } from '../helpers/learners.js';

/**
 * The authorization matrix for the routes added with the module lifecycle: content reads (versions, export,
 * changes, search) are open to every valid caller and to anonymous ones, refused to broken tokens, and archived
 * modules are visible to admins only. A module's history and sources are content; who imported a version (a key
 * name) is not, and shows to admins only. Admin routes are covered in content/lifecycle.test.ts.
 */
let app: FastifyInstance;
let actors: Actors;
let callers: Record<string, Record<string, string>>;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
  const other = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'y' } });
  const integrationY = { authorization: `Bearer ${other.json().token}` };
  const learnerB = await createLearner(app, integrationY, 'learner-b');
  callers = {
    anonymous: {},
    'learner A': actors.learner.headers,
    'learner B': learnerB.headers,
    'integration X': actors.integration,
    'integration Y': integrationY,
    admin: actors.admin,
  };
  await app.content.importModule(JSON.stringify({ slug: 'hidden', title: 'Hidden', takeaways: [], flashcards: [{ key: 'k', question: 'Q?', answer: 'A.' }], revisionItems: [] }), 'json');
  await app.content.archiveModule('hidden');
});
afterAll(() => app.close());

const readRoutes = ['/v1/modules/networking/versions', '/v1/modules/networking/versions/1', '/v1/modules/networking/export?format=json', '/v1/changes', '/v1/search?q=ingress'];
const archivedRoutes = ['/v1/modules/hidden', '/v1/modules/hidden/flashcards', '/v1/modules/hidden/versions', '/v1/modules/hidden/versions/1', '/v1/modules/hidden/export'];

describe('content reads across callers', () => {
  for (const url of readRoutes) {
    it(`${url}: 200 for every caller, 401 for a broken token`, async () => {
      for (const [name, headers] of Object.entries(callers)) {
        expect((await app.inject({ url, headers })).statusCode, name).toBe(200);
      }
      const broken = await app.inject({ url, headers: { authorization: `Bearer mnemo_${'B'.repeat(43)}` } });
      expect(broken.statusCode).toBe(401);
      expect(broken.json().code).toBe('MNEMO_AUTH_INVALID_TOKEN');
    });
  }

  for (const url of archivedRoutes) {
    it(`${url} (archived): 404 for everyone but admins`, async () => {
      for (const [name, headers] of Object.entries(callers)) {
        const response = await app.inject({ url, headers });
        expect(response.statusCode, name).toBe(name === 'admin' ? 200 : 404);
        if (name !== 'admin') expect(response.json().code).toBe('MNEMO_CONTENT_MODULE_NOT_FOUND');
      }
    });
  }

  it('archived modules stay out of search and lists for everyone, and their cards resolve for admins only', async () => {
    const card = (await app.content.getModuleContent('hidden', { includeArchived: true })).flashcards[0]!.id;
    for (const [name, headers] of Object.entries(callers)) {
      expect((await app.inject({ url: '/v1/modules', headers })).json().items.map((item: { slug: string }) => item.slug), name).not.toContain('hidden');
      expect((await app.inject({ url: `/v1/flashcards/${card}`, headers })).statusCode, name).toBe(name === 'admin' ? 200 : 404);
    }
    const graphql = await app.inject({ method: 'POST', url: '/graphql', headers: callers['learner A'], payload: { query: '{ module(slug: "hidden") { slug } }' } });
    expect(graphql.json().data).toEqual({ module: null });
  });
});

describe('who imported a version', () => {
  it('is shown to admins only: every other caller reads the history with importedBy null', async () => {
    // A second version, imported by an admin key through the API: its name is what importedBy would reveal.
    const imported = await app.inject({
      method: 'POST',
      url: '/v1/admin/modules',
      headers: { ...actors.admin, 'content-type': 'text/markdown' },
      payload: seedSource().replace('kube-proxy (using', 'kube-proxy (in'),
    });
    expect(imported.statusCode).toBe(200);
    for (const [name, headers] of Object.entries(callers)) {
      const response = await app.inject({ url: '/v1/modules/networking/versions', headers });
      expect(response.statusCode, name).toBe(200);
      const importers = (response.json().items as { importedBy: string | null }[]).map((item) => item.importedBy);
      expect(importers, name).toEqual(name === 'admin' ? ['test', 'admin'] : [null, null]);
      expect(response.headers['cache-control'], name).toBe(name === 'admin' ? 'private, no-store' : 'public, no-cache');
      if (name !== 'admin') expect(response.body, name).not.toContain('"admin"');
    }
  });

  it('appears nowhere in a version\'s content or an export', async () => {
    for (const url of ['/v1/modules/networking/versions/1', '/v1/modules/networking/export?format=json', '/v1/modules/networking/export']) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(200);
      expect(response.body, url).not.toMatch(/importedBy|"test"/);
    }
  });
});

describe('with CONTENT_REQUIRES_AUTH=true', () => {
  it('versions, a version and the export need a key; learners and integrations still get no importedBy', async () => {
    const closed = await buildTestApp({ seed: true, config: { contentRequiresAuth: true } });
    try {
      const closedActors = await createActors(closed, { deckFrom: 'service' });
      for (const url of ['/v1/modules/networking/versions', '/v1/modules/networking/versions/1', '/v1/modules/networking/export']) {
        const anonymous = await closed.inject({ url });
        expect(anonymous.statusCode, url).toBe(401);
        expect(anonymous.json().code, url).toBe('MNEMO_AUTH_REQUIRED');
        for (const headers of [closedActors.learner.headers, closedActors.integration, closedActors.admin]) {
          expect((await closed.inject({ url, headers })).statusCode, url).toBe(200);
        }
      }
      const asLearner = await closed.inject({ url: '/v1/modules/networking/versions', headers: closedActors.learner.headers });
      expect(asLearner.json().items).toEqual([expect.objectContaining({ version: 1, importedBy: null })]);
      expect(asLearner.headers['cache-control']).toBe('private, no-cache');
      const asAdmin = await closed.inject({ url: '/v1/modules/networking/versions', headers: closedActors.admin });
      expect(asAdmin.json().items).toEqual([expect.objectContaining({ version: 1, importedBy: 'test' })]);
    } finally {
      await closed.close();
    }
  });
});
