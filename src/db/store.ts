import type { Config } from '../config.js';
import type { DatabaseHandle, Db, StatementStats } from './client.js';
import type { PgDb, PostgresHandle } from './postgres.js';
import type { CommitListener } from './postgres-commits.js';
import type { Repositories } from './repositories.js';

export interface StoreHealth {
  database: boolean;
  migrations: boolean;
  storage: boolean;
}

/**
 * The process's database, on whichever engine the configuration names: DATABASE_URL selects PostgreSQL, otherwise
 * the SQLite file at DATABASE_PATH. Only db/ and the repositories look inside; services get repositories.
 */
interface StoreCommon {
  /** Statements run, for tests that assert batching (no N+1) on either engine. */
  stats: StatementStats;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

export type Store = StoreCommon & ({ engine: 'sqlite'; db: Db; sqlite: DatabaseHandle } | {
      engine: 'postgres';
      db: PgDb;
      postgres: PostgresHandle;
      commits: CommitListener;
      /** PostgreSQL's repositories come with its engine module, so a SQLite deployment never loads them. */
      repositories(): Repositories;
    });

export type SqliteStore = Extract<Store, { engine: 'sqlite' }>;
export type PostgresStore = Extract<Store, { engine: 'postgres' }>;

export function sqliteStore(handle: DatabaseHandle): SqliteStore {
  return {
    engine: 'sqlite',
    db: handle.db,
    sqlite: handle,
    stats: handle.stats,
    health: async () => handle.health(),
    close: async () => handle.close(),
  };
}

/**
 * Opens PostgreSQL (db/postgres-engine.ts). Imported only when DATABASE_URL is set: `pg`, Drizzle's pg dialect and
 * the PostgreSQL repositories would otherwise be parsed at every SQLite server's startup for nothing.
 */
export async function openPostgresStore(config: NonNullable<Config['postgres']>, onError: (error: Error) => void): Promise<PostgresStore> {
  const { openPostgresEngine } = await import('./postgres-engine.js');
  return openPostgresEngine(config, onError);
}
