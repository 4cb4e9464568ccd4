import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { StatementStats } from './client.js';
import * as schema from './schema-pg.js';
import type { PgDb } from './postgres.js';
import { committed, newWorkContext, runAwaiting, type Transactions, type Work, type WorkContext } from './work.js';

/**
 * PostgreSQL transactions with their control statements sent in the same message as the statements next to them.
 * On this machine's virtual CPUs a round trip to the database costs the server's event loop more than the statement
 * itself (the socket write wakes the database's process: about 170 us of the write path's CPU profile each), so
 * BEGIN travels with the transaction's first statement and, when the work says which statement is its last (see
 * `endsTransaction`), COMMIT travels with that one: an answer write is three round trips instead of five.
 *
 * The statements go as one extended-protocol pipeline with a single Sync (Parse/Bind/Execute of BEGIN, of the
 * statement, of COMMIT): the server runs them in order and stops at the first error, so a statement that fails
 * never reaches the COMMIT behind it, and the transaction is rolled back as before.
 */

/** What a connection's transaction still has to send with its next statement. */
interface TransactionState {
  /** BEGIN (with its isolation), until the first statement carries it. */
  begin: string | undefined;
  /** The next statement is the work's last: COMMIT goes with it. */
  commitNext: boolean;
  /** COMMIT was sent: no statement may follow. */
  ended: boolean;
}

interface PooledTransaction {
  db: PgDb;
  state: TransactionState;
}

type QueryArgs = [config: string | pg.QueryConfig, values?: unknown[]];

/** The pieces of pg's Query this extends: its extended-protocol steps (pg/lib/query.js). */
interface QueryInternals {
  prepare(connection: pg.Connection): void;
  portal: string;
}

/** The protocol messages of pg's Connection used here (its published types are older than its methods). */
interface Wire {
  parse(query: { text: string }): void;
  bind(config: object): void;
  execute(config: { portal?: string; rows?: number | undefined }): void;
  sync(): void;
}

/** A statement sent with control statements before and after it, in one message and one Sync. */
class StatementWithControl extends pg.Query {
  constructor(
    config: pg.QueryConfig,
    private readonly before: string | undefined,
    private readonly after: string | undefined,
  ) {
    // Extended mode even without parameters: the simple protocol would end the message with its own Sync.
    super({ ...config, queryMode: 'extended' } as pg.QueryConfig);
  }

  prepare(connection: pg.Connection): void {
    if (this.before) sendUnnamed(connection, this.before);
    (pg.Query.prototype as unknown as QueryInternals).prepare.call(this, connection);
  }

  /** Called by `prepare` once the statement is bound: executes it, then what follows it, then the Sync. */
  _getRows(connection: pg.Connection, rows: number | undefined): void {
    const wire = connection as unknown as Wire;
    wire.execute({ portal: (this as unknown as QueryInternals).portal, rows });
    if (this.after) sendUnnamed(connection, this.after);
    wire.sync();
  }
}

function sendUnnamed(connection: pg.Connection, text: string): void {
  const wire = connection as unknown as Wire;
  wire.parse({ text });
  wire.bind({});
  wire.execute({});
}

/** The statement's own result among those of the control statements sent with it. */
function statementResult(results: pg.QueryResult | pg.QueryResult[], before: string | undefined): pg.QueryResult {
  if (!Array.isArray(results)) return results;
  return results[before ? 1 : 0]!;
}

const transactions = new WeakMap<object, PooledTransaction>();
const poolStats = new WeakMap<pg.Pool, StatementStats>();

/** The pool's statement counters, which statements run in these transactions count in too (db/postgres.ts). */
export const countStatementsOf = (pool: pg.Pool, stats: StatementStats) => poolStats.set(pool, stats);

/**
 * Marks the executor's next statement as its transaction's last one: COMMIT goes with it. Only for a statement
 * after which the work runs no other statement and nothing that can fail (the transaction has committed by then).
 * Outside such a transaction (autocommit) it does nothing.
 */
export function commitWithNextStatement(executor: unknown): void {
  const transaction = transactions.get(executor as object);
  if (transaction && !transaction.state.ended) transaction.state.commitNext = true;
}

/** A Drizzle database on one pooled connection whose queries carry the transaction's control statements. */
function pooledTransaction(client: pg.PoolClient, stats: StatementStats | undefined, onTimeout: (client: pg.PoolClient, error: unknown) => void): PooledTransaction {
  const state: TransactionState = { begin: undefined, commitNext: false, ended: false };
  const connection = {
    query(...[config, values]: QueryArgs): Promise<pg.QueryResult> {
      if (state.ended) return Promise.reject(new Error('a statement was sent after its transaction committed'));
      const before = state.begin;
      const after = state.commitNext ? 'COMMIT' : undefined;
      state.begin = undefined;
      state.commitNext = false;
      if (after) state.ended = true;
      if (!before && !after) return client.query(config as pg.QueryConfig, values);
      const query = new StatementWithControl({ ...(typeof config === 'string' ? { text: config } : config), values }, before, after);
      return new Promise((resolve, reject) => {
        (query as unknown as { callback: (error: Error | undefined, results: pg.QueryResult | pg.QueryResult[]) => void }).callback = (error, results) => {
          if (error) {
            onTimeout(client, error);
            reject(error);
          } else resolve(statementResult(results, before));
        };
        client.query(query);
      });
    },
  };
  const db = drizzle({ client: connection as unknown as pg.Client, schema, ...(stats ? { logger: { logQuery: () => void stats.statements++ } } : {}) }) as unknown as PgDb;
  const transaction = { db, state };
  transactions.set(db, transaction);
  return transaction;
}

/** A serialization failure or deadlock: the transaction did nothing and is run again. */
const isRetryable = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return code === '40001' || code === '40P01';
};
const retriesOnConflict = 5;

const connectionTransactions = new WeakMap<pg.PoolClient, PooledTransaction>();

/**
 * Runs `body` in one transaction on a pooled connection: BEGIN goes with its first statement, COMMIT after its last
 * (or with it, `commitWithNextStatement`); a failure rolls it back. A body without statements sends nothing.
 */
async function inTransaction<T>(pool: pg.Pool, begin: string, body: () => Work<T>, context: WorkContext, onTimeout: (client: pg.PoolClient, error: unknown) => void): Promise<T> {
  const client = await pool.connect();
  let transaction = connectionTransactions.get(client);
  if (!transaction) {
    transaction = pooledTransaction(client, poolStats.get(pool), onTimeout);
    connectionTransactions.set(client, transaction);
  }
  const { state } = transaction;
  Object.assign(state, { begin, commitNext: false, ended: false });
  let releaseError: Error | undefined;
  try {
    const result = await runAwaiting(body(), transaction.db, context);
    if (!state.ended && state.begin === undefined) await client.query('COMMIT');
    return result;
  } catch (error) {
    // Once BEGIN was sent, ROLLBACK, whatever the driver last heard: the server's answer to a failed pipeline may
    // not have arrived yet, and a connection must never go back to the pool inside a transaction. (After a failed
    // COMMIT there is none left, and ROLLBACK only warns.)
    if (state.begin === undefined) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        releaseError = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
    }
    throw error;
  } finally {
    state.begin = undefined;
    state.ended = true;
    client.release(releaseError);
  }
}

/**
 * PostgreSQL's runner of works (db/work.ts): each statement is awaited on the work's transaction. `read` is one
 * REPEATABLE READ, READ ONLY snapshot (it takes no lock a writer waits for); `write` is one READ COMMITTED
 * transaction, run again when PostgreSQL reports a deadlock or serialization failure. A body never awaits anything
 * but its own statements, so a transaction is never held across unrelated work.
 */
export function postgresTransactions(db: PgDb, onTimeout: (client: pg.PoolClient, error: unknown) => void): Transactions {
  const pool = db.$client;
  return {
    run: async (work) => {
      const context = newWorkContext();
      const result = await runAwaiting(work, db, context);
      committed(context);
      return result;
    },
    read: async (body) => {
      const context = newWorkContext();
      const result = await inTransaction(pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', body, context, onTimeout);
      committed(context);
      return result;
    },
    async write(body) {
      for (let attempt = 1; ; attempt++) {
        // A fresh context per attempt: effects of an attempt that rolled back are dropped with it.
        const context = newWorkContext();
        try {
          const result = await inTransaction(pool, 'BEGIN', body, context, onTimeout);
          committed(context);
          return result;
        } catch (error) {
          if (attempt >= retriesOnConflict || !isRetryable(error)) throw error;
        }
      }
    },
  };
}
