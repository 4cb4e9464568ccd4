import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.js';
import type { PgExecutor } from './postgres.js';
import { step, type Work } from './work.js';

/**
 * Plain SQL statements, written once for both engines (snake_case columns, rows aliased to camelCase with double
 * quotes), run on either: what a repository whose statements are the same on both needs of its engine.
 */
export interface PlainSql {
  /** The statement's rows. */
  all<T>(query: SQL): Work<T[]>;
  /** Runs the statement; rows it changed. */
  run(query: SQL): Work<number>;
  /** `column IN (ids)`, the ids bound as one parameter whatever their number. */
  inList(column: SQL, ids: readonly string[]): SQL;
  /** Appended to a SELECT that claims rows: other transactions' claims are skipped, not waited for (PostgreSQL). */
  skipLocked: SQL;
}

export function sqlitePlainSql(db: Db): PlainSql {
  return {
    all: <T>(query: SQL) => step(() => db.all<T>(query)),
    run: (query) => step(() => db.run(query).changes),
    inList: (column, ids) => sql`${column} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`,
    skipLocked: sql``,
  };
}

export function postgresPlainSql(): PlainSql {
  return {
    all: <T>(query: SQL) => step(async (executor: PgExecutor) => (await executor.execute(query)).rows as T[]),
    run: (query) => step(async (executor: PgExecutor) => (await executor.execute(query)).rowCount ?? 0),
    inList: (column, ids) => sql`${column} = ANY(${sql.param([...ids])}::text[])`,
    skipLocked: sql` FOR UPDATE SKIP LOCKED`,
  };
}
