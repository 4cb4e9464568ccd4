import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { createEmptyCard, fsrs, type Card, type Grade } from 'ts-fsrs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, createLearner, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

interface HistoryItem {
  clientAnswerId: string;
  flashcardId: string;
  rating: number;
  answeredAt: string;
}

/** ts-fsrs applied by hand, as the documentation describes: fuzz off, default retention and interval. */
function replayByHand(history: HistoryItem[]): Card {
  const scheduler = fsrs({ request_retention: 0.9, maximum_interval: 36_500, enable_fuzz: false });
  const ordered = [...history].sort((a, b) => (a.answeredAt === b.answeredAt ? (a.clientAnswerId < b.clientAnswerId ? -1 : 1) : a.answeredAt < b.answeredAt ? -1 : 1));
  let card = createEmptyCard(new Date(ordered[0]!.answeredAt));
  for (const item of ordered) card = scheduler.next(card, new Date(item.answeredAt), item.rating as Grade).card;
  return card;
}

const stateNames = ['new', 'learning', 'review', 'relearning'];

async function cardsOf(learner: { headers: { authorization: string } }) {
  const response = await app.inject({ url: '/v1/me/cards?limit=500', headers: learner.headers });
  return response.json().items as {
    flashcardId: string;
    state: string;
    due: string;
    stability: number;
    difficulty: number;
    reps: number;
    lapses: number;
    lastAnsweredAt: string;
    retrievability?: number;
  }[];
}

const withoutRetrievability = <T extends { retrievability?: number }>(items: T[]) => items.map(({ retrievability: _r, ...rest }) => rest);

describe('FSRS card states', () => {
  it('match ts-fsrs replayed by hand for a fixed history', async () => {
    const learner = await createLearner(app, actors.integration, `fixed-${randomUUID()}`);
    const card = actors.deck[0]!;
    const history: HistoryItem[] = [
      { rating: 3, answeredAt: '2026-10-01T09:00:00.000Z' },
      { rating: 3, answeredAt: '2026-10-01T09:12:00.000Z' },
      { rating: 4, answeredAt: '2026-10-03T18:30:00.000Z' },
      { rating: 1, answeredAt: '2026-10-20T07:00:00.000Z' },
      { rating: 2, answeredAt: '2026-10-20T07:15:00.000Z' },
      { rating: 3, answeredAt: '2026-10-22T07:15:00.000Z' },
    ].map((item) => ({ ...item, flashcardId: card, clientAnswerId: randomUUID() }));
    for (const item of history) {
      expect((await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: item })).statusCode).toBe(201);
    }
    const expected = replayByHand(history);
    const [state] = await cardsOf(learner);
    expect(state).toMatchObject({
      flashcardId: card,
      state: stateNames[expected.state],
      due: expected.due.toISOString(),
      stability: expected.stability,
      difficulty: expected.difficulty,
      reps: expected.reps,
      lapses: expected.lapses,
      lastAnsweredAt: '2026-10-22T07:15:00.000Z',
    });
    expect(expected.lapses).toBe(1);
  });

  it('replays a card when a late offline answer is older than what is stored', async () => {
    const learner = await createLearner(app, actors.integration, `late-${randomUUID()}`);
    const card = actors.deck[1]!;
    const later = { ...answer(card, { rating: 3, answeredAt: '2026-11-10T10:00:00.000Z' }) };
    const earlier = { ...answer(card, { rating: 1, answeredAt: '2026-11-08T10:00:00.000Z' }) };
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: later });
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: earlier });
    const expected = replayByHand([later, earlier] as HistoryItem[]);
    const [state] = await cardsOf(learner);
    expect(state).toMatchObject({ reps: 2, lapses: expected.lapses, stability: expected.stability, due: expected.due.toISOString(), lastAnsweredAt: later.answeredAt });
  });

  // Imports or answers hundreds of times: on PostgreSQL each is a few network round trips, slow on a loaded 2-core CI.
  it('are the same whatever order and grouping the answers arrive in (property)', { timeout: 60_000 }, async () => {
    const historyArbitrary = fc
      .array(
        fc.record({
          card: fc.integer({ min: 0, max: 2 }),
          rating: fc.integer({ min: 1, max: 4 }),
          // Minutes after a fixed start, with collisions on purpose: equal times are ordered by clientAnswerId.
          minute: fc.integer({ min: 0, max: 60 * 24 * 40 }),
        }),
        { minLength: 1, maxLength: 25 },
      )
      .map((items) =>
        items.map((item, index) => ({
          clientAnswerId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
          flashcardId: actors.deck[item.card]!,
          rating: item.rating,
          answeredAt: new Date(Date.parse('2026-09-01T00:00:00Z') + (item.minute - (item.minute % 30)) * 60_000).toISOString(),
        })),
      );

    await fc.assert(
      fc.asyncProperty(historyArbitrary, fc.infiniteStream(fc.integer({ min: 0, max: 1_000_000 })), async (history, randomness) => {
        const submit = async (order: HistoryItem[], batchSizes: Iterator<number>) => {
          const learner = await createLearner(app, actors.integration, `prop-${randomUUID()}`);
          for (let index = 0; index < order.length; ) {
            const size = Math.max(1, (batchSizes.next().value as number) % 6);
            const chunk = order.slice(index, index + size);
            index += chunk.length;
            if (chunk.length === 1) {
              await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: chunk[0] });
            } else {
              await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: learner.headers, payload: { answers: chunk } });
            }
          }
          return withoutRetrievability(await cardsOf(learner));
        };
        const random = randomness[Symbol.iterator]();
        const shuffled = [...history].sort(() => ((random.next().value as number) % 3) - 1);
        const oneByOne: Iterator<number> = { next: () => ({ value: 1, done: false }) };
        const inOrder = await submit(history, oneByOne);
        const outOfOrder = await submit(shuffled, random);
        expect(outOfOrder).toEqual(inOrder);
        // And each card equals the hand replay of its own answers.
        for (const state of inOrder) {
          const expected = replayByHand(history.filter((item) => item.flashcardId === state.flashcardId));
          expect(state.stability).toBe(expected.stability);
          expect(state.due).toBe(expected.due.toISOString());
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('study queue, cards and progress', () => {
  it('puts due cards first (most overdue first), then new cards up to newLimit', async () => {
    const learner = await createLearner(app, actors.integration, `study-${randomUUID()}`);
    // Two cards answered weeks ago with Again: both due, the older one more overdue.
    await app.inject({
      method: 'POST',
      url: '/v1/me/answers/batch',
      headers: learner.headers,
      payload: {
        answers: [answer(actors.deck[3]!, { rating: 1, answeredAt: '2026-10-01T00:00:00Z' }), answer(actors.deck[1]!, { rating: 1, answeredAt: '2026-09-01T00:00:00Z' })],
      },
    });
    const queue = (await app.inject({ url: '/v1/me/study?module=networking&limit=4&newLimit=1&format=text', headers: learner.headers })).json().items;
    expect(queue.map((item: { reason: string; flashcard: { id: string } }) => [item.reason, item.flashcard.id])).toEqual([
      ['due', actors.deck[1]],
      ['due', actors.deck[3]],
      ['new', actors.deck[0]],
    ]);
    expect(queue[0].flashcard).toMatchObject({ moduleSlug: 'networking', question: "How does a Pod find the IP of a Service named 'db'?" });
    expect(queue[0].state).toMatchObject({ state: 'learning', flashcardId: actors.deck[1] });
    expect(queue[2].state).toBeNull();

    const limited = (await app.inject({ url: '/v1/me/study?limit=1', headers: learner.headers })).json().items;
    expect(limited).toHaveLength(1);
    const dueOnly = (await app.inject({ url: '/v1/me/cards?due=true', headers: learner.headers })).json().items;
    expect(dueOnly.map((item: { flashcardId: string }) => item.flashcardId).sort()).toEqual([actors.deck[1], actors.deck[3]].sort());
    for (const item of dueOnly) expect(item.retrievability).toBeGreaterThan(0);
  });

  it('reports per-module progress: seen, due, mastered, accuracy, streak', async () => {
    const learner = await createLearner(app, actors.integration, `progress-${randomUUID()}`);
    const today = new Date();
    const daysAgo = (days: number) => new Date(today.getTime() - days * 86_400_000).toISOString();
    await app.inject({
      method: 'POST',
      url: '/v1/me/answers/batch',
      headers: learner.headers,
      payload: { answers: [answer(actors.deck[0]!, { rating: 3, answeredAt: daysAgo(2) }), answer(actors.deck[0]!, { rating: 1, answeredAt: daysAgo(1) }), answer(actors.deck[1]!, { rating: 4, answeredAt: daysAgo(0) })] },
    });
    const progress = (await app.inject({ url: '/v1/me/progress', headers: learner.headers })).json().items;
    expect(progress).toEqual([
      {
        moduleSlug: 'networking',
        totalCards: 5,
        seenCards: 2,
        dueNow: expect.any(Number),
        mastered: 0,
        answers: 3,
        accuracy: 2 / 3,
        lastAnsweredAt: daysAgo(0),
        streakDays: 3,
      },
    ]);
    const other = await createLearner(app, actors.integration, `empty-${randomUUID()}`);
    expect((await app.inject({ url: '/v1/me/progress', headers: other.headers })).json().items).toEqual([]);
    expect((await app.inject({ url: '/v1/me/progress?module=networking', headers: other.headers })).json().items[0]).toMatchObject({ answers: 0, accuracy: null, streakDays: 0 });
  });
});
