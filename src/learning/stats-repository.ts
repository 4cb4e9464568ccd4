import { and, count, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { answers, cardStates, flashcards } from '../db/schema.js';
import { transactionsOf } from '../db/transactions.js';
import { step, type Work } from '../db/work.js';

/** All SQL for progress figures: aggregates over a learner's answers and card states, per module. */
export function createStatsRepository(db: Db) {
  return {
    ...transactionsOf(db),

    /** Per-module answer counts for a user: total, recalled (rating above Again), last answer time. */
    *answerStats(userId: string, moduleId?: string) {
      return yield* step(() =>
        db
          .select({
            moduleId: answers.moduleId,
            answers: count(),
            recalled: sql<number>`sum(${answers.rating} > 1)`,
            lastAnsweredAt: sql<string>`max(${answers.answeredAt})`,
          })
          .from(answers)
          .where(and(eq(answers.userId, userId), moduleId ? eq(answers.moduleId, moduleId) : undefined))
          .groupBy(answers.moduleId)
          .all(),
      );
    },

    /** Per-module card-state counts for live cards: seen, due by `now`, mastered. */
    *stateStats(userId: string, now: string, masteredStability: number, moduleId?: string) {
      return yield* step(() =>
        db
          .select({
            moduleId: cardStates.moduleId,
            seen: count(),
            due: sql<number>`sum(${cardStates.due} <= ${now})`,
            mastered: sql<number>`sum(${cardStates.state} = 2 AND ${cardStates.stability} >= ${masteredStability})`,
          })
          .from(cardStates)
          .innerJoin(flashcards, eq(flashcards.id, cardStates.flashcardId))
          .where(and(eq(cardStates.userId, userId), isNull(flashcards.archivedAt), moduleId ? eq(cardStates.moduleId, moduleId) : undefined))
          .groupBy(cardStates.moduleId)
          .all(),
      );
    },

    /** Distinct UTC days with at least one answer, newest first (for streaks). */
    *answerDays(userId: string, moduleId: string, limit: number): Work<string[]> {
      const rows = yield* step(() =>
        db
          .selectDistinct({ day: sql<string>`substr(${answers.answeredAt}, 1, 10)` })
          .from(answers)
          .where(and(eq(answers.userId, userId), eq(answers.moduleId, moduleId)))
          .orderBy(desc(sql`substr(${answers.answeredAt}, 1, 10)`))
          .limit(limit)
          .all(),
      );
      return rows.map((row) => row.day);
    },
  };
}

export type StatsRepository = ReturnType<typeof createStatsRepository>;
