import { and, asc, desc, eq, getTableColumns, gt, gte, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import { liveModule } from '../content/repository.js';
import type { Db } from '../db/client.js';
import { createCommitCache } from '../db/commit-cache.js';
import { idList, inIdList } from '../db/id-list.js';
import { answers, cardStates, cardStateSnapshots, flashcards, modules, users, xapiOutbox, type AnswerRow, type CardStateRow } from '../db/schema.js';
import { transactionsOf } from '../db/transactions.js';
import { done, step, type Work } from '../db/work.js';
import { defined, optional, prepared, shapeOf, type PreparedAll } from './prepared-statements.js';
import type { ScheduledAnswer, StoredCard } from './scheduler.js';

export interface AnswerRecord extends AnswerRow {
  moduleSlug: string;
}

export interface CardStateRecord extends CardStateRow {
  moduleSlug: string;
}

export interface HistoryQuery {
  userId: string;
  limit: number;
  /** Keyset position: the last item of the previous page (newest first). */
  before?: { answeredAt: string; id: string } | undefined;
  moduleId?: string | undefined;
  flashcardId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export interface CardStatesQuery {
  userId: string;
  limit: number;
  afterFlashcardId?: string | undefined;
  moduleId?: string | undefined;
  dueBy?: string | undefined;
}

/** Where an answer sorts among a card's answers. */
export interface AnswerKey {
  answeredAt: string;
  clientAnswerId: string;
}

/** A flashcard as a study queue lists it: the card's module by slug, which resolves it from content in memory. */
export interface StudyCardRef {
  flashcardId: string;
  moduleSlug: string;
}

/** What a learner's reads derive, kept between commits (see `cachedForLearner`): its size for the memory bound. */
export interface LearnerRead {
  bytes: number;
}

/** Derived learner reads kept in memory, at most this many bytes (approximately) in all, and per learner. */
const learnerReadBytes = 16 * 1024 * 1024;
const learnerReadsPerLearner = 16;

export interface FlashcardRef {
  id: string;
  moduleId: string;
  moduleSlug: string;
}

/** `lockLearners`: wait for every lock (the default), or only try them. */
export interface LockOptions {
  wait?: boolean;
}

/** What one learner's write of answers asks `lockAndReadForWrite` for: its batch's clientAnswerIds and flashcards. */
export interface AnswerWriteRequest {
  userId: string;
  clientAnswerIds: string[];
  flashcardIds: string[];
}

/** What a write of answers reads once it holds the learner's lock (`lockAndReadForWrite`), for one learner. */
export interface AnswerWriteReads {
  /** Whether the learner still exists: an erasure may have committed while the write waited for the lock. */
  userExists: boolean;
  /** The answers already stored under the batch's clientAnswerIds. */
  answers: AnswerRecord[];
  /** The batch's flashcards that take answers (cards of archived modules are left out, as unknown). */
  refs: FlashcardRef[];
  /** The learner's states of the batch's flashcards (any others it returns are never looked up). */
  states: CardStateRow[];
}

/** A card a late answer makes replay (`replayInputs`): the key of the earliest answer it is given now. */
export interface LateCard {
  flashcardId: string;
  key: AnswerKey;
}

/**
 * What a late card is replayed from: its latest snapshot strictly before the late answer (as a state) and the card's
 * answers after that snapshot, or, with no such snapshot, none and all of the card's answers; in answer order.
 */
export interface ReplayInput {
  from: StoredCard | undefined;
  answers: ScheduledAnswer[];
}

/**
 * `lockAndReadForWrite`'s answer: the learners whose lock another transaction holds (only when it was told not to
 * wait), and each request's reads in the order asked, none for a busy learner.
 */
export interface LockedReads {
  busy: string[];
  reads: (AnswerWriteReads | undefined)[];
}

/** A card state to write, with the learner and card it belongs to. */
export interface CardStateWrite {
  userId: string;
  card: Pick<FlashcardRef, 'id' | 'moduleId'>;
  state: StoredCard;
}

/** A snapshot of a card's state to write (keyed by the learner, the card and the snapshot's last answer). */
export interface SnapshotWrite {
  userId: string;
  flashcardId: string;
  snapshot: StoredCard;
}

/**
 * The rows a write of answers stores (`writeAnswers`), of one learner or several: new answers, the card states they
 * lead to and the snapshots kept on the way. Any part may be empty.
 */
export interface AnswerWrites {
  answers: readonly AnswerRow[];
  states: readonly CardStateWrite[];
  snapshots: readonly SnapshotWrite[];
  /** Queue each new answer's xAPI statement in the outbox, in the same transaction (an LRS is configured). */
  queueStatements?: boolean;
  /**
   * The transaction writes nothing after these rows and does nothing after them that can fail: an engine may commit
   * with them (PostgreSQL sends COMMIT in the same round trip).
   */
  last?: boolean;
}

/** The learners whose rows `writes` holds. */
export const learnersOf = (writes: AnswerWrites): Set<string> =>
  new Set([...writes.answers.map((row) => row.userId), ...writes.states.map((row) => row.userId), ...writes.snapshots.map((row) => row.userId)]);

// Rows with the slug of their module (what clients see), columns in table order.
const answerColumns = { ...getTableColumns(answers), moduleSlug: modules.slug };
const stateColumns = { ...getTableColumns(cardStates), moduleSlug: modules.slug };

/** The FSRS columns card states and their snapshots share (db/schema.ts `fsrsStateColumns`). */
const fsrsColumns = ['state', 'due', 'stability', 'difficulty', 'elapsedDays', 'scheduledDays', 'learningSteps', 'reps', 'lapses', 'lastReview'] as const;

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** All SQL for answers and the card states derived from them, with the study queue read from both. */
export function createAnswersRepository(db: Db) {
  const p = sql.placeholder;
  const historyStatements = new Map<string, PreparedAll<AnswerRecord>>();
  const stateStatements = new Map<string, PreparedAll<CardStateRecord>>();
  const dueStatements = new Map<string, PreparedAll<CardStateRecord>>();
  const newCardStatements = new Map<string, PreparedAll<StudyCardRef>>();
  // Keyed and grouped by learner: every write of a learner's answers or states through this repository drops the
  // learner's entries, and a commit by another connection drops them all.
  const learnerReads = createCommitCache<LearnerRead>(db, {
    max: 8192,
    cacheMisses: false,
    size: { max: learnerReadBytes, of: (read) => read.bytes },
    maxPerGroup: learnerReadsPerLearner,
  });
  const answerByClientId = db
    .select(answerColumns)
    .from(answers)
    .innerJoin(modules, eq(modules.id, answers.moduleId))
    .where(and(eq(answers.userId, p('userId')), eq(answers.clientAnswerId, p('clientAnswerId'))))
    .prepare();
  const answersOfCard = db
    .select({ answeredAt: answers.answeredAt, clientAnswerId: answers.clientAnswerId, rating: answers.rating })
    .from(answers)
    .where(and(eq(answers.userId, p('userId')), eq(answers.flashcardId, p('flashcardId'))))
    .orderBy(asc(answers.answeredAt), asc(answers.clientAnswerId))
    .prepare();
  // Row values compare as the answers are ordered, (answeredAt, clientAnswerId), and SQLite seeks an index with
  // them: each of these is one range over answers_user_card_idx or the snapshots' primary key.
  const answerKey = (table: typeof answers | typeof cardStateSnapshots) => sql`(${table.answeredAt}, ${table.clientAnswerId})`;
  const boundKey = sql`(${p('answeredAt')}, ${p('clientAnswerId')})`;
  const answersOfCardAfter = db
    .select({ answeredAt: answers.answeredAt, clientAnswerId: answers.clientAnswerId, rating: answers.rating })
    .from(answers)
    .where(and(eq(answers.userId, p('userId')), eq(answers.flashcardId, p('flashcardId')), sql`${answerKey(answers)} > ${boundKey}`))
    .orderBy(asc(answers.answeredAt), asc(answers.clientAnswerId))
    .prepare();
  // A snapshot read as a state: its key is the state's last answer.
  const { userId: _userId, flashcardId: _flashcardId, answeredAt, clientAnswerId, ...snapshotFsrsColumns } = getTableColumns(cardStateSnapshots);
  const snapshotColumns = { ...snapshotFsrsColumns, lastAnsweredAt: answeredAt, lastClientAnswerId: clientAnswerId };
  const snapshotOfCard = and(eq(cardStateSnapshots.userId, p('userId')), eq(cardStateSnapshots.flashcardId, p('flashcardId')));
  const latestSnapshotBefore = db
    .select(snapshotColumns)
    .from(cardStateSnapshots)
    .where(and(snapshotOfCard, sql`${answerKey(cardStateSnapshots)} < ${boundKey}`))
    .orderBy(desc(cardStateSnapshots.answeredAt), desc(cardStateSnapshots.clientAnswerId))
    .limit(1)
    .prepare();
  const deleteSnapshotsFrom = db
    .delete(cardStateSnapshots)
    .where(and(snapshotOfCard, sql`${answerKey(cardStateSnapshots)} >= ${boundKey}`))
    .prepare();
  const snapshotsOfCard = db
    .select(snapshotColumns)
    .from(cardStateSnapshots)
    .where(snapshotOfCard)
    .orderBy(asc(cardStateSnapshots.answeredAt), asc(cardStateSnapshots.clientAnswerId))
    .prepare();
  const upsertSnapshot = db
    .insert(cardStateSnapshots)
    .values({
      userId: p('userId'),
      flashcardId: p('flashcardId'),
      answeredAt: p('lastAnsweredAt'),
      clientAnswerId: p('lastClientAnswerId'),
      ...Object.fromEntries(fsrsColumns.map((column) => [column, p(column)])),
    } as unknown as typeof cardStateSnapshots.$inferInsert)
    .onConflictDoUpdate({
      target: [cardStateSnapshots.userId, cardStateSnapshots.flashcardId, cardStateSnapshots.answeredAt, cardStateSnapshots.clientAnswerId],
      set: Object.fromEntries(fsrsColumns.map((column) => [column, sql.raw(`excluded.${snakeCase(column)}`)])),
    })
    .prepare();
  const userById = db.select({ id: users.id }).from(users).where(eq(users.id, p('userId'))).prepare();
  const stateOf = db
    .select()
    .from(cardStates)
    .where(and(eq(cardStates.userId, p('userId')), eq(cardStates.flashcardId, p('flashcardId'))))
    .prepare();
  const refColumns = { id: flashcards.id, moduleId: flashcards.moduleId, moduleSlug: modules.slug };
  // A card of an archived module is refused like an unknown one, for every caller: answers go to live content only
  // (the study queue never offers such a card either). A card archived by a re-import of a live module still
  // takes answers, as GET /v1/flashcards/:id still serves it.
  const flashcardRef = db
    .select(refColumns)
    .from(flashcards)
    .innerJoin(modules, eq(modules.id, flashcards.moduleId))
    .where(and(eq(flashcards.id, p('id')), liveModule))
    .prepare();
  const answersByClientIds = db
    .select(answerColumns)
    .from(answers)
    .innerJoin(modules, eq(modules.id, answers.moduleId))
    .where(and(eq(answers.userId, p('userId')), inIdList(answers.clientAnswerId)))
    .prepare();
  const flashcardRefsByIds = db
    .select(refColumns)
    .from(flashcards)
    .innerJoin(modules, eq(modules.id, flashcards.moduleId))
    .where(and(inIdList(flashcards.id), liveModule))
    .prepare();
  const statesByCardIds = db
    .select()
    .from(cardStates)
    .where(and(eq(cardStates.userId, p('userId')), inIdList(cardStates.flashcardId)))
    .prepare();
  // The answer write path runs these once per answer: prepared once, not rebuilt per call.
  const answerColumnsToInsert = [
    'id', 'userId', 'clientAnswerId', 'flashcardId', 'moduleId', 'rating', 'correct', 'answeredAt', 'receivedAt', 'durationMs', 'response',
  ] as const;
  const insertAnswer = db
    .insert(answers)
    .values(Object.fromEntries(answerColumnsToInsert.map((column) => [column, p(column)])) as unknown as AnswerRow)
    .prepare();
  // Due at once: the dispatcher claims it as soon as it looks (xapi/dispatcher.ts).
  const insertOutbox = db.insert(xapiOutbox).values({ answerId: p('id'), nextAttemptAt: p('receivedAt'), createdAt: p('receivedAt') } as unknown as typeof xapiOutbox.$inferInsert).prepare();
  const stateColumnsToWrite = [...fsrsColumns, 'lastAnsweredAt', 'lastClientAnswerId'] as const;
  const stateValues = Object.fromEntries(stateColumnsToWrite.map((column) => [column, p(column)]));
  const upsertState = db
    .insert(cardStates)
    .values({ userId: p('userId'), flashcardId: p('flashcardId'), moduleId: p('moduleId'), ...stateValues } as unknown as CardStateRow)
    .onConflictDoUpdate({
      target: [cardStates.userId, cardStates.flashcardId],
      set: Object.fromEntries(['moduleId', ...stateColumnsToWrite].map((column) => [column, sql.raw(`excluded.${snakeCase(column)}`)])),
    })
    .prepare();

  /** A batch's earlier answers in one query (idempotency check for the whole batch); one id is a key lookup. */
  function* findAnswers(userId: string, clientAnswerIds: string[]): Work<AnswerRecord[]> {
    if (clientAnswerIds.length === 1) return optional(yield* step(() => answerByClientId.get({ userId, clientAnswerId: clientAnswerIds[0]! })));
    return clientAnswerIds.length ? yield* step(() => answersByClientIds.all({ userId, ids: idList(clientAnswerIds) })) : [];
  }

  /** The flashcards answers may be recorded on, by id: cards of archived modules are left out (as unknown). */
  function* findFlashcardRefs(ids: string[]): Work<FlashcardRef[]> {
    if (ids.length === 1) return optional(yield* step(() => flashcardRef.get({ id: ids[0]! })));
    return ids.length ? yield* step(() => flashcardRefsByIds.all({ ids: idList(ids) })) : [];
  }

  /** A batch's card states in one query (their `reps` count the answers stored per card); one id is a key lookup. */
  function* findStates(userId: string, flashcardIds: string[]): Work<CardStateRow[]> {
    if (flashcardIds.length === 1) return optional(yield* step(() => stateOf.get({ userId, flashcardId: flashcardIds[0]! })));
    return flashcardIds.length ? yield* step(() => statesByCardIds.all({ userId, ids: idList(flashcardIds) })) : [];
  }

  return {
    ...transactionsOf(db),

    /**
     * Serialises the writes of these learners' rows (answers, keys) with each other and with their erasure;
     * PostgreSQL takes a transaction lock on each learner (`wait: false` only tries, and gives back the learners it
     * could not lock). Nothing to do on SQLite: a write is one BEGIN IMMEDIATE transaction, which already
     * serialises every writer.
     */
    lockLearners: (_userIds: readonly string[], _options: LockOptions = {}): Work<string[]> => done([]),
    /** Answer write transactions worth running at once: SQLite has one writer. */
    writeConcurrency: 1,

    findAnswers,
    /**
     * Locks the learners (`lockLearners`; nothing to take on SQLite, and none is ever busy), then reads what their
     * writes of answers need, per learner in the order asked: the four lookups in turn (each a prepared statement,
     * one id a key lookup), none after finding the learner gone.
     */
    *lockAndReadForWrite(requests: readonly AnswerWriteRequest[], _options: LockOptions = {}): Work<LockedReads> {
      const reads: AnswerWriteReads[] = [];
      for (const { userId, clientAnswerIds, flashcardIds } of requests) {
        if ((yield* step(() => userById.get({ userId }))) === undefined) {
          reads.push({ userExists: false, answers: [], refs: [], states: [] });
          continue;
        }
        const found = yield* findAnswers(userId, clientAnswerIds);
        const refs = yield* findFlashcardRefs(flashcardIds);
        const states = yield* findStates(userId, refs.map((ref) => ref.id));
        reads.push({ userExists: true, answers: found, refs, states });
      }
      return { busy: [], reads };
    },

    /**
     * A write's answers (with their outbox rows), snapshots and states, in that order: in-process prepared statements, one run each (a
     * statement costs no round trip here).
     */
    /**
     * What the learner's late cards are replayed from, in the order asked; each card's snapshots at or after its key
     * are deleted (they no longer hold once an answer sorting there is stored). The late answers must be stored
     * already. Three prepared statements per card (a statement costs no round trip here).
     */
    *replayInputs(userId: string, cards: readonly LateCard[]): Work<ReplayInput[]> {
      const inputs: ReplayInput[] = [];
      for (const { flashcardId, key } of cards) {
        const from = yield* step(() => latestSnapshotBefore.get({ userId, flashcardId, ...key }));
        const answers = from
          ? yield* step(() => answersOfCardAfter.all({ userId, flashcardId, answeredAt: from.lastAnsweredAt, clientAnswerId: from.lastClientAnswerId }))
          : yield* step(() => answersOfCard.all({ userId, flashcardId }));
        yield* step(() => deleteSnapshotsFrom.run({ userId, flashcardId, ...key }));
        inputs.push({ from, answers });
      }
      return inputs;
    },

    *writeAnswers(writes: AnswerWrites): Work<void> {
      if (!writes.answers.length && !writes.states.length && !writes.snapshots.length) return;
      for (const userId of learnersOf(writes)) learnerReads.forget(userId);
      yield* step(() => {
        for (const answer of writes.answers) insertAnswer.run(answer);
        if (writes.queueStatements) for (const answer of writes.answers) insertOutbox.run(answer);
        for (const { userId, flashcardId, snapshot } of writes.snapshots) upsertSnapshot.run({ userId, flashcardId, ...snapshot });
        for (const { userId, card, state } of writes.states) upsertState.run({ userId, flashcardId: card.id, moduleId: card.moduleId, ...state });
      });
    },

    /**
     * A read derived from one learner's answers and states (and from content, which `key` must then name by its
     * stamp), loaded once and served from memory until the learner's next write or another process's commit.
     */
    cachedForLearner: <T extends LearnerRead>(userId: string, key: string, load: () => Work<T>): Work<T> =>
      learnerReads.get(`${userId}\u0000${key}`, load, userId) as Work<T>,
    /** Drops what `cachedForLearner` holds for the learner: their data was written (or erased) elsewhere than here. */
    forgetLearner: (userId: string) => learnerReads.forget(userId),
    *answersOfCard(userId: string, flashcardId: string): Work<ScheduledAnswer[]> {
      return yield* step(() => answersOfCard.all({ userId, flashcardId }));
    },

    *snapshotsOf(userId: string, flashcardId: string): Work<StoredCard[]> {
      return yield* step(() => snapshotsOfCard.all({ userId, flashcardId }));
    },

    *history(query: HistoryQuery): Work<AnswerRecord[]> {
      const shape = shapeOf(query.moduleId, query.flashcardId, query.since, query.until, query.before);
      const statement = prepared(historyStatements, shape, () =>
        db
          .select(answerColumns)
          .from(answers)
          .innerJoin(modules, eq(modules.id, answers.moduleId))
          .where(
            and(
              eq(answers.userId, p('userId')),
              query.moduleId !== undefined ? eq(answers.moduleId, p('moduleId')) : undefined,
              query.flashcardId !== undefined ? eq(answers.flashcardId, p('flashcardId')) : undefined,
              query.since !== undefined ? gte(answers.answeredAt, p('since')) : undefined,
              query.until !== undefined ? lt(answers.answeredAt, p('until')) : undefined,
              query.before !== undefined
                ? or(lt(answers.answeredAt, p('beforeAt')), and(eq(answers.answeredAt, p('beforeAt')), lt(answers.id, p('beforeId'))))
                : undefined,
            ),
          )
          .orderBy(desc(answers.answeredAt), desc(answers.id))
          .limit(p('limit'))
          .prepare(),
      );
      const values = {
        userId: query.userId,
        limit: query.limit,
        ...defined({ moduleId: query.moduleId, flashcardId: query.flashcardId, since: query.since, until: query.until }),
        ...(query.before ? { beforeAt: query.before.answeredAt, beforeId: query.before.id } : {}),
      };
      return yield* step(() => statement.all(values));
    },

    *allAnswers(userId: string): Work<AnswerRecord[]> {
      return yield* step(() =>
        db
          .select(answerColumns)
          .from(answers)
          .innerJoin(modules, eq(modules.id, answers.moduleId))
          .where(eq(answers.userId, userId))
          .orderBy(asc(answers.answeredAt), asc(answers.clientAnswerId))
          .all(),
      );
    },

    *findState(userId: string, flashcardId: string): Work<CardStateRow | undefined> {
      return yield* step(() => stateOf.get({ userId, flashcardId }));
    },

    findStates,

    /** Card states in flashcard-id order (stable keyset paging), optionally one module's or those due by a time. */
    *states(query: CardStatesQuery): Work<CardStateRecord[]> {
      const shape = shapeOf(query.moduleId, query.dueBy, query.afterFlashcardId);
      const statement = prepared(stateStatements, shape, () =>
        db
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(
            and(
              eq(cardStates.userId, p('userId')),
              query.moduleId !== undefined ? eq(cardStates.moduleId, p('moduleId')) : undefined,
              query.dueBy !== undefined ? lte(cardStates.due, p('dueBy')) : undefined,
              query.afterFlashcardId !== undefined ? gt(cardStates.flashcardId, p('afterFlashcardId')) : undefined,
            ),
          )
          .orderBy(asc(cardStates.flashcardId))
          .limit(p('limit'))
          .prepare(),
      );
      const values = {
        userId: query.userId,
        limit: query.limit,
        ...defined({ moduleId: query.moduleId, dueBy: query.dueBy, afterFlashcardId: query.afterFlashcardId }),
      };
      return yield* step(() => statement.all(values));
    },

    *statesOfCards(userId: string, flashcardIds: string[]): Work<CardStateRecord[]> {
      if (!flashcardIds.length) return [];
      return yield* step(() =>
        db
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(and(eq(cardStates.userId, userId), inArray(cardStates.flashcardId, flashcardIds)))
          .all(),
      );
    },

    *allStates(userId: string): Work<CardStateRecord[]> {
      return yield* step(() =>
        db
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(eq(cardStates.userId, userId))
          .orderBy(asc(cardStates.flashcardId))
          .all(),
      );
    },

    /**
     * The states of live flashcards in live modules that fall due first, `limit` of them, whether due yet or not:
     * the cards due at any later time are a prefix of this list (as long as fewer than `limit` are due).
     */
    *earliestDue(userId: string, limit: number, moduleId?: string): Work<CardStateRecord[]> {
      const statement = prepared(dueStatements, moduleId === undefined ? 'all' : 'module', () =>
        db
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(flashcards, eq(flashcards.id, cardStates.flashcardId))
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(
            and(
              eq(cardStates.userId, p('userId')),
              moduleId !== undefined ? eq(cardStates.moduleId, p('moduleId')) : undefined,
              isNull(flashcards.archivedAt),
              liveModule,
            ),
          )
          .orderBy(asc(cardStates.due), asc(cardStates.flashcardId))
          .limit(p('limit'))
          .prepare(),
      );
      return yield* step(() => statement.all({ userId, limit, ...defined({ moduleId }) }));
    },

    /** Live flashcards the user has never answered, in module (slug) and deck order. */
    *newCards(userId: string, limit: number, moduleId?: string): Work<StudyCardRef[]> {
      const statement = prepared(newCardStatements, moduleId === undefined ? 'all' : 'module', () =>
        db
          .select({ flashcardId: flashcards.id, moduleSlug: modules.slug })
          .from(flashcards)
          .innerJoin(modules, eq(modules.id, flashcards.moduleId))
          .where(
            and(
              moduleId !== undefined ? eq(flashcards.moduleId, p('moduleId')) : undefined,
              isNull(flashcards.archivedAt),
              liveModule,
              sql`NOT EXISTS (SELECT 1 FROM ${cardStates} WHERE ${cardStates.userId} = ${p('userId')} AND ${cardStates.flashcardId} = ${flashcards.id})`,
            ),
          )
          .orderBy(asc(modules.slug), asc(flashcards.position))
          .limit(p('limit'))
          .prepare(),
      );
      return yield* step(() => statement.all({ userId, limit, ...defined({ moduleId }) }));
    },
  };
}

export type AnswersRepository = ReturnType<typeof createAnswersRepository>;
