import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { repositoriesOf } from '../../src/db/repositories.js';
import { createAnswersService } from '../../src/learning/answers-service.js';
import type { LateCard } from '../../src/learning/answers-repository.js';
import { createScheduler, type ScheduledAnswer, type StoredCard } from '../../src/learning/scheduler.js';
import { buildTestApp } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';
import { answer, countRows, createActors, createLearner, queryRows, type Actors, type Learner } from '../helpers/learners.js';

const cap = 20;
let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true, config: { maxAnswersPerCard: cap } });
  actors = await createActors(app);
});
afterAll(() => app.close());

type Headers = { authorization: string };
const post = (path: string, payload: unknown, headers: Headers) => app.inject({ method: 'POST', url: path, headers, payload: payload as object });
const newLearner = () => createLearner(app, actors.integration, `limits-${randomUUID()}`);
const storedOn = (learner: Learner, flashcardId: string) =>
  countRows(app, 'answers', 'user_id = ? AND flashcard_id = ?', learner.userId, flashcardId);
const repsOf = async (learner: Learner, flashcardId: string) =>
  (await queryRows<{ reps: number }>(app, 'SELECT reps FROM card_states WHERE user_id = ? AND flashcard_id = ?', learner.userId, flashcardId))[0]?.reps;

/** A month ago plus `minutes`: in order, all in the past. */
const base = Date.now() - 30 * 24 * 3600_000;
const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
const inOrder = (flashcardId: string, count: number, from = 0) =>
  Array.from({ length: count }, (_, index) => answer(flashcardId, { answeredAt: at(from + index), rating: 1 + (index % 4) }));

async function fill(learner: Learner, flashcardId: string, count: number) {
  const response = await post('/v1/me/answers/batch', { answers: inOrder(flashcardId, count, 100) }, learner.headers);
  expect(response.json().results.filter((result: { status: string }) => result.status !== 'created')).toEqual([]);
}

describe('the per-card answer limit (MAX_ANSWERS_PER_CARD)', () => {
  it('stores answers up to the limit, then refuses the next one, a late one too, with 422 problem+json', async () => {
    const learner = await newLearner();
    const card = actors.deck[0]!;
    const first = answer(card, { answeredAt: at(1000) });
    expect((await post('/v1/me/answers', first, learner.headers)).statusCode).toBe(201);
    for (const body of inOrder(card, cap - 1, 1001)) expect((await post('/v1/me/answers', body, learner.headers)).statusCode).toBe(201);
    expect(await storedOn(learner, card)).toBe(cap);

    const over = await post('/v1/me/answers', answer(card, { answeredAt: at(5000) }), learner.headers);
    expect(over.statusCode).toBe(422);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(over.json()).toMatchObject({ status: 422, code: 'MNEMO_LEARNING_CARD_ANSWER_LIMIT' });

    const late = await post('/v1/me/answers', answer(card, { answeredAt: at(0) }), learner.headers);
    expect(late.statusCode).toBe(422);
    expect(late.json().code).toBe('MNEMO_LEARNING_CARD_ANSWER_LIMIT');

    // Acting for the learner is limited the same way.
    const forLearner = await post(`/v1/users/${learner.userId}/answers`, answer(card, { answeredAt: at(5001) }), actors.integration);
    expect(forLearner.json().code).toBe('MNEMO_LEARNING_CARD_ANSWER_LIMIT');
    expect(await storedOn(learner, card)).toBe(cap);
    expect(await repsOf(learner, card)).toBe(cap);

    // A retry of a stored answer is still a duplicate (200), a changed one still a conflict (409), never the limit.
    const retry = await post('/v1/me/answers', first, learner.headers);
    expect(retry.statusCode).toBe(200);
    expect(retry.json().clientAnswerId).toBe(first.clientAnswerId);
    expect((await post('/v1/me/answers', { ...first, rating: 1 }, learner.headers)).json().code).toBe('MNEMO_LEARNING_ANSWER_CONFLICT');

    // Other cards, and other learners on this card, are unaffected.
    expect((await post('/v1/me/answers', answer(actors.deck[1]!), learner.headers)).statusCode).toBe(201);
    expect((await post('/v1/me/answers', answer(card), (await newLearner()).headers)).statusCode).toBe(201);
  });

  it('a batch straddling the limit stores exactly up to it and marks the rest invalid, other items still stored', async () => {
    const learner = await newLearner();
    const card = actors.deck[2]!;
    const stored = inOrder(card, cap - 3, 100);
    await post('/v1/me/answers/batch', { answers: stored }, learner.headers);
    const fresh = inOrder(card, 6, 500);
    const late = answer(card, { answeredAt: at(0) });
    const other = answer(actors.deck[3]!);
    const batch = [fresh[0], stored[0], fresh[1], other, fresh[2], fresh[3], late, fresh[4], fresh[5]];
    const response = await post('/v1/me/answers/batch', { answers: batch }, learner.headers);
    expect(response.statusCode).toBe(200);
    const results = response.json().results as { clientAnswerId: string; status: string; error?: { code: string } }[];
    expect(results.map((result) => [result.status, result.error?.code ?? null])).toEqual([
      ['created', null],
      ['duplicate', null],
      ['created', null],
      ['created', null],
      ['created', null],
      ['invalid', 'MNEMO_LEARNING_CARD_ANSWER_LIMIT'],
      ['invalid', 'MNEMO_LEARNING_CARD_ANSWER_LIMIT'],
      ['invalid', 'MNEMO_LEARNING_CARD_ANSWER_LIMIT'],
      ['invalid', 'MNEMO_LEARNING_CARD_ANSWER_LIMIT'],
    ]);
    expect(results.map((result) => result.clientAnswerId)).toEqual(batch.map((item) => item!.clientAnswerId));
    expect(await storedOn(learner, card)).toBe(cap);
    expect(await repsOf(learner, card)).toBe(cap);
    expect(await storedOn(learner, actors.deck[3]!)).toBe(1);

    // Retrying the whole batch: the stored answers are duplicates, the refused ones are refused again.
    const again = (await post('/v1/me/answers/batch', { answers: batch }, learner.headers)).json().results as { status: string }[];
    expect(again.map((result) => result.status)).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'invalid', 'invalid', 'invalid', 'invalid']);
    expect(await storedOn(learner, card)).toBe(cap);
  });

  it('bounds what a late answer replays: never more than the limit, however many late answers are sent', async () => {
    const learner = await newLearner();
    const card = actors.deck[4]!;
    const repository = repositoriesOf(app.store).learning.answers;
    const scheduler = createScheduler(testConfig().fsrs);
    const replayed: number[] = [];
    const history: number[] = [];
    const service = createAnswersService(
      {
        ...repository,
        *replayInputs(userId: string, cards: readonly LateCard[]) {
          const inputs = yield* repository.replayInputs(userId, cards);
          history.push(...inputs.map((input) => input.answers.length));
          return inputs;
        },
      },
      app.content,
      {
        ...scheduler,
        run: (start: StoredCard | null, answers: readonly ScheduledAnswer[], every?: number) => {
          replayed.push(answers.length);
          return scheduler.run(start, answers, every);
        },
      },
      { maxAnswersPerCard: cap },
    );
    const user = (await app.learning.users.findUser(learner.userId))!;

    expect((await service.recordBatch(user, inOrder(card, cap - 1, 100))).every((outcome) => outcome.status === 'created')).toBe(true);
    // One late answer fills the card: before every snapshot, its replay covers the whole history, exactly the limit.
    expect((await service.recordOne(user, answer(card, { answeredAt: at(0) }))).created).toBe(true);
    expect(history).toEqual([cap]);
    // From now on, every late answer is refused before it is stored or replayed.
    for (let round = 0; round < 10; round++) {
      const late = Array.from({ length: 500 }, (_, index) => answer(card, { answeredAt: at(-1 - index) }));
      const outcomes = await service.recordBatch(user, late);
      expect(outcomes.every((outcome) => outcome.error?.code === 'MNEMO_LEARNING_CARD_ANSWER_LIMIT')).toBe(true);
    }
    expect(history).toEqual([cap]);
    expect(replayed).toEqual([cap - 1, cap]);
    expect(await storedOn(learner, card)).toBe(cap);

    // The state after the late answer is the replay of the whole stored history (FSRS semantics unchanged).
    const [state] = await queryRows<{ reps: number; due: string; stability: number; difficulty: number; last: string }>(
      app,
      'SELECT reps, due, stability, difficulty, last_client_answer_id AS last FROM card_states WHERE user_id = ? AND flashcard_id = ?',
      learner.userId,
      card,
    );
    const expected = scheduler.replay(await repository.run(repository.answersOfCard(learner.userId, card)));
    expect(state).toEqual({ reps: cap, due: expected.due, stability: expected.stability, difficulty: expected.difficulty, last: expected.lastClientAnswerId });
  });

  it('GraphQL recordAnswer over the limit is an error with extensions.code; recordAnswers marks the item INVALID', async () => {
    const learner = await newLearner();
    const card = actors.deck[0]!;
    await fill(learner, card, cap);
    const response = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: learner.headers,
      payload: {
        query: 'mutation($input: AnswerInput!) { recordAnswer(input: $input) { id } }',
        variables: { input: answer(card) },
      },
    });
    const body = response.json() as { data: unknown; errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.[0]?.extensions?.code).toBe('MNEMO_LEARNING_CARD_ANSWER_LIMIT');
    const batch = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: learner.headers,
      payload: {
        query: 'mutation($inputs: [AnswerInput!]!) { recordAnswers(inputs: $inputs) { status error { code } } }',
        variables: { inputs: [answer(card), answer(actors.deck[1]!)] },
      },
    });
    expect(batch.json().data.recordAnswers).toEqual([
      { status: 'INVALID', error: { code: 'MNEMO_LEARNING_CARD_ANSWER_LIMIT' } },
      { status: 'CREATED', error: null },
    ]);
    expect(await storedOn(learner, card)).toBe(cap);
  });
});

describe('answers on a card of an archived module', () => {
  let cards: string[];
  let learner: Learner;
  let before: ReturnType<typeof answer>;

  beforeAll(async () => {
    await app.content.importModule(JSON.stringify(generatedModule('retired-secret', 2)), 'json');
    cards = (await app.inject('/v1/modules/retired-secret/flashcards')).json().items.map((card: { id: string }) => card.id);
    learner = await newLearner();
    before = answer(cards[0]!);
    expect((await post('/v1/me/answers', before, learner.headers)).statusCode).toBe(201);
    expect((await app.inject({ method: 'DELETE', url: '/v1/admin/modules/retired-secret', headers: actors.admin })).statusCode).toBeLessThan(300);
    expect((await app.inject({ url: `/v1/flashcards/${cards[1]}`, headers: learner.headers })).statusCode).toBe(404);
  });

  it.each([
    ['a learner', () => ['/v1/me/answers', learner.headers] as const],
    ['its integration', () => [`/v1/users/${learner.userId}/answers`, actors.integration] as const],
    ['an admin acting for the learner', () => [`/v1/users/${learner.userId}/answers`, actors.admin] as const],
  ])('is refused for %s as an unknown flashcard, without the module slug, and nothing is stored', async (_name, route) => {
    const [path, headers] = route();
    for (const card of cards) {
      const response = await post(path, answer(card), headers);
      expect(response.statusCode).toBe(422);
      expect(response.json().code).toBe('MNEMO_LEARNING_UNKNOWN_FLASHCARD');
      expect(response.body).not.toContain('retired-secret');
    }
    const batch = await post(`${path}/batch`, { answers: cards.map((card) => answer(card)) }, headers);
    expect(batch.json().results.map((result: { error?: { code: string } }) => result.error?.code)).toEqual([
      'MNEMO_LEARNING_UNKNOWN_FLASHCARD',
      'MNEMO_LEARNING_UNKNOWN_FLASHCARD',
    ]);
    expect(batch.body).not.toContain('retired-secret');
    expect(await storedOn(learner, cards[0]!)).toBe(1);
    expect(await storedOn(learner, cards[1]!)).toBe(0);
  });

  it('is refused over GraphQL too', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: learner.headers,
      payload: { query: 'mutation($input: AnswerInput!) { recordAnswer(input: $input) { moduleSlug } }', variables: { input: answer(cards[1]!) } },
    });
    expect(response.json().errors[0].extensions.code).toBe('MNEMO_LEARNING_UNKNOWN_FLASHCARD');
    expect(response.body).not.toContain('retired-secret');
    expect(await storedOn(learner, cards[1]!)).toBe(0);
  });

  it('a retry of an answer stored before the archive is still a duplicate', async () => {
    expect((await post('/v1/me/answers', before, learner.headers)).statusCode).toBe(200);
  });

  it('takes answers again once the module is restored', async () => {
    await app.inject({ method: 'POST', url: '/v1/admin/modules/retired-secret/restore', headers: actors.admin });
    expect((await post('/v1/me/answers', answer(cards[1]!), learner.headers)).statusCode).toBe(201);
  });
});
