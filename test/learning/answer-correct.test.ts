import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, queryRows, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

const post = (payload: object) => app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload });

describe('correct and rating derive from each other', () => {
  it('derives correct from a rating alone: above Again is correct', async () => {
    for (const [rating, correct] of [[1, false], [2, true], [3, true], [4, true]] as const) {
      const created = await post(answer(actors.deck[0]!, { rating }));
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({ rating, correct });
    }
    const history = (await app.inject({ url: '/v1/me/answers?limit=4', headers: actors.learner.headers })).json();
    expect(history.items.map((item: { correct: boolean | null }) => item.correct).sort()).toEqual([false, true, true, true]);
  });

  it('keeps both as sent, and maps correct alone to Good or Again', async () => {
    expect((await post(answer(actors.deck[1]!, { rating: 3, correct: false }))).json()).toMatchObject({ rating: 3, correct: false });
    const { rating: _rating, ...withoutRating } = answer(actors.deck[1]!, { correct: true });
    expect((await post(withoutRating)).json()).toMatchObject({ rating: 3, correct: true });
  });

  it('treats a retry as the same answer whether or not it spells out the derived value', async () => {
    const original = answer(actors.deck[2]!, { rating: 3 });
    expect((await post(original)).statusCode).toBe(201);
    expect((await post(original)).statusCode).toBe(200);
    expect((await post({ ...original, correct: true })).statusCode).toBe(200);
    expect((await post({ ...original, correct: false })).statusCode).toBe(409);
  });

  it('keeps a retry of an answer stored before correct was derived (correct NULL) a duplicate', async () => {
    const legacy = answer(actors.deck[3]!, { rating: 3 });
    expect((await post(legacy)).statusCode).toBe(201);
    const again = answer(actors.deck[3]!, { rating: 1 });
    expect((await post(again)).statusCode).toBe(201);
    // As rows were stored before: the rating alone, correct NULL.
    await queryRows(app, 'UPDATE answers SET correct = NULL WHERE client_answer_id IN (?, ?)', legacy.clientAnswerId, again.clientAnswerId);

    const retried = await post(legacy);
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toMatchObject({ clientAnswerId: legacy.clientAnswerId, rating: 3 });
    expect((await post(again)).statusCode).toBe(200);
    expect((await post({ ...legacy, correct: true })).statusCode).toBe(200);
    expect((await post({ ...legacy, correct: false })).statusCode).toBe(409);

    const batch = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: [legacy, again] } });
    expect(batch.json().results.map((result: { status: string }) => result.status)).toEqual(['duplicate', 'duplicate']);
  });
});
