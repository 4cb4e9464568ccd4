import { randomUUID } from 'node:crypto';
import { FSRSBinding, type BindingItemState, type BindingMemoryState } from '@open-spaced-repetition/binding';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { createActors, createLearner, type Actors, type Learner } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

/*
 * mnemo's FSRS states (ts-fsrs, fuzz off, default parameters) against reference values that do not come from the
 * code under test: fsrs-rs, the scheduler inside Anki, through its Node binding (@open-spaced-repetition/binding),
 * with fsrs-rs's own default parameters. Histories are day-spaced (every answer of a card on a later UTC day
 * than the one before, at the same time of day), posted through the API in any order; the card states the API
 * reports must carry the reference's stability and difficulty.
 *
 * Tolerance: relative 1e-5 on stability and difficulty. fsrs-rs computes in f32 (24-bit significand: each
 * operation rounds to a relative 6e-8), ts-fsrs in f64 rounded to 8 decimals; a review is some twenty operations
 * (exp, pow) and each review starts from the previous one's rounded result, so the two drift apart by a few
 * hundred f32 rounding steps at most. Measured over 2,000 random histories of up to 12 reviews (gaps up to 60
 * days, retention 0.8/0.9/0.95): at most 2.6e-6 (stability) and 7.3e-7 (difficulty). One parameter off by 0.1%
 * (w8) already moves them by 2e-3, an elapsed-day count off by one by 5e-2.
 */
const tolerance = 1e-5;
const dayMs = 86_400_000;

const fsrsRs = new FSRSBinding();

type Rating = 1 | 2 | 3 | 4;

/** One answer of a card: its rating and the day it was given on, counted from the card's first answer. */
interface Review {
  day: number;
  rating: Rating;
}

interface Reference {
  stability: number;
  difficulty: number;
  /** The interval fsrs-rs schedules after the last answer (days, unrounded), and the four it offered. */
  interval: number;
  offered: Record<'again' | 'hard' | 'good' | 'easy', BindingItemState>;
}

/** fsrs-rs applied to a card's answers in day order: nextStates from no memory, then after each gap in days. */
function reference(reviews: readonly Review[], retention = 0.9): Reference {
  let memory: BindingMemoryState | null = null;
  let previousDay: number | undefined;
  let result: Reference | undefined;
  for (const review of [...reviews].sort((a, b) => a.day - b.day)) {
    const next = fsrsRs.nextStates(memory, retention, previousDay === undefined ? 0 : review.day - previousDay);
    const offered = { again: next.again, hard: next.hard, good: next.good, easy: next.easy };
    const chosen = [offered.again, offered.hard, offered.good, offered.easy][review.rating - 1]!;
    memory = chosen.memory;
    previousDay = review.day;
    result = { stability: memory.stability, difficulty: memory.difficulty, interval: chosen.interval, offered };
  }
  if (!result) throw new Error('a history needs at least one review');
  return result;
}

const relativeDifference = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);

/** A small deterministic generator, so every run checks the same histories (and a failure names its seed). */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    int,
    shuffle<T>(items: readonly T[]): T[] {
      const copy = [...items];
      for (let index = copy.length - 1; index > 0; index--) {
        const other = int(0, index);
        [copy[index], copy[other]] = [copy[other]!, copy[index]!];
      }
      return copy;
    },
  };
}

const seed = 20_261_129;

/** `count` day-spaced histories: 1 to `maxReviews` answers, gaps of 1 to `maxGap` days, ratings from `ratings`. */
function histories(rng: ReturnType<typeof random>, count: number, options: { maxReviews: number; maxGap: number; first?: Rating; ratings?: Rating[] }): Review[][] {
  const ratings = options.ratings ?? [1, 2, 3, 4];
  return Array.from({ length: count }, () => {
    let day = 0;
    return Array.from({ length: rng.int(1, options.maxReviews) }, (_, index) => {
      if (index > 0) day += rng.int(1, options.maxGap);
      const rating = index === 0 && options.first ? options.first : ratings[rng.int(0, ratings.length - 1)]!;
      return { day, rating };
    });
  });
}

interface Posted {
  clientAnswerId: string;
  flashcardId: string;
  rating: Rating;
  answeredAt: string;
}

/**
 * The answers of `histories` on `cards` (one history per card), each history placed so that its last answer is
 * `endDaysAgo` days before now at 09:00 UTC (never in the future, always the same time of day).
 */
function answersFor(cards: readonly string[], all: readonly Review[][], endDaysAgo = 1): Posted[] {
  const today = new Date();
  const base = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate(), 9);
  return all.flatMap((reviews, index) => {
    const span = reviews.at(-1)!.day;
    return reviews.map((review) => ({
      clientAnswerId: randomUUID(),
      flashcardId: cards[index]!,
      rating: review.rating,
      answeredAt: new Date(base - (endDaysAgo + span - review.day) * dayMs).toISOString(),
    }));
  });
}

interface CardState {
  flashcardId: string;
  state: string;
  due: string;
  stability: number;
  difficulty: number;
  reps: number;
  lastAnsweredAt: string;
}

async function cardsOf(app: FastifyInstance, learner: Learner, module?: string): Promise<Map<string, CardState>> {
  const response = await app.inject({ url: `/v1/me/cards?limit=500${module ? `&module=${module}` : ''}`, headers: learner.headers });
  expect(response.statusCode).toBe(200);
  return new Map((response.json().items as CardState[]).map((state) => [state.flashcardId, state]));
}

async function postOneByOne(app: FastifyInstance, learner: Learner, answers: readonly Posted[]): Promise<void> {
  for (const answer of answers) {
    const response = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: answer });
    expect(response.statusCode, response.body).toBe(201);
  }
}

async function postInBatches(app: FastifyInstance, learner: Learner, answers: readonly Posted[], size: number): Promise<void> {
  for (let start = 0; start < answers.length; start += size) {
    const response = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: learner.headers, payload: { answers: answers.slice(start, start + size) } });
    expect(response.statusCode, response.body).toBe(200);
    expect((response.json().results as { status: string }[]).every((result) => result.status === 'created'), response.body).toBe(true);
  }
}

/** Card states that differ from the reference by more than the tolerance, described for the assertion message. */
function compare(states: Map<string, CardState>, cards: readonly string[], all: readonly Review[][]) {
  const mismatches: string[] = [];
  let maxStability = 0;
  let maxDifficulty = 0;
  all.forEach((reviews, index) => {
    const state = states.get(cards[index]!);
    const expected = reference(reviews);
    if (!state) {
      mismatches.push(`card ${index}: no state`);
      return;
    }
    const stability = relativeDifference(state.stability, expected.stability);
    const difficulty = relativeDifference(state.difficulty, expected.difficulty);
    maxStability = Math.max(maxStability, stability);
    maxDifficulty = Math.max(maxDifficulty, difficulty);
    if (stability > tolerance || difficulty > tolerance || state.reps !== reviews.length) {
      mismatches.push(
        `card ${index} ${JSON.stringify(reviews)}: mnemo S=${state.stability} D=${state.difficulty} reps=${state.reps}, ` +
          `fsrs-rs S=${expected.stability} D=${expected.difficulty} reps=${reviews.length}`,
      );
    }
  });
  return { mismatches, maxStability, maxDifficulty };
}

/** The whole days between an answer and the due date it set. */
const scheduledDays = (state: CardState) => (Date.parse(state.due) - Date.parse(state.lastAnsweredAt)) / dayMs;

/**
 * The whole-day intervals a float reference interval allows: rounded to the nearest day (at least 1); both
 * neighbours when it lies within the tolerance of a half day, where f32 and f64 may round apart.
 */
function allowedDays(interval: number): number[] {
  const candidates = new Set([Math.round(interval * (1 - tolerance)), Math.round(interval * (1 + tolerance))]);
  return [...candidates].map((days) => Math.max(1, days));
}

let app: FastifyInstance;
let actors: Actors;
const deckSize = 40;
let deck: string[];

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
  await app.content.importModule(JSON.stringify(generatedModule('reference-deck', deckSize)), 'json');
  deck = (await app.content.getModuleContent('reference-deck')).flashcards.map((card) => card.id);
});
afterAll(() => app.close());

describe('FSRS states against fsrs-rs (the Anki scheduler)', () => {
  it('match its stability and difficulty for day-spaced histories, posted in shuffled order or newest first', async () => {
    const rng = random(seed);
    const all = histories(rng, deckSize, { maxReviews: 8, maxGap: 40 });
    const answers = answersFor(deck, all);

    // One learner posts every answer on its own, in random order: most arrive late and replay their card.
    const shuffled = await createLearner(app, actors.integration, `shuffled-${randomUUID()}`);
    await postOneByOne(app, shuffled, rng.shuffle(answers));
    // Another posts the same answers newest first, in batches that mix cards.
    const reversed = await createLearner(app, actors.integration, `reversed-${randomUUID()}`);
    await postInBatches(app, reversed, [...answers].sort((a, b) => (a.answeredAt < b.answeredAt ? 1 : -1)), 25);

    for (const learner of [shuffled, reversed]) {
      const result = compare(await cardsOf(app, learner, 'reference-deck'), deck, all);
      expect(result.mismatches, `seed ${seed}`).toEqual([]);
      console.log(
        `fsrs-rs reference: ${all.length} cards, ${answers.length} answers; largest relative difference ` +
          `stability ${result.maxStability.toExponential(2)}, difficulty ${result.maxDifficulty.toExponential(2)} (tolerance ${tolerance})`,
      );
    }
  });

  it('agree on hand-picked histories: lapses, a long gap, a card answered Hard throughout', async () => {
    const all: Review[][] = [
      [{ day: 0, rating: 3 }],
      [{ day: 0, rating: 1 }, { day: 1, rating: 1 }, { day: 2, rating: 3 }, { day: 5, rating: 3 }],
      [{ day: 0, rating: 4 }, { day: 8, rating: 3 }, { day: 30, rating: 1 }, { day: 31, rating: 3 }, { day: 35, rating: 4 }],
      [{ day: 0, rating: 3 }, { day: 400, rating: 3 }],
      [{ day: 0, rating: 2 }, { day: 2, rating: 2 }, { day: 5, rating: 2 }, { day: 9, rating: 2 }, { day: 14, rating: 2 }],
    ];
    const learner = await createLearner(app, actors.integration, `hand-picked-${randomUUID()}`);
    await postOneByOne(app, learner, random(seed + 1).shuffle(answersFor(deck, all)));
    expect(compare(await cardsOf(app, learner, 'reference-deck'), deck, all).mismatches).toEqual([]);
  });
});

describe('progress against the reference', () => {
  it("counts as 'mastered' exactly the cards in review whose fsrs-rs stability is 21 days or more", async () => {
    // First answer Easy: the card graduates to review at once; later Hard/Good/Easy keep it there. Some histories
    // end with Again, which sends the card to relearning (not mastered, whatever its stability).
    const rng = random(seed + 2);
    const candidates = [
      ...histories(rng, 60, { maxReviews: 5, maxGap: 60, first: 4, ratings: [2, 3, 4] }).map((reviews) => ({ reviews, lapsed: false })),
      ...histories(rng, 20, { maxReviews: 4, maxGap: 60, first: 4, ratings: [2, 3, 4] }).map((reviews) => ({
        reviews: [...reviews, { day: reviews.at(-1)!.day + rng.int(1, 30), rating: 1 as const }],
        lapsed: true,
      })),
    ]
      // Stabilities within 2% of the threshold would test the tolerance, not the rule.
      .filter(({ reviews }) => Math.abs(reference(reviews).stability - 21) / 21 > 0.02);
    const chosen = [...candidates.filter((card) => !card.lapsed).slice(0, 14), ...candidates.filter((card) => card.lapsed).slice(0, 4)];
    const expectedMastered = chosen.filter((card) => !card.lapsed && reference(card.reviews).stability >= 21).length;
    expect(expectedMastered, 'the sample has mastered cards').toBeGreaterThanOrEqual(3);
    expect(chosen.length - expectedMastered, 'and cards that are not').toBeGreaterThanOrEqual(3);
    expect(chosen.filter((card) => card.lapsed), 'and lapsed cards').toHaveLength(4);

    await app.content.importModule(JSON.stringify(generatedModule('mastery-deck', chosen.length)), 'json');
    const cards = (await app.content.getModuleContent('mastery-deck')).flashcards.map((card) => card.id);
    const learner = await createLearner(app, actors.integration, `mastery-${randomUUID()}`);
    await postOneByOne(app, learner, rng.shuffle(answersFor(cards, chosen.map((card) => card.reviews))));

    const states = await cardsOf(app, learner, 'mastery-deck');
    expect(compare(states, cards, chosen.map((card) => card.reviews)).mismatches).toEqual([]);
    chosen.forEach((card, index) => expect(states.get(cards[index]!)!.state, JSON.stringify(card.reviews)).toBe(card.lapsed ? 'relearning' : 'review'));
    const progress = await app.inject({ url: '/v1/me/progress?module=mastery-deck', headers: learner.headers });
    expect(progress.json().items[0]).toMatchObject({ moduleSlug: 'mastery-deck', seenCards: chosen.length, mastered: expectedMastered });
  });

  it('counts the streak of consecutive answer days ending today or yesterday, broken by a gap', async () => {
    const card = actors.deck[0]!;
    const other = actors.deck[1]!;
    // Days ago of each answer (two on one day count once) -> expected streak.
    const cases: [number[], number][] = [
      [[0, 1, 2, 3], 4],
      [[1, 2, 3, 5, 6], 3],
      [[0, 2, 3, 4], 1],
      [[2, 3, 4], 0],
      [[0, 0, 1, 1, 9], 2],
      [[1], 1],
    ];
    const now = Date.now();
    for (const [daysAgo, expected] of cases) {
      const learner = await createLearner(app, actors.integration, `streak-${randomUUID()}`);
      const answers: Posted[] = daysAgo.map((days, index) => ({
        clientAnswerId: randomUUID(),
        flashcardId: index % 2 === 0 ? card : other,
        rating: 3,
        answeredAt: new Date(now - days * dayMs - index * 1000).toISOString(),
      }));
      await postOneByOne(app, learner, random(seed + expected).shuffle(answers));
      const progress = await app.inject({ url: '/v1/me/progress?module=networking', headers: learner.headers });
      expect(progress.json().items[0].streakDays, JSON.stringify(daysAgo)).toBe(expected);
    }
  });
});

describe('configured retention', () => {
  it('FSRS_DESIRED_RETENTION sets the intervals fsrs-rs computes for that retention', async () => {
    const firstGapDays = 6;
    const intervals: Record<string, { first: number; second: number }> = {};
    for (const retention of ['0.8', '0.9', '0.95']) {
      const fsrs = testConfig({}, { FSRS_DESIRED_RETENTION: retention }).fsrs;
      expect(fsrs.desiredRetention).toBe(Number(retention));
      const retentionApp = await buildTestApp({ seed: true, config: { fsrs } });
      try {
        const { learner, deck: cards } = await createActors(retentionApp, { deckFrom: 'service' });
        // Easy on a new card: straight to review, at the interval for the first Easy stability.
        const history: Review[] = [{ day: 0, rating: 4 }];
        const [first] = answersFor([cards[0]!], [history], 40);
        await postOneByOne(retentionApp, learner, [first!]);
        const afterFirst = (await cardsOf(retentionApp, learner)).get(cards[0]!)!;
        const firstReference = reference(history, Number(retention));
        expect(allowedDays(firstReference.interval), `retention ${retention}, first interval`).toContain(scheduledDays(afterFirst));

        // Good, `firstGapDays` later: the Good interval for the new stability (ts-fsrs keeps Hard < Good < Easy by
        // whole days; for these histories the reference intervals are already apart, checked here).
        history.push({ day: firstGapDays, rating: 3 });
        await postOneByOne(retentionApp, learner, [
          { clientAnswerId: randomUUID(), flashcardId: cards[0]!, rating: 3, answeredAt: new Date(Date.parse(first!.answeredAt) + firstGapDays * dayMs).toISOString() },
        ]);
        const afterSecond = (await cardsOf(retentionApp, learner)).get(cards[0]!)!;
        const secondReference = reference(history, Number(retention));
        expect(Math.round(secondReference.offered.hard.interval)).toBeLessThan(Math.round(secondReference.offered.good.interval));
        expect(relativeDifference(afterSecond.stability, secondReference.stability)).toBeLessThanOrEqual(tolerance);
        expect(allowedDays(secondReference.interval), `retention ${retention}, second interval`).toContain(scheduledDays(afterSecond));
        intervals[retention] = { first: scheduledDays(afterFirst), second: scheduledDays(afterSecond) };
      } finally {
        await retentionApp.close();
      }
    }
    // Asking for more retention means shorter intervals.
    expect(intervals['0.8']!.first).toBeGreaterThan(intervals['0.9']!.first);
    expect(intervals['0.9']!.first).toBeGreaterThan(intervals['0.95']!.first);
    expect(intervals['0.8']!.second).toBeGreaterThan(intervals['0.9']!.second);
    expect(intervals['0.9']!.second).toBeGreaterThan(intervals['0.95']!.second);
    console.log(`fsrs-rs reference: intervals (days) after Easy, then Good ${firstGapDays} days later, by retention: ${JSON.stringify(intervals)}`);
  });
});
