import { and, asc, count, desc, eq, isNull, sql } from 'drizzle-orm';
import { transactionsOfPg, type PgExecutor } from '../db/postgres.js';
import { answers, cardStates, flashcards } from '../db/schema-pg.js';
import type { PostgresStore } from '../db/store.js';
import { step, type Work } from '../db/work.js';
import type { StatsRepository } from './stats-repository.js';

/** A day as `YYYY-MM-DD`, the first ten characters of an ISO time (SQLite's `substr(..., 1, 10)`). */
const dayOf = sql<string>`substring(${answers.answeredAt} from 1 for 10)`;

/**
 * All SQL for progress figures, on PostgreSQL: the SQLite repository's methods (stats-repository.ts), same results.
 * SQLite sums booleans; PostgreSQL counts with a filter, and `count` is a bigint, read back as a number.
 */
export function postgresStatsRepository(store: PostgresStore): StatsRepository {
  const { db } = store;
  return {
    ...transactionsOfPg(db),

    /** Per-module answer counts for a user: total, recalled (rating above Again), last answer time. */
    *answerStats(userId: string, moduleId?: string) {
      return yield* step((executor: PgExecutor) =>
        executor
          .select({
            moduleId: answers.moduleId,
            answers: count(),
            recalled: sql<number>`count(*) FILTER (WHERE ${answers.rating} > 1)`.mapWith(Number),
            lastAnsweredAt: sql<string>`max(${answers.answeredAt})`,
          })
          .from(answers)
          .where(and(eq(answers.userId, userId), moduleId ? eq(answers.moduleId, moduleId) : undefined))
          .groupBy(answers.moduleId)
          // SQLite's GROUP BY returns its groups in key order; PostgreSQL's (hashed) may not.
          .orderBy(asc(answers.moduleId)),
      );
    },

    /** Per-module card-state counts for live cards: seen, due by `now`, mastered. */
    *stateStats(userId: string, now: string, masteredStability: number, moduleId?: string) {
      return yield* step((executor: PgExecutor) =>
        executor
          .select({
            moduleId: cardStates.moduleId,
            seen: count(),
            due: sql<number>`count(*) FILTER (WHERE ${cardStates.due} <= ${now})`.mapWith(Number),
            mastered: sql<number>`count(*) FILTER (WHERE ${cardStates.state} = 2 AND ${cardStates.stability} >= ${masteredStability})`.mapWith(Number),
          })
          .from(cardStates)
          .innerJoin(flashcards, eq(flashcards.id, cardStates.flashcardId))
          .where(and(eq(cardStates.userId, userId), isNull(flashcards.archivedAt), moduleId ? eq(cardStates.moduleId, moduleId) : undefined))
          .groupBy(cardStates.moduleId)
          .orderBy(asc(cardStates.moduleId)),
      );
    },

    /** Distinct UTC days with at least one answer, newest first (for streaks). */
    *answerDays(userId: string, moduleId: string, limit: number): Work<string[]> {
      const rows = yield* step((executor: PgExecutor) =>
        executor
          .selectDistinct({ day: dayOf })
          .from(answers)
          .where(and(eq(answers.userId, userId), eq(answers.moduleId, moduleId)))
          .orderBy(desc(dayOf))
          .limit(limit),
      );
      return rows.map((row) => row.day);
    },
  };
}
