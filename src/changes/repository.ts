import { asc, gt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
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

  return {
    record(entries: NewChange[]): void {
      for (let index = 0; index < entries.length; index += 200) {
        db.insert(changes).values(entries.slice(index, index + 200)).run();
      }
    },
    after: (seq: number, limit: number): ChangeRow[] => page.all({ after: seq, limit }),
  };
}

export type ChangesRepository = ReturnType<typeof createChangesRepository>;
