import { asc, desc, gt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { createCommitCache } from '../db/commit-cache.js';
import { changes, type ChangeRow } from '../db/schema.js';

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

  return {
    /** The newest sequence number: it moves whenever visible content changes. */
    latestSeq: (): number => latestCache.get('latest', () => ({ seq: latest.get()?.seq ?? 0 }))!.seq,

    record(entries: NewChange[]): void {
      latestCache.clear();
      for (let index = 0; index < entries.length; index += 200) {
        db.insert(changes).values(entries.slice(index, index + 200)).run();
      }
    },
    after: (seq: number, limit: number): ChangeRow[] => page.all({ after: seq, limit }),
  };
}

export type ChangesRepository = ReturnType<typeof createChangesRepository>;
