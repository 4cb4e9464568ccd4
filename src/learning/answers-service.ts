import { z } from 'zod';
import { liveOnly, type Visibility } from '../content/visibility.js';
import type { AnswerRow, UserRow } from '../db/schema.js';
import type { Work } from '../db/work.js';
import { databaseFailureOf } from '../db/failures.js';
import { AppError, type ErrorDetail } from '../errors.js';
import { newId } from '../ids.js';
import { decodeCursor } from '../lib/cursor.js';
import { type Page, keysetPage, mapPage } from '../lib/page.js';
import type { AnswerRecord, AnswersRepository, AnswerWriteReads, CardStateWrite, FlashcardRef, HistoryQuery, LateCard, ReplayInput, SnapshotWrite } from './answers-repository.js';
import { moduleIdOf, type ModuleLookup } from './module-filter.js';
import { answerInputSchema, type AnswerDto } from './schemas.js';
import { createGroupCommit, type JobResult } from './group-commit.js';
import { comesAfter, compareAnswers, type ScheduledAnswer, type Scheduler, type SchedulerRun, type StoredCard } from './scheduler.js';
import { presentAnswer } from './users-service.js';

export type AnswerStatus = 'created' | 'duplicate' | 'conflict' | 'invalid';

export interface AnswerOutcome {
  clientAnswerId: string | null;
  status: AnswerStatus;
  answer?: AnswerDto;
  error?: AppError;
}

/** One batch item's result as both doors send it (GraphQL spells the status as its enum). */
export function presentOutcome(outcome: AnswerOutcome) {
  return {
    clientAnswerId: outcome.clientAnswerId,
    status: outcome.status,
    ...(outcome.answer ? { answer: outcome.answer } : {}),
    ...(outcome.error
      ? { error: { code: outcome.error.code, message: outcome.error.message, ...(outcome.error.errors ? { errors: outcome.error.errors } : {}) } }
      : {}),
  };
}

/**
 * Answer calls waiting for a transaction, at most, and how long one may wait: beyond either the database cannot keep
 * up, and a client is better told so at once (503, Retry-After) than left waiting behind a growing backlog.
 */
const maxQueuedCalls = 1024;
const maxQueueWaitMs = 10_000;

/** How far ahead of the server's clock a client's answeredAt may be (clock skew), in milliseconds. */
const maxClockSkewMs = 5 * 60 * 1000;

/** The comparable content of an answer: a retry is a duplicate only when all of these are equal. */
interface NormalizedAnswer {
  clientAnswerId: string;
  flashcardId: string;
  rating: number;
  correct: boolean;
  answeredAt: string;
  durationMs: number | null;
  response: string | null;
}

/** Whether an answer rated `rating` was right: anything above Again (1), as progress `accuracy` counts it. */
const correctFromRating = (rating: number) => rating > 1;

/**
 * Each of `rating` and `correct` is derived from the other when the client sent only one, and stored so: `correct`
 * alone maps to Good (3) or Again (1), a `rating` alone to `correct: rating > 1`. Both sent are kept as sent.
 */
function normalize(input: z.infer<typeof answerInputSchema>): NormalizedAnswer {
  const rating = input.rating ?? (input.correct ? 3 : 1);
  return {
    clientAnswerId: input.clientAnswerId.toLowerCase(),
    flashcardId: input.flashcardId,
    rating,
    correct: input.correct ?? correctFromRating(rating),
    answeredAt: new Date(input.answeredAt).toISOString(),
    durationMs: input.durationMs ?? null,
    response: input.response ?? null,
  };
}

const samePayload = (a: NormalizedAnswer, b: NormalizedAnswer) =>
  a.flashcardId === b.flashcardId &&
  a.rating === b.rating &&
  a.correct === b.correct &&
  a.answeredAt === b.answeredAt &&
  a.durationMs === b.durationMs &&
  a.response === b.response;

const unique = (values: string[]) => [...new Set(values)];

/** A batch item after validation: the answer as stored, or its outcome when it is invalid. */
type ParsedItem = { answer: NormalizedAnswer; invalid?: undefined } | { answer?: undefined; invalid: AnswerOutcome };

interface HistoryFilters {
  limit: number;
  module?: string | undefined;
  flashcardId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** What a history page is read with, `module` resolved to its id (and the cache key of the page). */
type HistoryFilter = Omit<HistoryQuery, 'userId'>;

const historyCursor = { answeredAt: z.string().max(40), id: z.string().max(64) };

export interface AnswersServiceOptions {
  /**
   * Answers one learner may store on one card: bounds a card's history, and so the replay of a card that has no
   * snapshots yet (one answered before they existed) inside the write transaction.
   */
  maxAnswersPerCard: number;
  /** A snapshot of a card's state is kept after every `snapshotEvery`-th answer of the card (16 by default). */
  snapshotEvery?: number;
  now?: () => Date;
  /** Queue every new answer's xAPI statement in the outbox, in the answer's transaction (an LRS is configured). */
  queueStatements?: boolean;
  /** Called after a transaction that queued statements has committed: the dispatcher need not wait for its poll. */
  statementsQueued?: () => void;
}

/**
 * Records answers: idempotent per (user, clientAnswerId), card states updated in the same write transaction (calls
 * arriving together share one: group commit). Answers after a card's last applied answer extend its state, one FSRS step each; an
 * older (late, offline) answer makes the card be replayed from its latest snapshot before that answer, so at most
 * `snapshotEvery` steps plus one per answer after it, whatever the history's length. A card holds at most
 * `maxAnswersPerCard` answers: an answer beyond that is refused (MNEMO_LEARNING_CARD_ANSWER_LIMIT).
 */
export function createAnswersService(repository: AnswersRepository, modules: ModuleLookup, scheduler: Scheduler, options: AnswersServiceOptions) {
  const { maxAnswersPerCard } = options;
  const snapshotEvery = options.snapshotEvery ?? 16;
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 1) throw new Error(`snapshotEvery must be a positive integer, got ${snapshotEvery}`);
  const now = options.now ?? (() => new Date());
  const queueStatements = options.queueStatements ?? false;

  /** Whether the card's state is the stored one extended by `answers` (all after its last answer): no reads needed. */
  const extendsStored = (stored: StoredCard | undefined, answers: ScheduledAnswer[]) => !stored || answers.every((answer) => comesAfter(answer, stored));

  /**
   * The card's state with the new answers included, and the snapshots that run produced. A card without a state has
   * no earlier answers (both are written in one transaction): the new ones are its whole history; later answers
   * extend the state. A late one's card is replayed from `replay` (`replayInputs`): snapshots before the earliest
   * new answer still hold (the answers before it did not change), and the replay from the latest one writes those
   * after it again; a card with no snapshot before that answer (all its answers are later, or it was answered before
   * snapshots existed) replays from its first.
   */
  function nextState(stored: StoredCard | undefined, answers: ScheduledAnswer[], replay: ReplayInput | undefined): SchedulerRun {
    if (!stored) return scheduler.run(null, answers, snapshotEvery);
    if (!replay) return scheduler.run(stored, answers, snapshotEvery);
    return scheduler.run(replay.from ?? null, replay.answers, snapshotEvery);
  }

  /**
   * Adds one learner's new answers, with the states (and snapshots) of the cards they touched, to the transaction's
   * `writes`, which are written at its end (`writeAnswers`: one statement on PostgreSQL). Every card's run is
   * computed here. A replay reads the card's answers from the database, the new ones included: when a card needs
   * one, the learner's answers are written first, then every late card's replay is read at once (and its snapshots
   * from the late answer on are dropped, before its new ones are written).
   */
  function* storeAnswers(
    userId: string,
    rows: AnswerRow[],
    states: ReadonlyMap<string, StoredCard>,
    touched: Map<string, { ref: FlashcardRef; answers: ScheduledAnswer[] }>,
    writes: PendingWrites,
  ): Work<void> {
    const late: LateCard[] = [];
    for (const { ref, answers } of touched.values()) {
      if (extendsStored(states.get(ref.id), answers)) continue;
      const earliest = answers.reduce((first, answer) => (compareAnswers(answer, first) < 0 ? answer : first));
      late.push({ flashcardId: ref.id, key: { answeredAt: earliest.answeredAt, clientAnswerId: earliest.clientAnswerId } });
    }
    const replays = new Map<string, ReplayInput>();
    if (late.length) {
      yield* repository.writeAnswers({ answers: rows, states: [], snapshots: [], queueStatements });
      const inputs = yield* repository.replayInputs(userId, late);
      late.forEach((card, index) => replays.set(card.flashcardId, inputs[index]!));
    } else writes.answers.push(...rows);
    for (const { ref, answers } of touched.values()) {
      const { state, snapshots } = nextState(states.get(ref.id), answers, replays.get(ref.id));
      for (const snapshot of snapshots) writes.snapshots.push({ userId, flashcardId: ref.id, snapshot });
      writes.states.push({ userId, card: ref, state });
    }
  }

  function invalid(clientAnswerId: string | null, error: AppError): AnswerOutcome {
    return { clientAnswerId, status: 'invalid', error };
  }

  /** What a transaction's calls write at its end: their answers, states and snapshots. */
  interface PendingWrites {
    answers: AnswerRow[];
    states: CardStateWrite[];
    snapshots: SnapshotWrite[];
    queueStatements: boolean;
  }

  /** A call of `record` on its way to the database: its items validated, the time it was received. */
  interface WriteJob {
    user: UserRow;
    parsed: readonly ParsedItem[];
    receivedAt: Date;
  }

  // Calls that arrive while earlier writes are in flight share one transaction (group commit): one BEGIN/COMMIT,
  // and on SQLite one IMMEDIATE lock, for the lot. One learner's calls run one after another, in order, never in two
  // transactions at once: they would wait for each other inside the database anyway (its per-learner lock), each
  // holding a pooled connection meanwhile, so a few concurrent calls of one learner could take every connection.
  const runGroup = async (jobs: readonly WriteJob[]) => {
    const results = await repository.write(() => storeAll(jobs));
    if (queueStatements) options.statementsQueued?.();
    return results;
  };
  const submit = createGroupCommit<WriteJob, AnswerOutcome[]>(runGroup, {
    concurrency: repository.writeConcurrency,
    maxJobs: 64,
    // A group's answers, at most: SQLite's WAL holds a whole transaction, about 20 KiB per answer, and the WAL
    // stays under 16 MiB only while one transaction adds a few MiB (500 answers per group let it reach 18 MiB).
    maxWeight: 100,
    weight: (job) => job.parsed.length,
    key: (job) => job.user.id,
    maxQueued: maxQueuedCalls,
    maxWaitMs: maxQueueWaitMs,
    overloaded: () => new AppError('MNEMO_OVERLOADED', 'too many answer writes are waiting; retry after a few seconds'),
    // The database busy, out of time or gone fails every call the same way: none of them would do better alone.
    jobSpecific: (error) => {
      const failure = databaseFailureOf(error);
      return failure !== 'busy' && failure !== 'unavailable' && !(error instanceof AppError && error.status === 503);
    },
  });

  /** Every item gets an outcome, in input order; valid items are stored even when others are not. */
  function record(user: UserRow, items: readonly unknown[]): Promise<AnswerOutcome[]> {
    const receivedAt = now();
    // Validation happens before the transaction, so the write lock is held only for the writes.
    const parsed = items.map((item): ParsedItem => {
      const result = answerInputSchema.safeParse(item);
      if (result.success) return { answer: normalize(result.data) };
      const rawId = (item as { clientAnswerId?: unknown } | null)?.clientAnswerId;
      const errors: ErrorDetail[] = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
      return { invalid: invalid(typeof rawId === 'string' ? rawId.slice(0, 100) : null, new AppError('MNEMO_REQUEST_INVALID', errors[0]?.message, errors)) };
    });
    return submit({ user, parsed, receivedAt });
  }

  /**
   * One transaction's calls. Every learner in it is locked first, in one statement (a group only tries the locks, so
   * it never waits for another transaction), then what the calls need is read. A call whose learner is gone ends with
   * its error and the others go on (it wrote nothing).
   */
  function* storeAll(jobs: readonly WriteJob[]): Work<JobResult<AnswerOutcome[]>[]> {
    const learners = jobs.map((job) => job.user.id);
    if (new Set(learners).size !== learners.length) throw new Error('a write transaction takes one call per learner');
    // A call alone waits for its learner's lock. In a group, a learner whose lock another transaction holds (another
    // instance's write, an erasure) would hold up every call of the group: that call runs again alone instead.
    // The reads run after the locks are held, never with them: READ COMMITTED gives each statement the commits made
    // before it started, so they see what a write that held a lock before this one committed. For every call at
    // once (one statement on PostgreSQL, sent with the locks; a batch holds one call per learner, so no call reads
    // what another one writes): whether the learner still exists (it was resolved before the write waited for the
    // lock; an erasure may have committed meanwhile), answers already stored under the call's ids, the flashcards
    // named (cards of archived modules are unknown), and the learner's states of those cards.
    const { busy, reads } = yield* repository.lockAndReadForWrite(
      jobs.map((job) => {
        const valid = job.parsed.flatMap((entry) => (entry.answer ? [entry.answer] : []));
        return { userId: job.user.id, clientAnswerIds: unique(valid.map((answer) => answer.clientAnswerId)), flashcardIds: unique(valid.map((answer) => answer.flashcardId)) };
      }),
      { wait: jobs.length === 1 },
    );
    const held = new Set(busy);
    const ready = jobs.flatMap((job, index) => (held.has(job.user.id) ? [] : [{ job, reads: reads[index]! }]));
    const stored = ready.length ? yield* storeLocked(ready) : [];
    let next = 0;
    return jobs.map((job) => (held.has(job.user.id) ? { alone: true } : stored[next++]!));
  }

  /** `storeAll` once the calls' learners are locked and their reads done. */
  function* storeLocked(jobs: readonly { job: WriteJob; reads: AnswerWriteReads }[]): Work<JobResult<AnswerOutcome[]>[]> {
    const writes: PendingWrites = { answers: [], states: [], snapshots: [], queueStatements };
    const results: JobResult<AnswerOutcome[]>[] = [];
    for (const { job, reads } of jobs) results.push(yield* store(job, reads, writes));
    yield* repository.writeAnswers({ ...writes, last: true });
    return results;
  }

  /**
   * One call of `record` in the write transaction: outcomes of the parsed items, the valid ones added to `writes`
   * with their cards' states. Its learner is locked (`storeAll`): writes of one learner's answers run one after the
   * other on every engine and across instances, so a retried clientAnswerId finds the first attempt's row and a
   * card's state follows every answer stored before.
   */
  function* store({ user, parsed, receivedAt }: WriteJob, reads: AnswerWriteReads, writes: PendingWrites): Work<JobResult<AnswerOutcome[]>> {
    const latestAccepted = receivedAt.getTime() + maxClockSkewMs;
    if (!reads.userExists) return { error: new AppError('MNEMO_LEARNING_USER_NOT_FOUND', 'the learner no longer exists') };
    const outcomes: AnswerOutcome[] = [];
    const inBatch = new Map<string, { normalized: NormalizedAnswer; record: AnswerRecord }>();
    const touched = new Map<string, { ref: FlashcardRef; answers: ScheduledAnswer[] }>();
    const rows: AnswerRow[] = [];
    const storedById = new Map(reads.answers.map((row) => [row.clientAnswerId, row]));
    const refs = new Map(reads.refs.map((ref) => [ref.id, ref]));
    // A state's `reps` is the number of answers stored on its card: every answer applied is one FSRS review
    // (ts-fsrs adds 1 to reps on each next()), and states are written in the same transaction as the answers.
    const states = new Map(reads.states.map((state) => [state.flashcardId, state]));
    const storedOnCard = (cardId: string) => (states.get(cardId)?.reps ?? 0) + (touched.get(cardId)?.answers.length ?? 0);

    for (const entry of parsed) {
      if (!entry.answer) {
        outcomes.push(entry.invalid);
        continue;
      }
      const answer = entry.answer;
      const earlier = inBatch.get(answer.clientAnswerId);
      const existing = earlier?.record ?? storedById.get(answer.clientAnswerId);
      if (existing) {
        const same = earlier ? samePayload(earlier.normalized, answer) : samePayload(normalizeStored(existing), answer);
        outcomes.push(
          same
            ? { clientAnswerId: answer.clientAnswerId, status: 'duplicate', answer: presentAnswer(existing) }
            : {
                clientAnswerId: answer.clientAnswerId,
                status: 'conflict',
                error: new AppError(
                  'MNEMO_LEARNING_ANSWER_CONFLICT',
                  `answer "${answer.clientAnswerId}" was already recorded with different content; nothing was changed`,
                ),
              },
        );
        continue;
      }
      if (Date.parse(answer.answeredAt) > latestAccepted) {
        outcomes.push(
          invalid(answer.clientAnswerId, new AppError('MNEMO_LEARNING_ANSWER_IN_FUTURE', 'answeredAt is more than 5 minutes ahead of the server clock', [{ path: 'answeredAt', message: 'in the future' }])),
        );
        continue;
      }
      const ref = refs.get(answer.flashcardId);
      if (!ref) {
        outcomes.push(
          invalid(answer.clientAnswerId, new AppError('MNEMO_LEARNING_UNKNOWN_FLASHCARD', `no flashcard with id "${answer.flashcardId}"`, [{ path: 'flashcardId', message: 'unknown flashcard' }])),
        );
        continue;
      }
      if (storedOnCard(ref.id) >= maxAnswersPerCard) {
        outcomes.push(
          invalid(
            answer.clientAnswerId,
            new AppError('MNEMO_LEARNING_CARD_ANSWER_LIMIT', `at most ${maxAnswersPerCard} answers per learner are stored for one flashcard`, [
              { path: 'flashcardId', message: 'answer limit reached for this flashcard' },
            ]),
          ),
        );
        continue;
      }
      const row: AnswerRow = {
        id: newId('ans'),
        userId: user.id,
        moduleId: ref.moduleId,
        receivedAt: receivedAt.toISOString(),
        ...answer,
        correct: Number(answer.correct),
      };
      rows.push(row);
      const stored: AnswerRecord = { ...row, moduleSlug: ref.moduleSlug };
      inBatch.set(answer.clientAnswerId, { normalized: answer, record: stored });
      const card = touched.get(ref.id) ?? { ref, answers: [] };
      card.answers.push(answer);
      touched.set(ref.id, card);
      outcomes.push({ clientAnswerId: answer.clientAnswerId, status: 'created', answer: presentAnswer(stored) });
    }
    yield* storeAnswers(user.id, rows, states, touched, writes);
    return { value: outcomes };
  }

  return {
    recordBatch: record,

    /** One answer: 201 created, 200 duplicate; a conflict (409) or invalid answer (4xx) throws. */
    async recordOne(user: UserRow, input: unknown): Promise<{ created: boolean; answer: AnswerDto }> {
      const [outcome] = await record(user, [input]);
      if (outcome!.error) throw outcome!.error;
      return { created: outcome!.status === 'created', answer: outcome!.answer! };
    },

    /** Newest answeredAt first; a `module` filter is resolved under the caller's visibility (404 when hidden). */
    async history(user: UserRow, query: HistoryFilters & { cursor?: string | undefined }, visibility: Visibility = liveOnly): Promise<Page<AnswerDto>> {
      const before = query.cursor === undefined ? undefined : decodeCursor('answers', query.cursor, historyCursor);
      return (await repository.run(historyWork(user.id, query, before, visibility))).page;
    },
  };

  // Works are generator functions declared here once, given their data as arguments: a `function*` expression per
  // call costs V8 a new function with its own prototype and object map, which made a cached read about 4x slower.
  function* historyWork(userId: string, query: HistoryFilters, before: HistoryFilter['before'], visibility: Visibility): Work<{ page: Page<AnswerDto> }> {
    const filter: HistoryFilter = {
      limit: query.limit,
      before,
      moduleId: yield* moduleIdOf(modules, query.module, visibility),
      flashcardId: query.flashcardId,
      since: query.since && new Date(query.since).toISOString(),
      until: query.until && new Date(query.until).toISOString(),
    };
    // A page changes only with the learner's own answers (an answer's module slug never changes): kept in memory
    // until the next one.
    return yield* repository.cachedForLearner(userId, `history\u0000${JSON.stringify(filter)}`, () => historyPage(userId, filter));
  }

  function* historyPage(userId: string, filter: HistoryFilter): Work<{ page: Page<AnswerDto>; bytes: number }> {
    const page = yield* keysetPage(
      'answers',
      filter.limit,
      (limit) => repository.history({ ...filter, userId, limit }),
      (answer) => ({ answeredAt: answer.answeredAt, id: answer.id }),
    );
    // Approximate bytes: an answer is about 400 without its response, which the client wrote (up to 10,000
    // characters, two bytes each once one is outside Latin-1).
    const bytes = page.items.reduce((total, answer) => total + 400 + 2 * (answer.response?.length ?? 0), 256);
    return { page: mapPage(page, presentAnswer), bytes };
  }
}

export type AnswersService = ReturnType<typeof createAnswersService>;

/**
 * A stored answer as `normalize` would have produced it. Rows stored before `correct` was derived from `rating`
 * hold null there; deriving it here keeps a retry of such an answer a duplicate rather than a conflict.
 */
function normalizeStored(answer: AnswerRecord): NormalizedAnswer {
  return {
    clientAnswerId: answer.clientAnswerId,
    flashcardId: answer.flashcardId,
    rating: answer.rating,
    correct: answer.correct === null ? correctFromRating(answer.rating) : answer.correct === 1,
    answeredAt: answer.answeredAt,
    durationMs: answer.durationMs,
    response: answer.response,
  };
}

