import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { redactUrl } from '../lib/redact-url.js';
import { packageRoot } from '../lib/package-root.js';
import { PgDialect, type PgTransaction } from 'drizzle-orm/pg-core';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import { fillPlaceholders, is, SQL, type ExtractTablesWithRelations, type Query } from 'drizzle-orm';
import type { StatementStats } from './client.js';
import * as schema from './schema-pg.js';
import { commitWithNextStatement, countStatementsOf, executeAfter, postgresTransactions } from './postgres-transactions.js';
import type { Transactions } from './work.js';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

/** What a PostgreSQL repository's statements run on: the pool (outside a transaction) or the work's transaction. */
export type PgExecutor = PgDb | PgTransaction<NodePgQueryResultHKT, typeof schema, ExtractTablesWithRelations<typeof schema>>;

const dialect = new PgDialect();

/** A hot statement's shape compiled once: its text (values as `sql.placeholder`s), parameters and prepared name. */
export interface StatementShape {
  readonly query: Query;
  readonly name: string;
}

/**
 * What a hot statement runs: Drizzle SQL, compiled on every call, or a shape compiled once with this call's values
 * for its placeholders. Building and compiling the answer path's statements with Drizzle on every call was a sixth
 * of the server's CPU under answer posts; their texts are a handful of shapes.
 */
export type Statement = SQL | { shape: StatementShape; values: Record<string, unknown> };

/** The shapes `build` makes, each compiled on first use (`key` names the shape; the keys must be few). */
export function statementShapes<Key extends string>(build: (key: Key) => SQL): (key: Key) => StatementShape {
  const shapes = new Map<Key, StatementShape>();
  return (key) => {
    let shape = shapes.get(key);
    if (!shape) {
      const query = dialect.sqlToQuery(build(key));
      shape = { query, name: statementName(query.sql) };
      shapes.set(key, shape);
    }
    return shape;
  };
}

/** The statement's text and values, and its prepared name unless it is sent unnamed (`named: false`). */
function compile(statement: Statement, named = true): { query: Query; name: string | undefined; values: Record<string, unknown> } {
  if (is(statement, SQL)) {
    const query = dialect.sqlToQuery(statement);
    return { query, name: named ? preparedName(query.sql) : undefined, values: {} };
  }
  return { ...statement.shape, values: statement.values };
}

const run = <Row>(executor: PgExecutor, query: Query, name: string | undefined, values: Record<string, unknown>): Promise<pg.QueryResult<Row & pg.QueryResultRow>> =>
  executor._.session.prepareQuery(query, undefined, name, false).execute(values) as Promise<pg.QueryResult<Row & pg.QueryResultRow>>;

/**
 * Runs `statement` as a named prepared statement on the executor's connection, for the hot statements whose text is
 * the same on every call (their values are parameters): each connection parses it once, and once PostgreSQL settles
 * on a generic plan it is planned once too, where an unnamed statement is parsed and planned on every call (on the
 * answer path that was a third of the read's time). The name is the text's hash, so one text always has one name
 * and two texts never share one (the driver refuses a name reused for another text). With `endsTransaction`, the
 * statement is its transaction's last and COMMIT goes with it (postgres-transactions.ts).
 */
export async function executePrepared<Row>(executor: PgExecutor, statement: Statement, options: { endsTransaction?: boolean } = {}): Promise<Row[]> {
  const { query, name, values } = compile(statement);
  if (options.endsTransaction) commitWithNextStatement(executor);
  return (await run<Row>(executor, query, name, values)).rows;
}

const statementName = (text: string) => `mnemo_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;

/** Statement names by text, hashed once per text (the texts are the few shapes of the hot statements). */
const preparedNames = new Map<string, string>();
function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = statementName(text);
    if (preparedNames.size >= 1000) preparedNames.clear();
    preparedNames.set(text, name);
  }
  return name;
}

/**
 * Runs `ahead`, then `statement` (as `executePrepared`), in one round trip inside a transaction: `statement` starts
 * once `ahead` has run, with a snapshot of its own (READ COMMITTED), so a read sent behind a lock sees what the
 * lock's previous holder committed. `ahead` is sent unnamed and its parameters must be text. The rows of each.
 */
export async function executePreparedAfter<Ahead, Row>(executor: PgExecutor, ahead: Statement, statement: Statement): Promise<[Ahead[], Row[]]> {
  const first = compile(ahead, false);
  const values = fillPlaceholders(first.query.params, first.values).map((value) => {
    if (value !== null && typeof value !== 'string') throw new TypeError('a statement sent ahead takes text parameters only');
    return value;
  });
  const second = compile(statement);
  const [aheadResult, result] = await executeAfter(
    executor,
    { text: first.query.sql, values },
    { text: second.query.sql, values: fillPlaceholders(second.query.params, second.values), name: second.name },
    async () => [await run(executor, first.query, undefined, first.values), await run(executor, second.query, second.name, second.values)],
  );
  return [aheadResult.rows as Ahead[], result.rows as Row[]];
}

export interface PostgresOptions {
  /** A postgres:// or postgresql:// URL (DATABASE_URL). */
  url: string;
  /** Connections this process may hold (DATABASE_POOL_MAX). */
  poolMax: number;
  /** A statement running longer is cancelled by the server (DATABASE_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs: number;
  /** How long opening a connection may take before it fails. */
  connectTimeoutMs: number;
  /** Apply pending migrations (the server and CLI do). */
  migrate?: boolean;
}

export interface PostgresHandle {
  db: PgDb;
  pool: pg.Pool;
  /** Statements run through the pool: Drizzle's (its logger) and every query sent, transaction control excepted. */
  stats: StatementStats;
  /** Readiness: a connection answers and every committed migration is applied. */
  health(): Promise<{ database: boolean; migrations: boolean; storage: boolean }>;
  close(): Promise<void>;
}

/** The committed PostgreSQL migrations (drizzle-postgres.config.ts). */
export const postgresMigrationsFolder = join(packageRoot, 'migrations', 'postgres');

/**
 * Instances starting together take this session lock around the migrator, so that one applies the migrations and
 * the others find them applied (drizzle's migrator alone would run the same DDL twice and fail one of them).
 */
const migrationLockKey = 0x6d6e656d6f; // "mnemo"

/** A connection failure the operator must fix, naming the variable and never the password. */
export class DatabaseUrlError extends Error {
  override readonly name = 'DatabaseUrlError';
}

/**
 * Opens the process's pool and applies pending migrations under the lock. The pool's idle connections may be
 * dropped by the server (a restart, a failover): the error is logged and the next query opens a new connection,
 * so the process recovers when the database comes back.
 */
export async function openPostgres(options: PostgresOptions, onIdleError: (error: Error) => void = () => {}): Promise<PostgresHandle> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: options.connectTimeoutMs,
    // A transaction left open by a bug would hold its locks and a connection for ever; the server ends it.
    idle_in_transaction_session_timeout: Math.max(options.statementTimeoutMs * 2, 10_000),
    application_name: 'mnemo',
    // statement_timeout is the server's: over a network path that died without a word nothing answers at all, and
    // a request would wait on the socket for ever. The client gives up a little later than the server would.
    ...(options.statementTimeoutMs > 0 ? { query_timeout: options.statementTimeoutMs + queryTimeoutMargin } : {}),
  });
  pool.on('error', onIdleError);
  const stats: StatementStats = { statements: 0, driverStatements: 0 };
  countQueries(pool, stats);
  countStatementsOf(pool, stats);
  discardTimedOutConnections(pool);
  const db = drizzle(pool, { schema, logger: { logQuery: () => void stats.statements++ } });
  try {
    if (options.migrate !== false) await migrateUnderLock(pool);
    else await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new DatabaseUrlError(`DATABASE_URL=${redactUrl(options.url)}: ${describeConnectionError(error)}`, { cause: error });
  }
  // Readiness asks on a connection of its own: with every pooled connection busy (a burst of slow requests), the
  // database still answers, and a probe waiting behind them would take the instance out of the load balancer.
  const probe = new pg.Pool({
    connectionString: options.url,
    max: 1,
    statement_timeout: 2000,
    query_timeout: 2000 + queryTimeoutMargin,
    connectionTimeoutMillis: options.connectTimeoutMs,
    application_name: 'mnemo-readiness',
  });
  discardTimedOutConnections(probe);
  probe.on('error', onIdleError);
  return {
    db,
    pool,
    stats,
    health: () => postgresHealth(probe),
    close: async () => {
      // The HTTP server closes once its connections have; a request its client abandoned may still be running or
      // waiting for a connection. Ending the pool under it would turn its transaction into an error: it finishes
      // first (bounded, the process's own grace period bounds the rest).
      const deadline = performance.now() + Math.min(options.statementTimeoutMs || closeWaitMs, closeWaitMs);
      while ((pool.waitingCount > 0 || pool.totalCount > pool.idleCount) && performance.now() < deadline) await pause(10);
      await Promise.all([pool.end(), probe.end()]);
    },
  };
}

const closeWaitMs = 10_000;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const transactionControl = /^\s*(begin|commit|rollback|savepoint|release|start transaction)\b/i;

/**
 * Counts the statements sent on the pool's connections, as SQLite's handle counts its driver's executions (tests
 * assert batching with them); transaction control is left out there too.
 */
function countQueries(pool: pg.Pool, stats: StatementStats): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | null)?.text;
      if (text === undefined || !transactionControl.test(text)) stats.driverStatements++;
      return query(...args);
    }) as typeof client.query;
  });
}

const queryTimeoutMargin = 2000;

/**
 * A connection whose query timed out on the client is in an unknown state (its answer may still come): it is closed,
 * so the pool drops it on release instead of handing it to the next request. A checked-out connection that fails
 * outside a query must not become an uncaught 'error' event either; its next query reports the failure.
 */
function discardTimedOutConnections(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    client.on('error', () => {});
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) result.catch((error: unknown) => discardIfTimedOut(client, error));
      return result;
    }) as typeof client.query;
  });
}

function discardIfTimedOut(client: pg.ClientBase, error: unknown): void {
  if (error instanceof Error && error.message === 'Query read timeout') {
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}

async function migrateUnderLock(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [migrationLockKey]);
    try {
      await migrate(drizzle(client, { schema }), { migrationsFolder: postgresMigrationsFolder });
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [migrationLockKey]);
    }
  } finally {
    client.release();
  }
}

/** What went wrong, in the driver's words where they are safe to show (they never include the password). */
function describeConnectionError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const reason = message ?? String(error);
  return code ? `${reason} (${code})` : reason;
}

interface Journal {
  entries: { when: number }[];
}

let latestMigrationAt: number | undefined;

async function postgresHealth(pool: pg.Pool): Promise<{ database: boolean; migrations: boolean; storage: boolean }> {
  latestMigrationAt ??= (JSON.parse(readFileSync(join(postgresMigrationsFolder, 'meta', '_journal.json'), 'utf8')) as Journal).entries.at(-1)?.when ?? 0;
  // Two tries: the probe's idle connection may have been cut (a restart, a failover) before the pool heard of it;
  // the failed query discards it and the second try opens a fresh one, so only a database that is really gone
  // reports not ready.
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await pool.query<{ last: string | null }>('SELECT max(created_at) AS last FROM drizzle.__drizzle_migrations');
      const last = result.rows[0]?.last;
      // Storage problems surface as failed statements on PostgreSQL; the server reports its own disk.
      return { database: true, migrations: last != null && Number(last) >= latestMigrationAt, storage: true };
    } catch {
      if (attempt === 2) return { database: false, migrations: false, storage: false };
    }
  }
}

/**
 * PostgreSQL's runner of works (db/work.ts) for a repository: see postgres-transactions.ts. A connection whose
 * statement timed out on the client is discarded there as here.
 */
export const transactionsOfPg = (db: PgDb): Transactions => postgresTransactions(db, discardIfTimedOut);
