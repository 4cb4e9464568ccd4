import { createEmptyCard, fsrs, type Card, type Grade, type State } from 'ts-fsrs';

export const cardStateNames = ['new', 'learning', 'review', 'relearning'] as const;
export type CardStateName = (typeof cardStateNames)[number];

/** A card's FSRS memory state as stored, with the key of the last answer applied to it. */
export interface StoredCard {
  state: number;
  due: string;
  stability: number;
  difficulty: number;
  elapsedDays: number;
  scheduledDays: number;
  learningSteps: number;
  reps: number;
  lapses: number;
  lastReview: string | null;
  lastAnsweredAt: string;
  lastClientAnswerId: string;
}

/** What the scheduler needs from an answer; answers are applied in (answeredAt, clientAnswerId) order. */
export interface ScheduledAnswer {
  answeredAt: string;
  clientAnswerId: string;
  rating: number;
}

export interface SchedulerOptions {
  desiredRetention: number;
  maximumIntervalDays: number;
}

/** Orders answers as the card state is defined over them. */
export function compareAnswers(a: ScheduledAnswer, b: ScheduledAnswer): number {
  if (a.answeredAt !== b.answeredAt) return a.answeredAt < b.answeredAt ? -1 : 1;
  return a.clientAnswerId < b.clientAnswerId ? -1 : a.clientAnswerId > b.clientAnswerId ? 1 : 0;
}

/** The state after a run of answers, and the states it passed through at every `every`-th answer of the card. */
export interface SchedulerRun {
  state: StoredCard;
  /** States right after the answers whose `reps` is a multiple of `every`, in order; each keyed by that answer. */
  snapshots: StoredCard[];
}

/**
 * FSRS through ts-fsrs, fuzz off so a history always yields the same state. The state is a pure function of the
 * ordered answers: `replay` computes it from scratch, `apply` extends a stored state with later answers, `run`
 * does either (from a stored state or snapshot, or from a new card) and reports the states it passed through;
 * they all agree because stored values round-trip exactly (REAL doubles, millisecond ISO times).
 */
export function createScheduler(options: SchedulerOptions) {
  const scheduler = fsrs({
    request_retention: options.desiredRetention,
    maximum_interval: options.maximumIntervalDays,
    enable_fuzz: false,
  });

  function toCard(stored: StoredCard): Card {
    return {
      state: stored.state as State,
      due: new Date(stored.due),
      stability: stored.stability,
      difficulty: stored.difficulty,
      elapsed_days: stored.elapsedDays,
      scheduled_days: stored.scheduledDays,
      learning_steps: stored.learningSteps,
      reps: stored.reps,
      lapses: stored.lapses,
      ...(stored.lastReview ? { last_review: new Date(stored.lastReview) } : {}),
    };
  }

  function fromCard(card: Card, last: ScheduledAnswer): StoredCard {
    return {
      state: card.state,
      due: card.due.toISOString(),
      stability: card.stability,
      difficulty: card.difficulty,
      elapsedDays: card.elapsed_days,
      scheduledDays: card.scheduled_days,
      learningSteps: card.learning_steps,
      reps: card.reps,
      lapses: card.lapses,
      lastReview: card.last_review ? card.last_review.toISOString() : null,
      lastAnsweredAt: last.answeredAt,
      lastClientAnswerId: last.clientAnswerId,
    };
  }

  /**
   * Applies `answers` in order to `start`, or to a new card created at the first answer's time when `start` is
   * null (as `replay` does). With `every`, the state after each answer that makes `reps` a multiple of it is
   * reported as a snapshot. One FSRS step per answer.
   */
  function run(start: StoredCard | null, answers: readonly ScheduledAnswer[], every = 0): SchedulerRun {
    const ordered = [...answers].sort(compareAnswers);
    const first = ordered[0];
    if (!first) throw new Error('a run needs at least one answer');
    let card = start ? toCard(start) : createEmptyCard(new Date(first.answeredAt));
    const snapshots: StoredCard[] = [];
    for (const answer of ordered) {
      card = scheduler.next(card, new Date(answer.answeredAt), answer.rating as Grade).card;
      if (every > 0 && card.reps % every === 0) snapshots.push(fromCard(card, answer));
    }
    return { state: fromCard(card, ordered.at(-1)!), snapshots };
  }

  return {
    run,

    /** The state after every answer of a card, applied in order from a new card. */
    replay(answers: readonly ScheduledAnswer[]): StoredCard {
      return run(null, answers).state;
    },

    /** Applies answers that all come after the stored state's last answer. */
    apply(stored: StoredCard, later: readonly ScheduledAnswer[]): StoredCard {
      return run(stored, later).state;
    },

    /** Probability of recall now (0-1). */
    retrievability(stored: StoredCard, now: Date): number {
      return scheduler.get_retrievability(toCard(stored), now, false);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;

/** Whether `answer` sorts after the last answer a stored state includes. */
export const comesAfter = (answer: ScheduledAnswer, stored: StoredCard) =>
  compareAnswers(answer, { answeredAt: stored.lastAnsweredAt, clientAnswerId: stored.lastClientAnswerId, rating: 0 }) > 0;
