import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.js';

/** Drizzle over the connection, with the raw client for the few statements Drizzle cannot express (FTS5). */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export interface DatabaseHandle {
  /** Drizzle over the connection; repositories use this. */
  db: Db;
  /** The raw connection, for pragmas and backup. */
  sqlite: Database.Database;
  /** Statements run through Drizzle since the connection opened (tests assert batching with it). */
  stats: { statements: number };
  /** Readiness: the connection answers and every committed migration is applied. */
  health(): { database: boolean; migrations: boolean };
  close(): void;
}

export interface OpenDatabaseOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  /** Apply pending migrations (the server and CLI do; a read-only tool may not). */
  migrate?: boolean;
}

/** Resolved from this file so that `src/db` (tests) and `dist/db` (built) both find the committed folder. */
export const migrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * Opens the single connection a process uses. WAL lets readers proceed while a writer commits; `busy_timeout`
 * makes a second process (the CLI importing while the server runs) wait instead of failing with SQLITE_BUSY.
 */
export function openDatabase(options: OpenDatabaseOptions): DatabaseHandle {
  const inMemory = options.path === ':memory:';
  if (!inMemory) mkdirSync(dirname(resolve(options.path)), { recursive: true });
  const sqlite = new Database(options.path);
  try {
    if (!inMemory) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${options.synchronous}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    const stats = { statements: 0 };
    const db = drizzle(sqlite, { schema, logger: { logQuery: () => void stats.statements++ } });
    if (options.migrate !== false) migrate(db, { migrationsFolder });
    return { db, sqlite, stats, health: () => databaseHealth(sqlite), close: () => sqlite.close() };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

interface Journal {
  entries: { tag: string; when: number }[];
}

function databaseHealth(sqlite: Database.Database): { database: boolean; migrations: boolean } {
  try {
    const database = sqlite.prepare('SELECT 1 AS ok').get() !== undefined;
    return { database, migrations: database && migrationsApplied(sqlite) };
  } catch {
    return { database: false, migrations: false };
  }
}

let latestMigrationAt: number | undefined;

/** True when every migration in the committed journal has been applied to this database. */
function migrationsApplied(sqlite: Database.Database): boolean {
  if (latestMigrationAt === undefined) {
    const journal = JSON.parse(readFileSync(`${migrationsFolder}/meta/_journal.json`, 'utf8')) as Journal;
    latestMigrationAt = journal.entries.at(-1)?.when ?? 0;
  }
  const row = sqlite.prepare('SELECT max(created_at) AS last FROM __drizzle_migrations').get() as
    | { last: number | null }
    | undefined;
  return row?.last != null && row.last >= latestMigrationAt;
}
