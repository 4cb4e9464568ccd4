import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packageRoot } from '../lib/package-root.js';
import * as schema from './schema.js';
import { diskSpaceProbe } from './disk-space.js';
import { storageHealthOf, type StorageHealth } from './storage-health.js';
import { configureWriteLock } from './transactions.js';

/** Drizzle over the connection, with the raw client for the few statements Drizzle cannot express (FTS5). */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export interface DatabaseHandle {
  /** Drizzle over the connection; repositories use this. */
  db: Db;
  /** The raw connection, for pragmas and backup. */
  sqlite: Database.Database;
  /** Statements run since the connection opened; tests assert batching (no N+1) with them. */
  stats: StatementStats;
  /** What storage refuses now (a full disk, a replaced file); shared with this connection's write transactions. */
  storage: StorageHealth;
  /** Readiness: the connection answers, every committed migration is applied and storage reports no problem. */
  health(): { database: boolean; migrations: boolean; storage: boolean };
  close(): void;
}

export interface StatementStats {
  /** Queries Drizzle ran (its logger). */
  statements: number;
  /**
   * Statements the driver executed on this connection: every run/get/all/iterate of a statement prepared on it
   * (Drizzle's and raw SQL such as the FTS5 index alike) and every exec(). Transaction control, which
   * better-sqlite3 runs internally (BEGIN/COMMIT/SAVEPOINT of `sqlite.transaction`), and pragmas are not counted.
   */
  driverStatements: number;
}

export interface OpenDatabaseOptions {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
  /** Apply pending migrations (the server and CLI do; a read-only tool may not). */
  migrate?: boolean;
}

/**
 * How long a read may wait for a lock (rare in WAL mode: recovery after a crash). SQLite's busy handler sleeps on
 * the event loop, so this stays short; writes wait asynchronously instead (db/transactions.ts).
 */
const readBusyTimeoutMs = 50;

/** The committed migrations, beside package.json. */
export const migrationsFolder = join(packageRoot, 'migrations');

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
    // Startup migrations wait for the lock as long as writes may; afterwards writes wait asynchronously.
    sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    // Deleted rows (an erased learner, a renamed learner's old name) are overwritten with zeros in their pages and
    // freed pages are zeroed, instead of lingering in free space until reused; erasure then truncates the WAL.
    // ON, not FAST: FAST leaves freed pages untouched.
    sqlite.pragma('secure_delete = ON');
    const stats: StatementStats = { statements: 0, driverStatements: 0 };
    countDriverStatements(sqlite, stats);
    const db = drizzle(sqlite, { schema, logger: { logQuery: () => void stats.statements++ } });
    if (options.migrate !== false) migrate(db, { migrationsFolder });
    configureWriteLock(sqlite, { budgetMs: options.busyTimeoutMs, readBusyTimeoutMs: Math.min(options.busyTimeoutMs, readBusyTimeoutMs) });
    const storage = storageHealthOf(sqlite);
    const probeDisk = inMemory ? () => {} : diskSpaceProbe(storage, dirname(resolve(options.path)));
    const health = () => {
      probeDisk();
      return { ...databaseHealth(sqlite), storage: storage.problems().length === 0 };
    };
    return { db, sqlite, stats, storage, health, close: () => sqlite.close() };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

const executeMethods = ['run', 'get', 'all', 'iterate'] as const;
type ExecuteMethod = (typeof executeMethods)[number];

/**
 * Counts executions at the driver: `prepare` on this connection returns statements whose execute methods add one
 * to `stats.driverStatements` before running (own properties calling the prototype's, so `raw()`/`pluck()`, which
 * return the statement itself, keep counting), and `exec` counts once per call.
 */
function countDriverStatements(sqlite: Database.Database, stats: StatementStats): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const exec = sqlite.exec.bind(sqlite);
  let counted: Record<ExecuteMethod, (this: Database.Statement, ...args: unknown[]) => unknown> | undefined;
  const countedMethods = (statement: Database.Statement) => {
    const prototype = Object.getPrototypeOf(statement) as Record<ExecuteMethod, (...args: unknown[]) => unknown>;
    const wrap = (name: ExecuteMethod) =>
      function (this: Database.Statement, ...args: unknown[]) {
        stats.driverStatements++;
        return prototype[name].apply(this, args);
      };
    return Object.fromEntries(executeMethods.map((name) => [name, wrap(name)])) as NonNullable<typeof counted>;
  };
  sqlite.prepare = ((source: string) => {
    const statement = prepare(source);
    counted ??= countedMethods(statement);
    return Object.assign(statement, counted);
  }) as typeof sqlite.prepare;
  sqlite.exec = (source: string) => {
    stats.driverStatements++;
    return exec(source);
  };
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
