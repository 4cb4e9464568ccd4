import { asc, desc, gt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { createCommitCache } from '../db/commit-cache.js';
import { changes, type ChangeRow } from '../db/schema.js';
import { transactionsOf } from '../db/transactions.js';
import { step, type Work } from '../db/work.js';

export type NewChange = Omit<ChangeRow, 'seq'>;

/** All SQL for the change feed. */
export function createChangesRepository(db: Db) {
  const page = db
    .select()
    .from(changes)
    .where(gt(changes.seq, sql.placeholder('after')))
    .orderBy(asc(changes.seq))
    .limit(sql.placeholder('limit'))
    .prepare();

  const latest = db.select({ seq: changes.seq }).from(changes).orderBy(desc(changes.seq)).limit(1).prepare();
  // Read by every request that serves a cached derived response: kept until this connection records a change or
  // another one commits.
  const latestCache = createCommitCache<{ seq: number }>(db, { max: 1, cacheMisses: false });
  function* loadLatest(): Work<{ seq: number }> {
    return { seq: (yield* step(() => latest.get()))?.seq ?? 0 };
  }

  return {
    ...transactionsOf(db),

    /** The newest sequence number: it moves whenever visible content changes. */
    *latestSeq(): Work<number> {
      return (yield* latestCache.get('latest', loadLatest))!.seq;
    },

    *record(entries: NewChange[]): Work<void> {
      latestCache.clear();
      for (let index = 0; index < entries.length; index += 200) {
        const chunk = entries.slice(index, index + 200);
        yield* step(() => db.insert(changes).values(chunk).run());
      }
    },

    *after(seq: number, limit: number): Work<ChangeRow[]> {
      return yield* step(() => page.all({ after: seq, limit }));
    },
  };
}

export type ChangesRepository = ReturnType<typeof createChangesRepository>;
