import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors, createLearner, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

async function gql(headers: Record<string, string>, query: string, variables?: Record<string, unknown>) {
  const response = await app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } });
  return { status: response.statusCode, ...(response.json() as { data: any; errors?: { message: string; extensions: { code: string } }[] }) };
}

const recordAnswer = 'mutation($input: AnswerInput!, $userId: ID) { recordAnswer(input: $input, userId: $userId) { id clientAnswerId rating moduleSlug answeredAt } }';

describe('GraphQL answers', () => {
  it('recordAnswer is idempotent like REST and shares its rows', async () => {
    const input = answer(actors.deck[0]!, { rating: 2 });
    const first = await gql(actors.learner.headers, recordAnswer, { input });
    expect(first.errors).toBeUndefined();
    const retry = await gql(actors.learner.headers, recordAnswer, { input });
    expect(retry.data).toEqual(first.data);
    const viaRest = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: input });
    expect(viaRest.statusCode).toBe(200);
    expect(viaRest.json().id).toBe(first.data.recordAnswer.id);
    expect(await countRows(app, 'answers', 'client_answer_id = ?', input.clientAnswerId)).toBe(1);

    const conflict = await gql(actors.learner.headers, recordAnswer, { input: { ...input, rating: 4 } });
    expect(conflict.status).toBe(200);
    expect(conflict.errors![0]!.extensions.code).toBe('MNEMO_LEARNING_ANSWER_CONFLICT');
  });

  it('recordAnswer acts for a learner given by userId for its integration', async () => {
    const result = await gql(actors.integration, recordAnswer, { input: answer(actors.deck[1]!), userId: actors.learner.userId });
    expect(result.data.recordAnswer.moduleSlug).toBe('networking');
    const missing = await gql(actors.integration, recordAnswer, { input: answer(actors.deck[1]!) });
    expect(missing.errors![0]!.extensions.code).toBe('MNEMO_AUTH_FORBIDDEN');
  });

  it('recordAnswers returns a result per input with the REST statuses', async () => {
    const good = answer(actors.deck[2]!);
    const result = await gql(
      actors.learner.headers,
      'mutation($inputs: [AnswerInput!]!) { recordAnswers(inputs: $inputs) { clientAnswerId status answer { id } error { code } } }',
      { inputs: [good, good, { ...good, rating: 1 }, answer('fc_missing'), answer(actors.deck[0]!, { rating: 9 })] },
    );
    expect(result.data.recordAnswers.map((item: { status: string; error: { code: string } | null }) => [item.status, item.error?.code ?? null])).toEqual([
      ['CREATED', null],
      ['DUPLICATE', null],
      ['CONFLICT', 'MNEMO_LEARNING_ANSWER_CONFLICT'],
      ['INVALID', 'MNEMO_LEARNING_UNKNOWN_FLASHCARD'],
      ['INVALID', 'MNEMO_REQUEST_INVALID'],
    ]);
  });

  it('refuses more than 500 inputs', async () => {
    const inputs = Array.from({ length: 501 }, () => answer(actors.deck[0]!));
    const result = await gql(actors.learner.headers, 'mutation($inputs: [AnswerInput!]!) { recordAnswers(inputs: $inputs) { status } }', { inputs });
    expect(result.errors![0]!.extensions.code).toBe('MNEMO_REQUEST_INVALID');
  });
});

describe('GraphQL learner queries', () => {
  it('me exposes answers, cards, study and progress as in REST', async () => {
    const learner = await createLearner(app, actors.integration, `gql-${randomUUID()}`);
    await app.inject({
      method: 'POST',
      url: '/v1/me/answers/batch',
      headers: learner.headers,
      payload: { answers: [answer(actors.deck[0]!, { rating: 1, answeredAt: '2026-10-01T00:00:00Z' }), answer(actors.deck[1]!, { answeredAt: '2026-10-02T00:00:00Z' })] },
    });
    const result = await gql(
      learner.headers,
      `{ me {
          id
          answers(first: 1) { nodes { flashcardId answeredAt } pageInfo { hasNextPage endCursor } }
          cards { nodes { flashcardId state reps } }
          study(module: "networking", limit: 3, newLimit: 1) { reason flashcard { id question(format: TEXT) myState { state } } state { state } }
          progress { moduleSlug answers seenCards }
      } }`,
    );
    expect(result.errors).toBeUndefined();
    const me = result.data.me;
    expect(me.id).toBe(learner.userId);
    expect(me.answers.nodes).toEqual([{ flashcardId: actors.deck[1], answeredAt: '2026-10-02T00:00:00.000Z' }]);
    expect(me.answers.pageInfo.hasNextPage).toBe(true);
    const next = await gql(learner.headers, `{ me { answers(first: 1, after: "${me.answers.pageInfo.endCursor}") { nodes { flashcardId } pageInfo { hasNextPage } } } }`);
    expect(next.data.me.answers).toEqual({ nodes: [{ flashcardId: actors.deck[0] }], pageInfo: { hasNextPage: false } });

    const rest = (await app.inject({ url: '/v1/me/cards', headers: learner.headers })).json().items;
    expect(me.cards.nodes).toEqual(rest.map(({ flashcardId, state, reps }: { flashcardId: string; state: string; reps: number }) => ({ flashcardId, state, reps })));
    const restStudy = (await app.inject({ url: '/v1/me/study?module=networking&limit=3&newLimit=1&format=text', headers: learner.headers })).json().items;
    expect(me.study.map((item: { reason: string; flashcard: { id: string; question: string } }) => [item.reason, item.flashcard.id, item.flashcard.question])).toEqual(
      restStudy.map((item: { reason: string; flashcard: { id: string; question: string } }) => [item.reason, item.flashcard.id, item.flashcard.question]),
    );
    expect(me.study[0].flashcard.myState).toEqual(me.study[0].state);
    expect(me.progress).toEqual([{ moduleSlug: 'networking', answers: 2, seenCards: 2 }]);
  });

  it('Flashcard.myState is the caller’s own state, and null for keys without a learner', async () => {
    const query = '{ module(slug: "networking") { flashcards { id myState { reps } } } }';
    const mine = await gql(actors.learner.headers, query);
    expect(mine.data.module.flashcards[0].myState).toEqual({ reps: expect.any(Number) });
    const asAdmin = await gql(actors.admin, query);
    expect(asAdmin.data.module.flashcards.every((card: { myState: unknown }) => card.myState === null)).toBe(true);
    const anonymous = await gql({}, query);
    expect(anonymous.data.module.flashcards[0].myState).toBeNull();
  });

  it('user(id) answers for admins and the owning integration, null for others', async () => {
    const query = `{ user(id: "${actors.learner.userId}") { id externalId } }`;
    expect((await gql(actors.admin, query)).data.user.id).toBe(actors.learner.userId);
    expect((await gql(actors.integration, query)).data.user.externalId).toBe(actors.learner.externalId);
    const key = await app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'y' } });
    expect((await gql({ authorization: `Bearer ${key.json().token}` }, query)).data).toEqual({ user: null });
  });

  it('checks learner arguments with the REST schemas: bad dates and limits are request errors', async () => {
    for (const query of ['{ me { answers(since: "last tuesday") { nodes { id } } } }', '{ me { study(limit: 0) { reason } } }', '{ me { cards(first: 501) { nodes { state } } } }']) {
      const result = await gql(actors.learner.headers, query);
      expect(result.errors![0]!.extensions.code, query).toMatch(/^MNEMO_(REQUEST_INVALID|GRAPHQL_VALIDATION)$/);
    }
    const since = await gql(actors.learner.headers, '{ me { answers(since: "last tuesday") { nodes { id } } } }');
    expect(since.errors![0]!.extensions.code).toBe('MNEMO_REQUEST_INVALID');
  });

  it('rejects a page size over the limit on learner connections', async () => {
    const result = await gql(actors.learner.headers, '{ me { answers(first: 101) { nodes { id } } } }');
    expect(result.errors![0]!.extensions.code).toBe('MNEMO_GRAPHQL_VALIDATION');
  });
});
