import { asc, desc, gt, sql } from 'drizzle-orm';
import { createCommitCache } from '../db/commit-cache.js';
import { transactionsOfPg, type PgExecutor } from '../db/postgres.js';
import { changes } from '../db/schema-pg.js';
import type { PostgresStore } from '../db/store.js';
import { afterCommit, step, type Work } from '../db/work.js';
import type { ChangesRepository, NewChange } from './repository.js';

/**
 * Writers of the feed take this transaction lock before their rows get sequence numbers, and hold it until they
 * commit. Sequence numbers are handed out when asked, not when committed: without the lock, a transaction given 7
 * could commit after one given 8, and a reader that had already seen 8 would move its cursor past 7 for ever. With
 * it, numbers are taken in commit order. Imports are rare and short, so they queue here at no real cost.
 */
const feedWriterLock = 0x6d6e6366; // "mncf"

/** All SQL for the change feed, on PostgreSQL. */
export function postgresChangesRepository(store: PostgresStore): ChangesRepository {
  const { db } = store;
  const latestCache = createCommitCache<{ seq: number }>(store.commits.sourceFor(['changes'], (executor) => executor !== db), { max: 1, cacheMisses: false });
  function* loadLatest(): Work<{ seq: number }> {
    const [row] = yield* step((executor: PgExecutor) => executor.select({ seq: changes.seq }).from(changes).orderBy(desc(changes.seq)).limit(1));
    return { seq: row?.seq ?? 0 };
  }

  return {
    ...transactionsOfPg(db),

    *latestSeq(): Work<number> {
      return (yield* latestCache.get('latest', loadLatest))!.seq;
    },

    *record(entries: NewChange[]): Work<void> {
      if (!entries.length) return;
      yield* afterCommit(latestCache.clear);
      yield* step((executor: PgExecutor) => executor.execute(sql`SELECT pg_advisory_xact_lock(${feedWriterLock})`));
      for (let index = 0; index < entries.length; index += 200) {
        const chunk = entries.slice(index, index + 200);
        yield* step((executor: PgExecutor) => executor.insert(changes).values(chunk));
      }
    },

    *after(seq: number, limit: number) {
      return yield* step((executor: PgExecutor) => executor.select().from(changes).where(gt(changes.seq, seq)).orderBy(asc(changes.seq)).limit(limit));
    },
  };
}
