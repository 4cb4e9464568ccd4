import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, seedSource, settleCommits } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;
beforeEach(async () => {
  app = await buildTestApp({ seed: true });
  // On PostgreSQL, the seed import's commit notifications are heard now, not in the middle of a statement count.
  await settleCommits(app);
  actors = await createActors(app);
});
afterEach(() => app.close());

const ask = async (query: string, headers: Record<string, string> = {}, variables?: Record<string, unknown>) =>
  (await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } })).json();

describe('GraphQL response cache', () => {
  const question = '{ module(slug: "networking") { version flashcards { question } } }';

  it('serves a repeated content query from memory until content changes', async () => {
    const first = await ask(question);
    const before = app.store.stats.statements;
    expect(await ask(question)).toEqual(first);
    expect(app.store.stats.statements - before).toBe(0);

    await app.content.importModule(seedSource().replace('What component implements Service VIPs (ClusterIP)?', 'Which component implements Service VIPs?'), 'markdown');
    const after = await ask(question);
    expect(after.data.module.version).toBe(2);
    expect(after.data.module.flashcards[0].question).toBe('Which component implements Service VIPs?');

    await app.content.archiveModule('networking');
    expect(await ask(question)).toEqual({ data: { module: null } });
  });

  it('serves admins an import into an archived module at once (their answers are not cached)', async () => {
    await app.content.archiveModule('networking');
    expect((await ask(question, actors.admin)).data.module.version).toBe(1);
    // An archived module's import writes no change-feed entry, so the content stamp does not move.
    await app.content.importModule(seedSource().replace('What component implements Service VIPs (ClusterIP)?', 'Which component implements Service VIPs?'), 'markdown');
    const after = await ask(question, actors.admin);
    expect(after.data.module.version).toBe(2);
    expect(after.data.module.flashcards[0].question).toBe('Which component implements Service VIPs?');
    expect((await ask(question)).data.module).toBeNull();
  });

  it('keys on variables and operation name', async () => {
    const query = 'query Q($slug: String!) { module(slug: $slug) { slug } }';
    await app.content.importModule(seedSource().replace('slug: networking', 'slug: other'), 'markdown');
    expect((await ask(query, {}, { slug: 'networking' })).data.module.slug).toBe('networking');
    expect((await ask(query, {}, { slug: 'other' })).data.module.slug).toBe('other');
    expect((await ask(query, {}, { slug: 'networking' })).data.module.slug).toBe('networking');
  });

  it('never caches what depends on the caller: myState, me, and admin views of archived modules', async () => {
    const withState = '{ module(slug: "networking") { flashcards { id myState { reps } } } }';
    expect((await ask(withState, actors.learner.headers)).data.module.flashcards[0].myState).toBeNull();
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    expect((await ask(withState, actors.learner.headers)).data.module.flashcards[0].myState).toEqual({ reps: 1 });
    expect((await ask(withState)).data.module.flashcards[0].myState).toBeNull();

    await app.content.archiveModule('networking');
    expect((await ask(question, actors.admin)).data.module.version).toBe(1);
    expect((await ask(question)).data.module).toBeNull();
  });

  it('does not cache errors', async () => {
    const broken = '{ modules(first: 5) { nodes { slug } } }';
    const spy = app.content.listModules;
    let calls = 0;
    app.content.listModules = (query) => {
      calls += 1;
      if (calls === 1) throw new Error('transient');
      return spy(query);
    };
    expect((await ask(broken)).errors).toBeDefined();
    expect((await ask(broken)).data.modules.nodes).toEqual([{ slug: 'networking' }]);
  });
});
