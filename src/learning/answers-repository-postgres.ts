import { and, asc, desc, eq, getTableColumns, gt, gte, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { createCommitCache, type CommitSource } from '../db/commit-cache.js';
import { executePrepared, executePreparedAfter, statementShapes, transactionsOfPg, type PgExecutor, type Statement } from '../db/postgres.js';
import { jsonRow, jsonRows } from '../db/postgres-json.js';
import { answers, cardStates, cardStateSnapshots, flashcards, modules, users, xapiOutbox } from '../db/schema-pg.js';
import type { AnswerRow, CardStateRow } from '../db/schema.js';
import type { PostgresStore } from '../db/store.js';
import { afterCommit, step, type Work } from '../db/work.js';
import { learnersOf } from './answers-repository.js';
import type {
  AnswerRecord,
  AnswersRepository,
  AnswerWriteReads,
  AnswerWriteRequest,
  LockOptions,
  LateCard,
  LockedReads,
  ReplayInput,
  AnswerWrites,
  CardStateRecord,
  CardStatesQuery,
  FlashcardRef,
  HistoryQuery,
  LearnerRead,
  StudyCardRef,
} from './answers-repository.js';
import type { ScheduledAnswer, StoredCard } from './scheduler.js';

/** Derived learner reads kept in memory, as on SQLite (answers-repository.ts). */
const learnerReadBytes = 16 * 1024 * 1024;
const learnerReadsPerLearner = 16;

/**
 * The first key of the learners' advisory locks (the second is the learner id's hash). Two-key advisory locks are a
 * key space apart from the one-key (bigint) locks of the migrator and the change feed, so they never meet those.
 */
const learnerLockSpace = 0x6d6e6c72; // "mnlr"

/** As `liveModule` on SQLite (content/repository.ts): answers and the study queue go to live modules only. */
const liveModule = isNull(modules.archivedAt);

/** `column = ANY(ids)`: SQLite's `json_each` id list, the ids bound as one array whatever their number. */
const inIds = (column: PgColumn, ids: readonly string[]): SQL => sql`${column} = ANY(${sql.param([...ids])}::text[])`;

// Rows with the slug of their module (what clients see), columns in table order.
const answerColumns = { ...getTableColumns(answers), moduleSlug: modules.slug };
const stateColumns = { ...getTableColumns(cardStates), moduleSlug: modules.slug };
const refColumns = { id: flashcards.id, moduleId: flashcards.moduleId, moduleSlug: modules.slug };
const scheduledColumns = { answeredAt: answers.answeredAt, clientAnswerId: answers.clientAnswerId, rating: answers.rating };

// A snapshot read as a state: its key is the state's last answer.
const { userId: _userId, flashcardId: _flashcardId, answeredAt: snapshotAnsweredAt, clientAnswerId: snapshotClientAnswerId, ...snapshotFsrsColumns } =
  getTableColumns(cardStateSnapshots);
const snapshotColumns = { ...snapshotFsrsColumns, lastAnsweredAt: snapshotAnsweredAt, lastClientAnswerId: snapshotClientAnswerId };

/** Row values compare as the answers are ordered, (answeredAt, clientAnswerId), byte by byte (COLLATE "C"). */
const answerKey = (table: typeof answers | typeof cardStateSnapshots) => sql`(${table.answeredAt}, ${table.clientAnswerId})`;

const fsrsColumnNames = ['state', 'due', 'stability', 'difficulty', 'elapsedDays', 'scheduledDays', 'learningSteps', 'reps', 'lapses', 'lastReview'] as const;

/** A column of rows to insert: its PostgreSQL type (for the array's cast) and its value in a row. */
interface RowColumn<Row> {
  column: PgColumn;
  type: string;
  of: (row: Row) => string | number | null;
}

/**
 * `INSERT INTO table (columns) SELECT * FROM unnest($1::type[], ...)`: any number of rows as one statement with one
 * array parameter per column (placeholders `<part><column index>`, filled by `rowValues`), so its text and its
 * parameter count stay the same whatever the rows (PostgreSQL binds at most 65,535 parameters to a statement; a
 * multi-row VALUES list of 500 states would need 7,500). Arrays are sent as text literals: numbers as JavaScript
 * prints them (the shortest form that reads back as the same double).
 */
function insertRows<Row>(table: PgTable, columns: readonly RowColumn<Row>[], part: string): SQL {
  const names = sql.join(
    columns.map(({ column }) => sql.identifier(column.name)),
    sql`, `,
  );
  const arrays = sql.join(
    columns.map(({ type }, index) => sql`${sql.placeholder(`${part}${index}`)}::${sql.raw(type)}[]`),
    sql`, `,
  );
  return sql`INSERT INTO ${table} (${names}) SELECT * FROM unnest(${arrays})`;
}

/** The column arrays of `insertRows(table, columns, part)` for these rows, into `values`. */
function rowValues<Row>(values: Record<string, unknown>, columns: readonly RowColumn<Row>[], part: string, rows: readonly Row[]): void {
  columns.forEach(({ of }, index) => {
    values[`${part}${index}`] = rows.map(of);
  });
}

/** `ON CONFLICT (target) DO UPDATE SET column = excluded.column` for each of `set`. */
const upsertOn = (target: readonly PgColumn[], set: readonly PgColumn[]): SQL =>
  sql` ON CONFLICT (${sql.join(
    target.map((column) => sql.identifier(column.name)),
    sql`, `,
  )}) DO UPDATE SET ${sql.join(
    set.map((column) => sql`${sql.identifier(column.name)} = excluded.${sql.identifier(column.name)}`),
    sql`, `,
  )}`;

const answerRowColumns: RowColumn<AnswerRow>[] = [
  { column: answers.id, type: 'text', of: (row) => row.id },
  { column: answers.userId, type: 'text', of: (row) => row.userId },
  { column: answers.clientAnswerId, type: 'text', of: (row) => row.clientAnswerId },
  { column: answers.flashcardId, type: 'text', of: (row) => row.flashcardId },
  { column: answers.moduleId, type: 'text', of: (row) => row.moduleId },
  { column: answers.rating, type: 'int4', of: (row) => row.rating },
  { column: answers.correct, type: 'int4', of: (row) => row.correct },
  { column: answers.answeredAt, type: 'text', of: (row) => row.answeredAt },
  { column: answers.receivedAt, type: 'text', of: (row) => row.receivedAt },
  { column: answers.durationMs, type: 'int4', of: (row) => row.durationMs },
  { column: answers.response, type: 'text', of: (row) => row.response },
];

/** An answer's outbox row: due at once (xapi/dispatcher.ts). */
const outboxRowColumns: RowColumn<AnswerRow>[] = [
  { column: xapiOutbox.answerId, type: 'text', of: (row) => row.id },
  { column: xapiOutbox.nextAttemptAt, type: 'text', of: (row) => row.receivedAt },
  { column: xapiOutbox.createdAt, type: 'text', of: (row) => row.receivedAt },
];

/** The FSRS columns of a state or snapshot row (`table` is card_states or card_state_snapshots). */
const fsrsRowColumns = <Row>(table: typeof cardStates | typeof cardStateSnapshots, state: (row: Row) => StoredCard): RowColumn<Row>[] => [
  { column: table.state, type: 'int4', of: (row) => state(row).state },
  { column: table.due, type: 'text', of: (row) => state(row).due },
  { column: table.stability, type: 'float8', of: (row) => state(row).stability },
  { column: table.difficulty, type: 'float8', of: (row) => state(row).difficulty },
  { column: table.elapsedDays, type: 'int4', of: (row) => state(row).elapsedDays },
  { column: table.scheduledDays, type: 'int4', of: (row) => state(row).scheduledDays },
  { column: table.learningSteps, type: 'int4', of: (row) => state(row).learningSteps },
  { column: table.reps, type: 'int4', of: (row) => state(row).reps },
  { column: table.lapses, type: 'int4', of: (row) => state(row).lapses },
  { column: table.lastReview, type: 'text', of: (row) => state(row).lastReview },
];

type StateRow = AnswerWrites['states'][number];
type SnapshotRow = AnswerWrites['snapshots'][number];

const stateRowColumns: RowColumn<StateRow>[] = [
  { column: cardStates.userId, type: 'text', of: (row) => row.userId },
  { column: cardStates.flashcardId, type: 'text', of: (row) => row.card.id },
  { column: cardStates.moduleId, type: 'text', of: (row) => row.card.moduleId },
  ...fsrsRowColumns<StateRow>(cardStates, (row) => row.state),
  { column: cardStates.lastAnsweredAt, type: 'text', of: (row) => row.state.lastAnsweredAt },
  { column: cardStates.lastClientAnswerId, type: 'text', of: (row) => row.state.lastClientAnswerId },
];

const snapshotRowColumns: RowColumn<SnapshotRow>[] = [
  { column: cardStateSnapshots.userId, type: 'text', of: (row) => row.userId },
  { column: cardStateSnapshots.flashcardId, type: 'text', of: (row) => row.flashcardId },
  { column: cardStateSnapshots.answeredAt, type: 'text', of: (row) => row.snapshot.lastAnsweredAt },
  { column: cardStateSnapshots.clientAnswerId, type: 'text', of: (row) => row.snapshot.lastClientAnswerId },
  ...fsrsRowColumns<SnapshotRow>(cardStateSnapshots, (row) => row.snapshot),
];

const fsrsTableColumns = (table: typeof cardStates | typeof cardStateSnapshots) => fsrsColumnNames.map((name) => table[name]);

/** Which tables a write of answers has rows for: a letter each (`answerWriteShapes`). */
const writeParts = { answers: 'a', outbox: 'o', snapshots: 's', states: 'c' } as const;

/**
 * A write's rows as one statement: the answers (and their outbox rows), snapshots and states inserted by
 * data-modifying WITH queries of one INSERT (they touch different tables, so the order among them does not matter;
 * foreign keys are checked at the statement's end). One shape per set of tables written (`writeParts` letters).
 */
const answerWriteShapes = statementShapes((shape: string) => {
  const parts: SQL[] = [];
  if (shape.includes(writeParts.answers)) parts.push(insertRows(answers, answerRowColumns, writeParts.answers));
  if (shape.includes(writeParts.outbox)) parts.push(insertRows(xapiOutbox, outboxRowColumns, writeParts.outbox));
  if (shape.includes(writeParts.snapshots)) {
    parts.push(
      sql`${insertRows(cardStateSnapshots, snapshotRowColumns, writeParts.snapshots)}${upsertOn(
        [cardStateSnapshots.userId, cardStateSnapshots.flashcardId, cardStateSnapshots.answeredAt, cardStateSnapshots.clientAnswerId],
        fsrsTableColumns(cardStateSnapshots),
      )}`,
    );
  }
  if (shape.includes(writeParts.states)) {
    parts.push(
      sql`${insertRows(cardStates, stateRowColumns, writeParts.states)}${upsertOn(
        [cardStates.userId, cardStates.flashcardId],
        [cardStates.moduleId, ...fsrsTableColumns(cardStates), cardStates.lastAnsweredAt, cardStates.lastClientAnswerId],
      )}`,
    );
  }
  const last = parts.pop()!;
  if (!parts.length) return last;
  return sql`WITH ${sql.join(
    parts.map((part, index) => sql`${sql.raw(`w${index}`)} AS (${part})`),
    sql`, `,
  )} ${last}`;
});

/** `answerWriteShapes` for these writes, with their values; undefined when there is nothing to write. */
function answerWritesStatement(writes: AnswerWrites): Statement | undefined {
  const values: Record<string, unknown> = {};
  let shape = '';
  if (writes.answers.length) {
    shape += writeParts.answers;
    rowValues(values, answerRowColumns, writeParts.answers, writes.answers);
    if (writes.queueStatements) {
      shape += writeParts.outbox;
      rowValues(values, outboxRowColumns, writeParts.outbox, writes.answers);
    }
  }
  if (writes.snapshots.length) {
    shape += writeParts.snapshots;
    rowValues(values, snapshotRowColumns, writeParts.snapshots, writes.snapshots);
  }
  if (writes.states.length) {
    shape += writeParts.states;
    rowValues(values, stateRowColumns, writeParts.states, writes.states);
  }
  return shape ? { shape: answerWriteShapes(shape), values } : undefined;
}


/**
 * The statement taking the learners' advisory locks (`lockLearners`), their ids as one JSON text parameter (it may
 * be sent ahead of a read: executePreparedAfter). Waiting, it takes them all in ascending key order (volatile
 * functions in the select list run after the sort), the same order in every transaction, so two never wait for each
 * other in a cycle; trying (`wait: false`), it returns the learners whose lock another transaction holds, in any order.
 */
function lockStatement(userIds: readonly string[], options: LockOptions): Statement {
  if (options.wait === false) return { shape: lockShapes('try'), values: { ids: JSON.stringify(userIds) } };
  if (userIds.length === 1) return { shape: lockShapes('one'), values: { id: userIds[0]! } };
  return { shape: lockShapes('all'), values: { ids: JSON.stringify(userIds) } };
}

const lockShapes = statementShapes((shape: 'try' | 'one' | 'all') => {
  const space = sql.raw(`${learnerLockSpace}::int4`);
  const ids = sql`json_array_elements_text(${sql.placeholder('ids')}::json)`;
  if (shape === 'try') return sql`SELECT id FROM ${ids} AS id WHERE NOT pg_try_advisory_xact_lock(${space}, hashtext(id))`;
  if (shape === 'one') return sql`SELECT pg_advisory_xact_lock(${space}, hashtext(${sql.placeholder('id')}))`;
  return sql`SELECT pg_advisory_xact_lock(${space}, key) FROM (SELECT DISTINCT hashtext(id) AS key FROM ${ids} AS id) AS keys ORDER BY key`;
});

type ReadForWriteRow = { user_id: string; user_exists: boolean; answers: AnswerRecord[]; refs: FlashcardRef[]; states: CardStateRow[] };

/**
 * What writes of answers read under their learners' locks, for every learner asked in one statement: whether the learner exists, its batch's stored answers,
 * its flashcards that take answers and its states of them, each as a JSON array (a float8 prints as the shortest text
 * that reads back as the same double). The requests go in as one JSON parameter; rows come back keyed by learner.
 */
function readForWriteStatement(requests: readonly AnswerWriteRequest[]): Statement {
  const asked = JSON.stringify(requests.map((request) => ({ user_id: request.userId, answer_ids: request.clientAnswerIds, card_ids: request.flashcardIds })));
  return { shape: readForWriteShape('read'), values: { asked } };
}

const readForWriteShape = statementShapes(
  () => sql`SELECT asked.user_id, EXISTS (SELECT 1 FROM ${users} WHERE ${users.id} = asked.user_id) AS user_exists, ${jsonRows(
    answerColumns,
    sql`FROM ${answers} INNER JOIN ${modules} ON ${modules.id} = ${answers.moduleId} WHERE ${answers.userId} = asked.user_id AND ${answers.clientAnswerId} = ANY(asked.answer_ids)`,
  )} AS answers, ${jsonRows(
    refColumns,
    sql`FROM ${flashcards} INNER JOIN ${modules} ON ${modules.id} = ${flashcards.moduleId} WHERE ${flashcards.id} = ANY(asked.card_ids) AND ${liveModule}`,
  )} AS refs, ${jsonRows(
    getTableColumns(cardStates),
    sql`FROM ${cardStates} WHERE ${cardStates.userId} = asked.user_id AND ${cardStates.flashcardId} = ANY(asked.card_ids)`,
  )} AS states FROM json_to_recordset(${sql.placeholder('asked')}::json) AS asked(user_id text, answer_ids text[], card_ids text[])`,
);

/** The rows of `readForWriteStatement` in the order asked. */
function readsOf(requests: readonly AnswerWriteRequest[], rows: readonly ReadForWriteRow[]): AnswerWriteReads[] {
  const byUser = new Map(rows.map((row) => [row.user_id, row]));
  return requests.map((request): AnswerWriteReads => {
    const row = byUser.get(request.userId);
    if (!row?.user_exists) return { userExists: false, answers: [], refs: [], states: [] };
    return { userExists: true, answers: row.answers, refs: row.refs, states: row.states };
  });
}

/** Late cards as one JSON text parameter: `json_to_recordset(...) AS late(flashcard_id, answered_at, client_answer_id)`. */
const lateCards = (cards: readonly LateCard[]): SQL =>
  sql`json_to_recordset(${JSON.stringify(cards.map(({ flashcardId, key }) => ({ flashcard_id: flashcardId, answered_at: key.answeredAt, client_answer_id: key.clientAnswerId })))}::json) AS late(flashcard_id text, answered_at text, client_answer_id text)`;

/** Drops each late card's snapshots at or after its key: they no longer hold once an answer sorting there is stored. */
const deleteSnapshotsFromStatement = (userId: string, cards: readonly LateCard[]): SQL =>
  sql`DELETE FROM ${cardStateSnapshots} USING ${lateCards(cards)} WHERE ${cardStateSnapshots.userId} = ${userId} AND ${cardStateSnapshots.flashcardId} = late.flashcard_id AND ${answerKey(cardStateSnapshots)} >= (late.answered_at, late.client_answer_id)`;

type ReplayRow = { flashcard_id: string; snapshot: StoredCard | null; answers: ScheduledAnswer[] };

/**
 * Each late card's latest snapshot strictly before its key (as a state) and its answers after that snapshot (all of
 * them without one), in answer order: one row per card.
 */
function replayInputsStatement(userId: string, cards: readonly LateCard[]): SQL {
  const afterSnapshot = sql`(snap.answered_at IS NULL OR ${answerKey(answers)} > (snap.answered_at, snap.client_answer_id))`;
  return sql`SELECT late.flashcard_id, snap.value AS snapshot, (SELECT coalesce(json_agg(${jsonRow(scheduledColumns)} ORDER BY ${answers.answeredAt}, ${answers.clientAnswerId}), '[]'::json) FROM ${answers} WHERE ${answers.userId} = ${userId} AND ${answers.flashcardId} = late.flashcard_id AND ${afterSnapshot}) AS answers FROM ${lateCards(cards)} LEFT JOIN LATERAL (SELECT ${jsonRow(snapshotColumns)} AS value, ${cardStateSnapshots.answeredAt} AS answered_at, ${cardStateSnapshots.clientAnswerId} AS client_answer_id FROM ${cardStateSnapshots} WHERE ${cardStateSnapshots.userId} = ${userId} AND ${cardStateSnapshots.flashcardId} = late.flashcard_id AND ${answerKey(cardStateSnapshots)} < (late.answered_at, late.client_answer_id) ORDER BY ${cardStateSnapshots.answeredAt} DESC, ${cardStateSnapshots.clientAnswerId} DESC LIMIT 1) AS snap ON true`;
}

/**
 * All SQL for answers and the card states derived from them, on PostgreSQL: the SQLite repository's methods
 * (answers-repository.ts) with the same results and ordering.
 */
export function postgresAnswersRepository(store: PostgresStore): AnswersRepository {
  const { db } = store;
  // Learner reads from memory between commits, as on SQLite: another instance's commit to what they derive from
  // drops them all. So does this instance's own, through the same notifications; `ownWrites` moves as soon as such a
  // write has committed, before its notification arrives, so that a read outside the write that loaded the rows as
  // they were before the commit cannot keep them, and whoever awaited the write reads its result.
  const commits = store.commits.sourceFor(['answers', 'card_states', 'flashcards', 'modules'], (executor) => executor !== db);
  let ownWrites = 0;
  const source: CommitSource = { version: () => `${String(commits.version())}:${ownWrites}`, inTransaction: commits.inTransaction };
  const learnerReads = createCommitCache<LearnerRead>(source, {
    max: 8192,
    cacheMisses: false,
    size: { max: learnerReadBytes, of: (read) => read.bytes },
    maxPerGroup: learnerReadsPerLearner,
  });
  function* learnersWritten(userIds: Iterable<string>): Work<void> {
    yield* afterCommit(() => {
      ownWrites++;
      for (const userId of userIds) learnerReads.forget(userId);
    });
  }

  return {
    ...transactionsOfPg(db),

    /**
     * Serialises the writes of these learners' rows (answers, keys) with each other and with their erasure, across
     * instances, until the transaction ends: the second of two writes waits here, then (READ COMMITTED) reads what
     * the first committed. So a retried clientAnswerId is a duplicate rather than a unique violation, a card's state
     * is built from every answer stored before it, and a write after an erasure finds no learner (404) instead of
     * failing on the deleted row. One statement takes them all in ascending key order (volatile functions in the
     * select list run after the sort), the same order in every transaction, so two never wait for each other in a
     * cycle. Hash collisions between learners only make two of them queue. With `wait: false` each lock is only
     * tried, and the learners whose lock another transaction holds come back.
     */
    *lockLearners(userIds: readonly string[], options: LockOptions = {}): Work<string[]> {
      if (!userIds.length) return [];
      const rows = yield* step((executor: PgExecutor) => executePrepared<{ id: string }>(executor, lockStatement(userIds, options)));
      return options.wait === false ? rows.map((row) => row.id) : [];
    },
    /**
     * `lockLearners`, then the reads the writes need, both sent in one round trip: the read runs once the locks are
     * held, with a snapshot of its own (executePreparedAfter). A busy learner's read is left out.
     */
    *lockAndReadForWrite(requests: readonly AnswerWriteRequest[], options: LockOptions = {}): Work<LockedReads> {
      if (!requests.length) return { busy: [], reads: [] };
      const [locked, rows] = yield* step((executor: PgExecutor) =>
        executePreparedAfter<{ id: string }, ReadForWriteRow>(
          executor,
          lockStatement(
            requests.map((request) => request.userId),
            options,
          ),
          readForWriteStatement(requests),
        ),
      );
      const busy = options.wait === false ? locked.map((row) => row.id) : [];
      const reads = readsOf(requests, rows);
      return { busy, reads: requests.map((request, index) => (busy.includes(request.userId) ? undefined : reads[index])) };
    },
    /** Answer write transactions worth running at once: half the pool, the rest left to reads and other writes. */
    writeConcurrency: Math.max(1, Math.floor((store.postgres.pool.options.max ?? 10) / 2)),

    /** A batch's earlier answers in one query (idempotency check for the whole batch). */
    *findAnswers(userId: string, clientAnswerIds: string[]): Work<AnswerRecord[]> {
      if (!clientAnswerIds.length) return [];
      return yield* step((executor: PgExecutor) =>
        executor
          .select(answerColumns)
          .from(answers)
          .innerJoin(modules, eq(modules.id, answers.moduleId))
          .where(and(eq(answers.userId, userId), clientAnswerIds.length === 1 ? eq(answers.clientAnswerId, clientAnswerIds[0]!) : inIds(answers.clientAnswerId, clientAnswerIds)))
          .orderBy(asc(answers.clientAnswerId)),
      );
    },

    /**
     * What the learner's late cards are replayed from, in the order asked, and their snapshots at or after each key
     * deleted: the delete sent ahead of the read, in one round trip whatever the number of cards (the read only
     * looks before each key, so the delete does not change what it finds).
     */
    *replayInputs(userId: string, cards: readonly LateCard[]): Work<ReplayInput[]> {
      if (!cards.length) return [];
      const [, rows] = yield* step((executor: PgExecutor) =>
        executePreparedAfter<unknown, ReplayRow>(executor, deleteSnapshotsFromStatement(userId, cards), replayInputsStatement(userId, cards)),
      );
      const byCard = new Map(rows.map((row) => [row.flashcard_id, row]));
      return cards.map(({ flashcardId }) => {
        const row = byCard.get(flashcardId);
        return { from: row?.snapshot ?? undefined, answers: row?.answers ?? [] };
      });
    },

    /** A write's answers, snapshots and states, of any learners, as one statement (one round trip), whatever their number. */
    *writeAnswers(writes: AnswerWrites): Work<void> {
      const statement = answerWritesStatement(writes);
      if (!statement) return;
      yield* step(async (executor: PgExecutor) => void (await executePrepared(executor, statement, { endsTransaction: writes.last })));
      yield* learnersWritten(learnersOf(writes));
    },

    /**
     * A read derived from one learner's answers and states (and from content, which `key` must then name by its
     * stamp), loaded once and served from memory until the learner's next write or another commit to its tables.
     */
    cachedForLearner: <T extends LearnerRead>(userId: string, key: string, load: () => Work<T>): Work<T> =>
      learnerReads.get(`${userId}\u0000${key}`, load, userId) as Work<T>,
    /** Drops what `cachedForLearner` holds for the learner: their data was written (or erased) elsewhere than here. */
    forgetLearner: (userId: string) => learnerReads.forget(userId),
    *answersOfCard(userId: string, flashcardId: string): Work<ScheduledAnswer[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select(scheduledColumns)
          .from(answers)
          .where(and(eq(answers.userId, userId), eq(answers.flashcardId, flashcardId)))
          .orderBy(asc(answers.answeredAt), asc(answers.clientAnswerId)),
      );
    },

    *snapshotsOf(userId: string, flashcardId: string): Work<StoredCard[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select(snapshotColumns)
          .from(cardStateSnapshots)
          .where(and(eq(cardStateSnapshots.userId, userId), eq(cardStateSnapshots.flashcardId, flashcardId)))
          .orderBy(asc(cardStateSnapshots.answeredAt), asc(cardStateSnapshots.clientAnswerId)),
      );
    },

    *history(query: HistoryQuery): Work<AnswerRecord[]> {
      const { before } = query;
      return yield* step((executor: PgExecutor) =>
        executor
          .select(answerColumns)
          .from(answers)
          .innerJoin(modules, eq(modules.id, answers.moduleId))
          .where(
            and(
              eq(answers.userId, query.userId),
              query.moduleId !== undefined ? eq(answers.moduleId, query.moduleId) : undefined,
              query.flashcardId !== undefined ? eq(answers.flashcardId, query.flashcardId) : undefined,
              query.since !== undefined ? gte(answers.answeredAt, query.since) : undefined,
              query.until !== undefined ? lt(answers.answeredAt, query.until) : undefined,
              before !== undefined
                ? or(lt(answers.answeredAt, before.answeredAt), and(eq(answers.answeredAt, before.answeredAt), lt(answers.id, before.id)))
                : undefined,
            ),
          )
          .orderBy(desc(answers.answeredAt), desc(answers.id))
          .limit(query.limit),
      );
    },

    *allAnswers(userId: string): Work<AnswerRecord[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select(answerColumns)
          .from(answers)
          .innerJoin(modules, eq(modules.id, answers.moduleId))
          .where(eq(answers.userId, userId))
          .orderBy(asc(answers.answeredAt), asc(answers.clientAnswerId)),
      );
    },

    *findState(userId: string, flashcardId: string): Work<CardStateRow | undefined> {
      return yield* step(
        async (executor: PgExecutor) =>
          (await executor
            .select()
            .from(cardStates)
            .where(and(eq(cardStates.userId, userId), eq(cardStates.flashcardId, flashcardId)))
            .limit(1))[0],
      );
    },

    /** A batch's card states in one query (their `reps` count the answers stored per card). */
    *findStates(userId: string, flashcardIds: string[]): Work<CardStateRow[]> {
      if (!flashcardIds.length) return [];
      return yield* step((executor: PgExecutor) =>
        executor
          .select()
          .from(cardStates)
          .where(and(eq(cardStates.userId, userId), flashcardIds.length === 1 ? eq(cardStates.flashcardId, flashcardIds[0]!) : inIds(cardStates.flashcardId, flashcardIds)))
          .orderBy(asc(cardStates.flashcardId)),
      );
    },

    /** Card states in flashcard-id order (stable keyset paging), optionally one module's or those due by a time. */
    *states(query: CardStatesQuery): Work<CardStateRecord[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(
            and(
              eq(cardStates.userId, query.userId),
              query.moduleId !== undefined ? eq(cardStates.moduleId, query.moduleId) : undefined,
              query.dueBy !== undefined ? lte(cardStates.due, query.dueBy) : undefined,
              query.afterFlashcardId !== undefined ? gt(cardStates.flashcardId, query.afterFlashcardId) : undefined,
            ),
          )
          .orderBy(asc(cardStates.flashcardId))
          .limit(query.limit),
      );
    },

    *statesOfCards(userId: string, flashcardIds: string[]): Work<CardStateRecord[]> {
      if (!flashcardIds.length) return [];
      return yield* step((executor: PgExecutor) =>
        executor
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(and(eq(cardStates.userId, userId), inIds(cardStates.flashcardId, flashcardIds)))
          .orderBy(asc(cardStates.flashcardId)),
      );
    },

    *allStates(userId: string): Work<CardStateRecord[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(eq(cardStates.userId, userId))
          .orderBy(asc(cardStates.flashcardId)),
      );
    },

    /**
     * The states of live flashcards in live modules that fall due first, `limit` of them, whether due yet or not:
     * the cards due at any later time are a prefix of this list (as long as fewer than `limit` are due).
     */
    *earliestDue(userId: string, limit: number, moduleId?: string): Work<CardStateRecord[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select(stateColumns)
          .from(cardStates)
          .innerJoin(flashcards, eq(flashcards.id, cardStates.flashcardId))
          .innerJoin(modules, eq(modules.id, cardStates.moduleId))
          .where(
            and(eq(cardStates.userId, userId), moduleId !== undefined ? eq(cardStates.moduleId, moduleId) : undefined, isNull(flashcards.archivedAt), liveModule),
          )
          .orderBy(asc(cardStates.due), asc(cardStates.flashcardId))
          .limit(limit),
      );
    },

    /** Live flashcards the user has never answered, in module (slug) and deck order. */
    *newCards(userId: string, limit: number, moduleId?: string): Work<StudyCardRef[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select({ flashcardId: flashcards.id, moduleSlug: modules.slug })
          .from(flashcards)
          .innerJoin(modules, eq(modules.id, flashcards.moduleId))
          .where(
            and(
              moduleId !== undefined ? eq(flashcards.moduleId, moduleId) : undefined,
              isNull(flashcards.archivedAt),
              liveModule,
              // For one module, OFFSET 0 keeps the planner from a hash anti-join, which reads every state of the learner
              // (1,746 for a heavy one) where probing the primary key once per card of the module is about four times faster.
              // Across all modules the hash may well be the better plan, so it is left to the planner.
              sql`NOT EXISTS (SELECT 1 FROM ${cardStates} WHERE ${cardStates.userId} = ${userId} AND ${cardStates.flashcardId} = ${flashcards.id}${
                moduleId !== undefined ? sql` OFFSET 0` : sql``
              })`,
            ),
          )
          .orderBy(asc(modules.slug), asc(flashcards.position))
          .limit(limit),
      );
    },
  };
}
