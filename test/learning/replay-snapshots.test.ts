import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import type { UserRow } from '../../src/db/schema.js';
import { repositoriesOf } from '../../src/db/repositories.js';
import type { AnswersRepository } from '../../src/learning/answers-repository.js';
import { createAnswersService } from '../../src/learning/answers-service.js';
import { createScheduler, type ScheduledAnswer, type Scheduler, type StoredCard } from '../../src/learning/scheduler.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors, createLearner, queryRows, type Actors } from '../helpers/learners.js';

/**
 * Card states are replayed from snapshots taken every N answers of a card: whatever order and grouping answers
 * arrive in, the stored state and snapshots are exactly those of a full replay, and a late answer costs at most
 * N FSRS steps plus one per answer after it, however long the card's history.
 */

let app: FastifyInstance;
let actors: Actors;
let repository: AnswersRepository;
const scheduler = createScheduler(testConfig().fsrs);
const seed = Number(process.env.SNAPSHOT_PROPERTY_SEED ?? 20261202);

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
  repository = repositoriesOf(app.store).learning.answers;
});
afterAll(() => app.close());

/** A service over the app's database with its own snapshot interval and clock, counting FSRS steps per write. */
function serviceWith(options: { snapshotEvery: number; now?: () => Date; maxAnswersPerCard?: number }) {
  const steps: number[] = [];
  const counting: Scheduler = {
    ...scheduler,
    run: (start, answers, every) => {
      steps.push(answers.length);
      return scheduler.run(start, answers, every);
    },
  };
  const service = createAnswersService(repository, app.content, counting, { maxAnswersPerCard: options.maxAnswersPerCard ?? 1000, ...options });
  return { service, steps };
}

async function newUser(): Promise<UserRow> {
  const learner = await createLearner(app, actors.integration, `snapshots-${randomUUID()}`);
  return (await app.learning.users.findUser(learner.userId))!;
}

const stateColumns = (state: StoredCard): StoredCard => ({
  state: state.state,
  due: state.due,
  stability: state.stability,
  difficulty: state.difficulty,
  elapsedDays: state.elapsedDays,
  scheduledDays: state.scheduledDays,
  learningSteps: state.learningSteps,
  reps: state.reps,
  lapses: state.lapses,
  lastReview: state.lastReview,
  lastAnsweredAt: state.lastAnsweredAt,
  lastClientAnswerId: state.lastClientAnswerId,
});

/** The stored state and snapshots of a card equal a full replay of its stored answers, field for field. */
async function expectFullReplay(userId: string, flashcardId: string, every: number) {
  const history = (await repository.run(repository.answersOfCard(userId, flashcardId)));
  const full = scheduler.run(null, history, every);
  const stored = (await repository.run(repository.findState(userId, flashcardId)));
  expect(stored && stateColumns(stored)).toEqual(full.state);
  expect((await repository.run(repository.snapshotsOf(userId, flashcardId)))).toEqual(full.snapshots);
  expect(full.snapshots.map((snapshot) => snapshot.reps)).toEqual(Array.from({ length: Math.floor(history.length / every) }, (_, index) => (index + 1) * every));
}

const base = Date.parse('2026-09-01T00:00:00Z');
const minutes = (count: number) => new Date(base + count * 60_000).toISOString();
const item = (flashcardId: string, answeredAt: string, rating = 3) => answer(flashcardId, { answeredAt, rating });
const created = (outcomes: { status: string }[]) => outcomes.every((outcome) => outcome.status === 'created');

describe(`card states replayed from snapshots (property, seed ${seed})`, () => {
  it.each([2, 3, 16])('equal a full replay, snapshots included, whatever order and batches the answers arrive in (every %i answers)', async (every) => {
    const { service } = serviceWith({ snapshotEvery: every });
    const historyArbitrary = fc.array(
      fc.record({
        // Three cards, or two with N = 16 so that their histories span several snapshots.
        card: fc.integer({ min: 0, max: every > 3 ? 1 : 2 }),
        rating: fc.integer({ min: 1, max: 4 }),
        // Half-hour slots over 40 days: equal times happen, and are ordered by clientAnswerId.
        slot: fc.integer({ min: 0, max: 2 * 24 * 40 }),
        // Half the answers arrive in time order, the others late (or early) by up to 40 places.
        displacement: fc.oneof(fc.constant(0), fc.integer({ min: -40, max: 40 })),
        // Where a new batch starts (one-answer batches are the single-answer route's path), and whether that
        // batch lists its answers in reverse order.
        breakBefore: fc.integer({ min: 0, max: 2 }).map((draw) => draw === 0),
        reverseBatch: fc.boolean(),
      }),
      { minLength: 1, maxLength: 80 },
    );
    await fc.assert(
      fc.asyncProperty(historyArbitrary, async (drawn) => {
        const user = await newUser();
        const history = drawn
          .map((entry, index) => ({
            ...entry,
            answer: { ...item(actors.deck[entry.card]!, minutes(entry.slot * 30), entry.rating), clientAnswerId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}` },
          }))
          .sort((a, b) => (a.answer.answeredAt < b.answer.answeredAt ? -1 : a.answer.answeredAt > b.answer.answeredAt ? 1 : a.answer.clientAnswerId < b.answer.clientAnswerId ? -1 : 1));
        const arrival = history.map((entry, rank) => ({ entry, at: rank + entry.displacement + rank / 1000 })).sort((a, b) => a.at - b.at);
        const batches: (typeof history)[] = [];
        for (const { entry } of arrival) {
          if (entry.breakBefore || batches.length === 0) batches.push([]);
          batches.at(-1)!.push(entry);
        }
        for (const batch of batches) {
          if (batch[0]!.reverseBatch) batch.reverse();
          expect(created(await service.recordBatch(user, batch.map((entry) => entry.answer)))).toBe(true);
          for (const card of new Set(batch.map((entry) => entry.answer.flashcardId))) await expectFullReplay(user.id, card, every);
        }
      }),
      { seed, numRuns: 150 },
    );
  }, 120_000);

  it('replay from the snapshot before the earliest late answer of a batch, whatever the batch order', async () => {
    const { service, steps } = serviceWith({ snapshotEvery: 3 });
    const user = await newUser();
    const card = actors.deck[0]!;
    expect(created(await service.recordBatch(user, Array.from({ length: 12 }, (_, index) => item(card, minutes(10 + index * 60)))))).toBe(true);
    steps.length = 0;
    // Snapshots after answers 3, 6, 9 and 12. Late by 4 and by 7 answers, the later one first: the replay starts
    // at the snapshot before the earlier one (after answer 3), not at the one before the first listed (6).
    expect(created(await service.recordBatch(user, [item(card, minutes(10 + 7 * 60 + 30), 1), item(card, minutes(10 + 4 * 60 + 30), 2)]))).toBe(true);
    expect(steps).toEqual([12 - 3 + 2]);
    await expectFullReplay(user.id, card, 3);
  });

  it('agree with scheduler.replay of every answer (the definition of the state)', async () => {
    const { service } = serviceWith({ snapshotEvery: 3 });
    const user = await newUser();
    const card = actors.deck[0]!;
    const answers = Array.from({ length: 40 }, (_, index) => item(card, minutes(index * 97), 1 + ((index * 7) % 4)));
    const order = [...answers.slice(20), ...answers.slice(0, 20).reverse()];
    for (const body of order) expect((await service.recordOne(user, body)).created).toBe(true);
    const stored = (await repository.run(repository.findState(user.id, card)))!;
    expect(stateColumns(stored)).toEqual(scheduler.replay(answers as ScheduledAnswer[]));
    await expectFullReplay(user.id, card, 3);
  });
});

describe('the cost of an answer in FSRS steps', () => {
  const every = 16;

  it('is one step in time order, and at most N plus the answers after it for a late one, with a history of 500', async () => {
    const { service, steps } = serviceWith({ snapshotEvery: every });
    const user = await newUser();
    const card = actors.deck[1]!;
    const answers = Array.from({ length: 500 }, (_, index) => item(card, minutes(10 + index * 60), 1 + (index % 4)));
    for (let from = 0; from < answers.length; from += 100) expect(created(await service.recordBatch(user, answers.slice(from, from + 100)))).toBe(true);
    expect(steps).toEqual([100, 100, 100, 100, 100]);

    steps.length = 0;
    await service.recordOne(user, item(card, minutes(10 + 500 * 60)));
    expect(steps).toEqual([1]);

    // Late answers at several depths: each replays from the latest snapshot before it.
    for (const after of [0, 1, 7, 16, 17, 40, 250]) {
      steps.length = 0;
      const history = (await repository.run(repository.answersOfCard(user.id, card)));
      const before = Date.parse(history[history.length - after - 1]!.answeredAt);
      const next = Date.parse(history[history.length - after]?.answeredAt ?? minutes(100_000));
      // Halfway between its neighbours, so exactly `after` stored answers sort after it.
      const late = item(card, new Date(Math.floor((before + next) / 2)).toISOString());
      expect((await service.recordOne(user, late)).created).toBe(true);
      expect(steps).toHaveLength(1);
      expect(steps[0]).toBeLessThanOrEqual(every + after);
      expect(steps[0]).toBeGreaterThanOrEqual(after + 1);
      await expectFullReplay(user.id, card, every);
    }

    // The earliest possible late answer changes every state after it: the whole history, and no more.
    steps.length = 0;
    await service.recordOne(user, item(card, minutes(0)));
    expect(steps).toEqual([(await repository.run(repository.answersOfCard(user.id, card))).length]);
    await expectFullReplay(user.id, card, every);
  });

  it('stays bounded when one answer from a clock running ahead makes the real-time ones late (5-minute skew)', async () => {
    let clock = Date.parse('2026-11-30T12:00:00Z');
    const { service, steps } = serviceWith({ snapshotEvery: every, now: () => new Date(clock) });
    const user = await newUser();
    const card = actors.deck[2]!;
    const past = Array.from({ length: 300 }, (_, index) => item(card, new Date(clock - (300 - index) * 3_600_000).toISOString(), 1 + (index % 4)));
    expect(created(await service.recordBatch(user, past))).toBe(true);

    steps.length = 0;
    const ahead = item(card, new Date(clock + 4 * 60_000).toISOString(), 3);
    expect((await service.recordOne(user, ahead)).created).toBe(true);
    expect(steps).toEqual([1]);

    for (let index = 0; index < 50; index++) {
      clock += 4_000;
      steps.length = 0;
      expect((await service.recordOne(user, item(card, new Date(clock).toISOString(), 1 + (index % 4)))).created).toBe(true);
      expect(steps).toHaveLength(1);
      // The snapshot before it is at most N - 1 answers back; then itself and the answer from the future.
      expect(steps[0]).toBeLessThanOrEqual(every + 2);
    }
    await expectFullReplay(user.id, card, every);
    expect((await repository.run(repository.findState(user.id, card)))).toMatchObject({ reps: 351, lastClientAnswerId: ahead.clientAnswerId });
  });

  it('replays a card answered before snapshots existed from its first answer once, then from its snapshots', async () => {
    const { service, steps } = serviceWith({ snapshotEvery: every });
    const user = await newUser();
    const card = actors.deck[3]!;
    const answers = Array.from({ length: 100 }, (_, index) => item(card, minutes(10 + index * 60), 1 + (index % 4)));
    expect(created(await service.recordBatch(user, answers))).toBe(true);
    // As a database migrated from before snapshots: states, no snapshots.
    await queryRows(app, 'DELETE FROM card_state_snapshots WHERE user_id = ?', user.id);

    steps.length = 0;
    await service.recordOne(user, item(card, minutes(10 + 95 * 60 + 1)));
    expect(steps).toEqual([101]);
    await expectFullReplay(user.id, card, every);

    steps.length = 0;
    await service.recordOne(user, item(card, minutes(10 + 90 * 60 + 1)));
    expect(steps[0]).toBeLessThanOrEqual(every + 11);
    await expectFullReplay(user.id, card, every);
  });
});

describe('snapshots and the learner', () => {
  it('are written by the app (every 16 answers) and erased with the learner (ON DELETE CASCADE)', async () => {
    const learner = await createLearner(app, actors.integration, `erase-snapshots-${randomUUID()}`);
    const card = actors.deck[4]!;
    const answers = Array.from({ length: 40 }, (_, index) => item(card, minutes(index * 60)));
    const response = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: learner.headers, payload: { answers } });
    expect(response.statusCode).toBe(200);
    expect(await countRows(app, 'card_state_snapshots', 'user_id = ?', learner.userId)).toBe(2);
    await expectFullReplay(learner.userId, card, 16);

    // Derived data, like the states: the export carries the answers and states, not the snapshots.
    const exported = await app.inject({ url: `/v1/users/${learner.userId}/export`, headers: actors.integration });
    expect(exported.statusCode).toBe(200);
    expect(Object.keys(exported.json()).some((key) => /snapshot/i.test(key))).toBe(false);

    const erased = await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration });
    expect(erased.statusCode).toBe(204);
    expect(await countRows(app, 'card_state_snapshots', 'user_id = ?', learner.userId)).toBe(0);
    expect(await countRows(app, 'card_states', 'user_id = ?', learner.userId)).toBe(0);
  });
});
