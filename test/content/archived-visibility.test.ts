import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { includingArchived } from '../../src/content/visibility.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

/**
 * One rule for archived modules, at every door: addressed by slug or id, an archived module (and whatever hangs off
 * it) exists for admins and is a 404, exactly like a module that never existed, for everyone else. Learners' module
 * filters follow the same rule; answers on its cards are refused for every caller.
 */
type Name = 'anonymous' | 'learner' | 'integration' | 'admin';
const principals: Name[] = ['anonymous', 'learner', 'integration', 'admin'];

let app: FastifyInstance;
let actors: Actors;
let headersOf: Record<Name, Record<string, string>>;
let hiddenCards: string[];

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
  headersOf = { anonymous: {}, learner: actors.learner.headers, integration: actors.integration, admin: actors.admin };
  await app.content.importModule(JSON.stringify(generatedModule('hidden', 3)), 'json', { importedBy: 'test' });
  hiddenCards = (await app.content.getModuleContent('hidden')).flashcards.map((card) => card.id);
  // The learner answered in the module while it was live: there are figures to hide.
  const answered = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(hiddenCards[0]!) });
  expect(answered.statusCode).toBe(201);
  await app.content.archiveModule('hidden');
});
afterAll(() => app.close());

const get = (url: string, name: Name) => app.inject({ url, headers: headersOf[name] });
const graphql = async (query: string, name: Name) => {
  const response = await app.inject({ method: 'POST', url: '/graphql', headers: headersOf[name], payload: { query } });
  expect(response.statusCode).toBe(200);
  return response.json() as { data: Record<string, any> | null; errors?: { extensions?: { code?: string } }[] };
};

describe('REST content reads of an archived module', () => {
  const moduleRoutes = ['', '/takeaways', '/flashcards', '/cheat-sheet', '/revision-items'];
  for (const name of principals) {
    it(`${name}: the module and its sections are ${name === 'admin' ? '200' : '404 MNEMO_CONTENT_MODULE_NOT_FOUND'}`, async () => {
      for (const route of moduleRoutes) {
        const response = await get(`/v1/modules/hidden${route}`, name);
        expect(response.statusCode, route).toBe(name === 'admin' ? 200 : 404);
        if (name !== 'admin') expect(response.json().code, route).toBe('MNEMO_CONTENT_MODULE_NOT_FOUND');
      }
    });

    it(`${name}: one of its flashcards by id is ${name === 'admin' ? '200 with the module slug' : '404 MNEMO_CONTENT_FLASHCARD_NOT_FOUND'}`, async () => {
      const response = await get(`/v1/flashcards/${hiddenCards[0]}`, name);
      expect(response.statusCode).toBe(name === 'admin' ? 200 : 404);
      if (name === 'admin') expect(response.json().moduleSlug).toBe('hidden');
      else expect(response.json().code).toBe('MNEMO_CONTENT_FLASHCARD_NOT_FOUND');
    });
  }
});

describe('GraphQL content reads of an archived module', () => {
  for (const name of principals) {
    const admin = name === 'admin';

    it(`${name}: module(slug) is ${admin ? 'the module' : 'null'}`, async () => {
      const body = await graphql('{ module(slug: "hidden") { slug } }', name);
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ module: admin ? { slug: 'hidden' } : null });
    });

    it(`${name}: flashcard(id) { module { slug } } is ${admin ? 'the card with its archived module' : 'null'}`, async () => {
      const body = await graphql(`{ flashcard(id: "${hiddenCards[0]}") { id module { slug } } }`, name);
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ flashcard: admin ? { id: hiddenCards[0], module: { slug: 'hidden' } } : null });
    });
  }

  it('admin: a live card\'s module resolves through the same loader', async () => {
    const body = await graphql(`{ flashcard(id: "${actors.deck[0]}") { module { slug } } }`, 'admin');
    expect(body).toEqual({ data: { flashcard: { module: { slug: 'networking' } } } });
  });
});

/** The learner's resources that take a `module` filter, as /me paths. */
const filtered = ['progress', 'answers', 'cards', 'study'];

describe('a learner\'s module filter naming an archived module', () => {
  const expectedOnMe: Record<Name, number> = { anonymous: 401, learner: 404, integration: 403, admin: 403 };
  for (const name of principals) {
    it(`${name}: /v1/me/{progress,answers,cards,study}?module=<archived> is ${expectedOnMe[name]}`, async () => {
      for (const resource of filtered) {
        const response = await get(`/v1/me/${resource}?module=hidden`, name);
        expect(response.statusCode, resource).toBe(expectedOnMe[name]);
        if (name === 'learner') expect(response.json().code, resource).toBe('MNEMO_CONTENT_MODULE_NOT_FOUND');
      }
    });
  }

  it('learner: the same filters on a live module answer 200', async () => {
    for (const resource of filtered) {
      expect((await get(`/v1/me/${resource}?module=networking`, 'learner')).statusCode, resource).toBe(200);
    }
  });

  const expectedOnUser: Record<Name, number> = { anonymous: 401, learner: 403, integration: 404, admin: 200 };
  for (const name of principals) {
    it(`${name}: /v1/users/:id/{progress,answers,cards,study}?module=<archived> is ${expectedOnUser[name]}`, async () => {
      for (const resource of filtered) {
        const response = await get(`/v1/users/${actors.learner.userId}/${resource}?module=hidden`, name);
        expect(response.statusCode, resource).toBe(expectedOnUser[name]);
        if (name === 'integration') expect(response.json().code, resource).toBe('MNEMO_CONTENT_MODULE_NOT_FOUND');
      }
    });
  }

  it('admin: the figures of the archived module are there; the study queue offers none of its cards', async () => {
    const user = `/v1/users/${actors.learner.userId}`;
    const progress = (await get(`${user}/progress?module=hidden`, 'admin')).json().items;
    expect(progress).toEqual([expect.objectContaining({ moduleSlug: 'hidden', totalCards: 3, seenCards: 1, answers: 1 })]);
    expect((await get(`${user}/answers?module=hidden`, 'admin')).json().items.map((item: { flashcardId: string }) => item.flashcardId)).toEqual([hiddenCards[0]]);
    expect((await get(`${user}/cards?module=hidden`, 'admin')).json().items.map((item: { moduleSlug: string }) => item.moduleSlug)).toEqual(['hidden']);
    // Cards of an archived module cannot be answered, so the queue has nothing to offer (for admins too).
    expect((await get(`${user}/study?module=hidden`, 'admin')).json()).toEqual({ items: [] });
  });

  it('progress without a filter lists live modules only, for every caller who may read it', async () => {
    const learner = (await get('/v1/me/progress', 'learner')).json().items.map((item: { moduleSlug: string }) => item.moduleSlug);
    const integration = (await get(`/v1/users/${actors.learner.userId}/progress`, 'integration')).json().items;
    const admin = (await get(`/v1/users/${actors.learner.userId}/progress`, 'admin')).json().items;
    expect(learner).not.toContain('hidden');
    expect(integration).toEqual(admin);
    expect(admin.map((item: { moduleSlug: string }) => item.moduleSlug)).not.toContain('hidden');
  });
});

describe('answers on a card of an archived module', () => {
  const expected: Record<Name, { status: number; code: string }> = {
    anonymous: { status: 401, code: 'MNEMO_AUTH_REQUIRED' },
    learner: { status: 422, code: 'MNEMO_LEARNING_UNKNOWN_FLASHCARD' },
    integration: { status: 422, code: 'MNEMO_LEARNING_UNKNOWN_FLASHCARD' },
    admin: { status: 422, code: 'MNEMO_LEARNING_UNKNOWN_FLASHCARD' },
  };
  for (const name of principals) {
    it(`${name}: refused as ${expected[name].code}`, async () => {
      const url = name === 'learner' ? '/v1/me/answers' : `/v1/users/${actors.learner.userId}/answers`;
      const response = await app.inject({ method: 'POST', url, headers: headersOf[name], payload: answer(hiddenCards[1]!) });
      expect({ status: response.statusCode, code: response.json().code }).toEqual(expected[name]);
    });
  }
});

describe('services under a visibility', () => {
  it('resolve an archived module only when the visibility includes archived modules', async () => {
    await expect(app.content.getModuleHead('hidden')).rejects.toThrow(expect.objectContaining({ code: 'MNEMO_CONTENT_MODULE_NOT_FOUND' }));
    expect((await app.content.getModuleHead('hidden', includingArchived)).version).toBe(1);
    const [hiddenModule] = (await app.content.getModuleContent('hidden', includingArchived)).flashcards.map((card) => card.moduleId);
    expect(await app.content.modulesByIds([hiddenModule!])).toEqual([null]);
    expect((await app.content.modulesByIds([hiddenModule!], includingArchived)).map((module) => module?.slug)).toEqual(['hidden']);
  });
});
