import { sql, type SQL } from 'drizzle-orm';
import type { PlainSql } from '../db/plain-sql.js';
import type { Transactions, Work } from '../db/work.js';
import { idFloor } from '../ids.js';
import type { StatementSource } from './statement.js';

/** An outbox row a dispatcher has claimed: its lease runs until the time it was claimed with. */
export interface OutboxClaim {
  answerId: string;
  attempts: number;
}

/** Whose statements a caller may read: everyone's (admin), an integration's learners, or one learner's. */
export type StatementScope = { kind: 'all' } | { kind: 'owner'; keyId: string } | { kind: 'user'; userId: string };

export interface StatementsQuery {
  scope: StatementScope;
  /**
   * An account agent: learners with this externalId whose owner key set this homePage, or (`owner`, when the homePage
   * is a default one, statement.ts `homePageOf`) whose owner is this key ('' for an admin's) and set none.
   */
  agent?: { homePage: string; name: string; owner: string | undefined } | undefined;
  /** Statements about this flashcard, or (`module`) about any flashcard of this module. */
  flashcard?: { moduleSlug: string; key: string } | undefined;
  moduleSlug?: string | undefined;
  /** `stored` (receivedAt) after `since`, at or before `until`. */
  since?: string | undefined;
  until?: string | undefined;
  /** Keyset position: the last answer id of the previous page. */
  after?: string | undefined;
  ascending: boolean;
  limit: number;
}

export interface OutboxStatus {
  pending: number;
  parked: number;
  oldestPendingAt: string | null;
  delivered: number;
  lastError: string | null;
  lastErrorAt: string | null;
  /** A few parked statements, oldest first, with the LRS's reason. */
  parkedSamples: { answerId: string; userId: string; clientAnswerId: string; reason: string | null; parkedAt: string }[];
}

/**
 * Ids are created (newId) after the answer's receivedAt, within its write transaction: an answer received at `since`
 * has an id from `since` on, less this much for a clock stepped back meanwhile. The seek bound is only an index hint;
 * the exact bound is on received_at.
 */
const clockSlackMs = 60_000;

const statementColumns = sql`a.id AS "answerId", a.user_id AS "userId", a.client_answer_id AS "clientAnswerId", a.rating AS "rating",
  a.correct AS "correct", a.answered_at AS "answeredAt", a.received_at AS "receivedAt", a.duration_ms AS "durationMs",
  a.response AS "response", u.external_id AS "externalId", u.owner AS "owner", k.xapi_home_page AS "keyHomePage", f.key AS "flashcardKey",
  f.question_text AS "questionText", m.slug AS "moduleSlug", m.title_text AS "moduleTitleText"`;

const statementJoins = sql`FROM answers a
  JOIN users u ON u.id = a.user_id
  LEFT JOIN api_keys k ON k.id = u.owner
  JOIN flashcards f ON f.id = a.flashcard_id
  JOIN modules m ON m.id = a.module_id`;

function scopeCondition(scope: StatementScope): SQL {
  if (scope.kind === 'user') return sql`a.user_id = ${scope.userId}`;
  if (scope.kind === 'owner') return sql`u.owner = ${scope.keyId}`;
  return sql`1 = 1`;
}

const toNumber = (value: unknown) => Number(value ?? 0);

/**
 * The xAPI outbox and the statement resource's reads, in SQL that is the same on both engines (`PlainSql` runs it):
 * claims take the rows due first, skipping (PostgreSQL) rows another instance's transaction is claiming.
 */
export function createXapiRepository(transactions: Transactions, plain: PlainSql) {
  const { all, run, inList } = plain;

  function* recordError(error: string, at: string): Work<void> {
    yield* run(sql`INSERT INTO xapi_delivery (id, delivered, last_error, last_error_at) VALUES (1, 0, ${error}, ${at})
      ON CONFLICT (id) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at`);
  }

  return {
    ...transactions,

    /**
     * Claims up to `limit` due rows until `leaseUntil`: nobody else claims them before then. Rows whose lease runs yet
     * are skipped as the index is read (each dispatcher holds one batch, so a few).
     */
    *claimDue(now: string, leaseUntil: string, limit: number): Work<OutboxClaim[]> {
      const rows = yield* all<{ answerId: string; attempts: number | string }>(sql`UPDATE xapi_outbox SET leased_until = ${leaseUntil}, attempts = attempts + 1
        WHERE answer_id IN (SELECT answer_id FROM xapi_outbox WHERE parked_at IS NULL AND next_attempt_at <= ${now}
          AND (leased_until IS NULL OR leased_until <= ${now}) ORDER BY next_attempt_at LIMIT ${limit}${plain.skipLocked})
        RETURNING answer_id AS "answerId", attempts AS "attempts"`);
      return rows.map((row) => ({ answerId: row.answerId, attempts: toNumber(row.attempts) }));
    },

    /** The claimed answers' statement sources (an answer erased meanwhile is missing, and so is its outbox row). */
    *sources(answerIds: readonly string[]): Work<StatementSource[]> {
      if (!answerIds.length) return [];
      return yield* all<StatementSource>(sql`SELECT ${statementColumns} ${statementJoins} WHERE ${inList(sql`a.id`, answerIds)}`);
    },

    /** The LRS has these: their rows go, and the delivered count grows by as many as were still there. */
    *delivered(answerIds: readonly string[]): Work<void> {
      if (!answerIds.length) return;
      const removed = yield* run(sql`DELETE FROM xapi_outbox WHERE ${inList(sql`answer_id`, answerIds)}`);
      if (removed) {
        yield* run(sql`INSERT INTO xapi_delivery (id, delivered) VALUES (1, ${removed})
          ON CONFLICT (id) DO UPDATE SET delivered = xapi_delivery.delivered + excluded.delivered`);
      }
    },

    /** Due again at `nextAttemptAt`, unless another claim has taken them since (their lease is no longer ours). */
    *retryLater(answerIds: readonly string[], leaseUntil: string, nextAttemptAt: string, error: string | null, now: string): Work<void> {
      if (!answerIds.length) return;
      yield* run(sql`UPDATE xapi_outbox SET next_attempt_at = ${nextAttemptAt}, leased_until = NULL, last_error = coalesce(${error}, last_error)
        WHERE ${inList(sql`answer_id`, answerIds)} AND leased_until = ${leaseUntil}`);
      if (error !== null) yield* recordError(error, now);
    },

    /** The LRS refused the statement: kept, with the reason, until an admin re-queues it. */
    *park(answerId: string, leaseUntil: string, reason: string, now: string): Work<void> {
      yield* run(sql`UPDATE xapi_outbox SET parked_at = ${now}, leased_until = NULL, last_error = ${reason} WHERE answer_id = ${answerId} AND leased_until = ${leaseUntil}`);
      yield* recordError(reason, now);
    },

    *status(sampleSize: number): Work<OutboxStatus> {
      const [counts] = yield* all<{ pending: unknown; parked: unknown; oldestPendingAt: string | null }>(sql`SELECT
        (SELECT count(*) FROM xapi_outbox WHERE parked_at IS NULL) AS "pending",
        (SELECT count(*) FROM xapi_outbox WHERE parked_at IS NOT NULL) AS "parked",
        (SELECT min(created_at) FROM xapi_outbox WHERE parked_at IS NULL) AS "oldestPendingAt"`);
      const [delivery] = yield* all<{ delivered: unknown; lastError: string | null; lastErrorAt: string | null }>(
        sql`SELECT delivered AS "delivered", last_error AS "lastError", last_error_at AS "lastErrorAt" FROM xapi_delivery WHERE id = 1`,
      );
      const parkedSamples = yield* all<OutboxStatus['parkedSamples'][number]>(sql`SELECT o.answer_id AS "answerId", a.user_id AS "userId",
          a.client_answer_id AS "clientAnswerId", o.last_error AS "reason", o.parked_at AS "parkedAt"
        FROM xapi_outbox o JOIN answers a ON a.id = o.answer_id WHERE o.parked_at IS NOT NULL ORDER BY o.parked_at, o.answer_id LIMIT ${sampleSize}`);
      return {
        pending: toNumber(counts?.pending),
        parked: toNumber(counts?.parked),
        oldestPendingAt: counts?.oldestPendingAt ?? null,
        delivered: toNumber(delivery?.delivered),
        lastError: delivery?.lastError ?? null,
        lastErrorAt: delivery?.lastErrorAt ?? null,
        parkedSamples,
      };
    },

    /** Parked statements go back to the queue, due now, their attempts counted afresh. */
    *requeueParked(now: string): Work<number> {
      return yield* run(sql`UPDATE xapi_outbox SET parked_at = NULL, next_attempt_at = ${now}, leased_until = NULL, attempts = 0 WHERE parked_at IS NOT NULL`);
    },

    /**
     * Queues the statements of up to `limit` answers after `afterId` (id order), received at or after `since`, that
     * are not queued yet; the last answer id looked at, undefined once there are no more.
     */
    *backfill(since: string | undefined, afterId: string, limit: number, now: string): Work<{ lastId: string | undefined; queued: number }> {
      const window = sql`SELECT id FROM answers WHERE id > ${afterId}${since === undefined ? sql`` : sql` AND received_at >= ${since}`} ORDER BY id LIMIT ${limit}`;
      const [last] = yield* all<{ lastId: string | null }>(sql`SELECT max(id) AS "lastId" FROM (${window}) w`);
      if (!last?.lastId) return { lastId: undefined, queued: 0 };
      // WHERE true: SQLite reads ON CONFLICT after a bare SELECT ... FROM as a join's ON.
      const queued = yield* run(sql`INSERT INTO xapi_outbox (answer_id, attempts, next_attempt_at, created_at)
        SELECT id, 0, ${now}, ${now} FROM (${window}) w WHERE true ON CONFLICT (answer_id) DO NOTHING`);
      return { lastId: last.lastId, queued };
    },

    /** One page of statement sources, in id (creation) order, `limit` of them. */
    *statements(query: StatementsQuery): Work<StatementSource[]> {
      const conditions: SQL[] = [scopeCondition(query.scope)];
      if (query.agent) {
        const { name, homePage, owner } = query.agent;
        const byDefault = owner === undefined ? sql`` : sql` OR (k.xapi_home_page IS NULL AND u.owner = ${owner})`;
        conditions.push(sql`u.external_id = ${name} AND (k.xapi_home_page = ${homePage}${byDefault})`);
      }
      if (query.flashcard) conditions.push(sql`m.slug = ${query.flashcard.moduleSlug} AND f.key = ${query.flashcard.key}`);
      if (query.moduleSlug !== undefined) conditions.push(sql`m.slug = ${query.moduleSlug}`);
      if (query.since !== undefined) {
        conditions.push(sql`a.received_at > ${query.since} AND a.id >= ${idFloor('ans', Date.parse(query.since) - clockSlackMs)}`);
      }
      if (query.until !== undefined) conditions.push(sql`a.received_at <= ${query.until}`);
      if (query.after !== undefined) conditions.push(query.ascending ? sql`a.id > ${query.after}` : sql`a.id < ${query.after}`);
      const order = query.ascending ? sql`ORDER BY a.id ASC` : sql`ORDER BY a.id DESC`;
      return yield* all<StatementSource>(sql`SELECT ${statementColumns} ${statementJoins} WHERE ${sql.join(conditions, sql` AND `)} ${order} LIMIT ${query.limit}`);
    },

    /**
     * The learners in scope after `after` (a keyset position returned by the previous call), `limit` of them, each
     * query one range of an index: users' primary key (all), (owner, external_id) for an integration's.
     */
    *learnersInScope(scope: StatementScope, after: string, limit: number): Work<{ userIds: string[]; next: string | undefined }> {
      if (scope.kind === 'user') return { userIds: after === '' ? [scope.userId] : [], next: undefined };
      const rows =
        scope.kind === 'all'
          ? yield* all<{ id: string; position: string }>(sql`SELECT id AS "id", id AS "position" FROM users WHERE id > ${after} ORDER BY id LIMIT ${limit}`)
          : yield* all<{ id: string; position: string }>(
              sql`SELECT id AS "id", external_id AS "position" FROM users WHERE owner = ${scope.keyId} AND external_id > ${after} ORDER BY external_id LIMIT ${limit}`,
            );
      return { userIds: rows.map((row) => row.id), next: rows.length === limit ? rows.at(-1)!.position : undefined };
    },

    /** The answer keys of these learners: one range of answers_user_client_id_unique per learner, read from the index. */
    *answerKeysOf(userIds: readonly string[]): Work<{ userId: string; clientAnswerId: string }[]> {
      if (!userIds.length) return [];
      return yield* all(sql`SELECT user_id AS "userId", client_answer_id AS "clientAnswerId" FROM answers WHERE ${inList(sql`user_id`, userIds)}`);
    },

    /** The statement source of a learner's answer, by its clientAnswerId. */
    *sourceOf(userId: string, clientAnswerId: string): Work<StatementSource | undefined> {
      const [row] = yield* all<StatementSource>(sql`SELECT ${statementColumns} ${statementJoins} WHERE a.user_id = ${userId} AND a.client_answer_id = ${clientAnswerId}`);
      return row;
    },
  };
}

export type XapiRepository = ReturnType<typeof createXapiRepository>;
