import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, testBackend } from '../helpers/app.js';
import { answer, createActors, createLearner, queryRows, type Actors, type Learner } from '../helpers/learners.js';

/**
 * A write of answers costs a bounded number of statements on PostgreSQL, whatever the batch's size: each statement
 * there is a round trip made while holding a pooled connection and the learner's lock. The lock, one read of what
 * the batch needs and one write of its answers, states and snapshots; a late answer's replay adds its card's reads.
 * On SQLite (statements in process) the same batches store the same rows.
 */

let app: FastifyInstance;
let actors: Actors;
beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app, { deckFrom: 'service' });
});
afterAll(() => app.close());

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** Driver statements of one request (transaction control left out), and its response. */
async function statementsOf(learner: Learner, url: string, payload: object) {
  const before = app.store.stats.driverStatements;
  const response = await app.inject({ method: 'POST', url, headers: learner.headers, payload });
  return { statements: app.store.stats.driverStatements - before, response };
}

async function newLearner(name: string) {
  const learner = await createLearner(app, actors.integration, `${name}-${Date.now()}`);
  // Warms what the key and the learner cost the first time (their caches), so only the write is counted.
  expect((await app.inject({ url: '/v1/me/answers?limit=1', headers: learner.headers })).statusCode).toBe(200);
  return learner;
}

const statesOf = (userId: string) =>
  queryRows<{ flashcard_id: string; reps: number | string; last_client_answer_id: string }>(
    app,
    'SELECT flashcard_id, reps, last_client_answer_id FROM card_states WHERE user_id = ? ORDER BY flashcard_id',
    userId,
  );

describe('statements of an answer write', () => {
  it('stays the same for one answer and for a batch over many cards (PostgreSQL), storing every answer and state', async () => {
    const cards = actors.deck.slice(0, 5);
    expect(cards.length).toBe(5);
    const one = await newLearner('one');
    const single = await statementsOf(one, '/v1/me/answers', answer(cards[0]!, { answeredAt: minutesAgo(60) }));
    expect(single.response.statusCode).toBe(201);

    const many = await newLearner('many');
    // 55 answers in order: each card's state extends (no replay); two cards get 20 answers, so each passes its
    // 16th and keeps a snapshot.
    const items = cards.flatMap((card, index) =>
      Array.from({ length: index < 2 ? 20 : 5 }, (_, n) => answer(card, { answeredAt: minutesAgo(60 - n), rating: 1 + (n % 4) })),
    );
    const batch = await statementsOf(many, '/v1/me/answers/batch', { answers: items });
    expect(batch.response.statusCode).toBe(200);
    expect(batch.response.json().results.every((item: { status: string }) => item.status === 'created')).toBe(true);

    const states = await statesOf(many.userId);
    expect(states.map((state) => Number(state.reps)).sort((a, b) => a - b)).toEqual([5, 5, 5, 20, 20]);
    const snapshots = await queryRows<{ n: number | string }>(app, 'SELECT count(*) AS n FROM card_state_snapshots WHERE user_id = ?', many.userId);
    expect(Number(snapshots[0]!.n)).toBe(2);
    const stored = await queryRows<{ n: number | string }>(app, 'SELECT count(*) AS n FROM answers WHERE user_id = ?', many.userId);
    expect(Number(stored[0]!.n)).toBe(items.length);

    console.log(`${testBackend}: ${single.statements} statements for one answer, ${batch.statements} for a batch of ${items.length} over ${cards.length} cards`);
    if (testBackend === 'postgres') {
      // Lock, read, write; at most one more that the request sometimes makes outside the write (it is not the
      // write's: it comes and goes between runs). A write of one answer per statement made 8 and 68 here.
      expect(single.statements).toBeLessThanOrEqual(4);
      expect(batch.statements).toBeLessThanOrEqual(4);
    }
  });

  it('replays a card from the database for a late answer: answers first, then states (PostgreSQL: one read more per card)', async () => {
    const learner = await newLearner('late');
    const [card, other] = actors.deck as [string, string];
    const first = await statementsOf(learner, '/v1/me/answers/batch', {
      answers: [answer(card, { answeredAt: minutesAgo(30) }), answer(card, { answeredAt: minutesAgo(20) }), answer(other, { answeredAt: minutesAgo(20) })],
    });
    expect(first.response.statusCode).toBe(200);
    // An answer earlier than the card's last one, with a later one on another card.
    const late = answer(card, { answeredAt: minutesAgo(25), rating: 1 });
    const second = await statementsOf(learner, '/v1/me/answers/batch', { answers: [late, answer(other, { answeredAt: minutesAgo(10) })] });
    expect(second.response.json().results.map((item: { status: string }) => item.status)).toEqual(['created', 'created']);
    const states = await statesOf(learner.userId);
    const reps = Object.fromEntries(states.map((state) => [state.flashcard_id, Number(state.reps)]));
    expect(reps).toEqual({ [card]: 3, [other]: 2 });
    if (testBackend === 'postgres') {
      // Lock, read, answers, the card's snapshot lookup, its answers, its snapshot delete, states.
      expect(second.statements).toBeLessThanOrEqual(first.statements + 4);
    }
  });
});
