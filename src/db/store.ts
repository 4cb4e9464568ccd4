import type { Config } from '../config.js';
import type { DatabaseHandle, Db, StatementStats } from './client.js';
import { openPostgres, type PgDb, type PostgresHandle } from './postgres.js';
import { listenForCommits, type CommitListener } from './postgres-commits.js';

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

export type Store = StoreCommon & ({ engine: 'sqlite'; db: Db; sqlite: DatabaseHandle } | { engine: 'postgres'; db: PgDb; postgres: PostgresHandle; commits: CommitListener });

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
 * Opens PostgreSQL (migrated under the instances' lock) and the listener that tells this process of every
 * instance's commits. Resolves once the listener listens, so no cache is filled before it can be invalidated.
 */
export async function openPostgresStore(config: NonNullable<Config['postgres']>, onError: (error: Error) => void): Promise<PostgresStore> {
  const postgres = await openPostgres(config, onError);
  const commits = listenForCommits(config.url, onError);
  await commits.ready();
  return {
    engine: 'postgres',
    db: postgres.db,
    postgres,
    commits,
    stats: postgres.stats,
    health: () => postgres.health(),
    close: async () => {
      await commits.close();
      await postgres.close();
    },
  };
}
