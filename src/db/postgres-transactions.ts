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
  /** The connection's record of its prepared statements can no longer be trusted: it is closed, not pooled again. */
  discard: boolean;
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
  bind(config: { values?: readonly (string | null)[] }): void;
  describe(config: { type: 'P'; name: string }): void;
  execute(config: { portal?: string; rows?: number | undefined }): void;
  sync(): void;
}

/** A statement sent ahead of another in the same message: unnamed, its parameters text or null. */
export interface AheadStatement {
  text: string;
  values: readonly (string | null)[];
}

/**
 * A statement sent with others before it (control statements, statements whose results it must see) and COMMIT
 * after it, in one message and one Sync. Each runs as its own portal, in order, so under READ COMMITTED each takes
 * its snapshot when it starts: a read sent after a lock statement sees what the lock's previous holder committed.
 */
class Pipeline extends pg.Query {
  constructor(
    config: pg.QueryConfig,
    private readonly ahead: readonly AheadStatement[],
    private readonly after: string | undefined,
  ) {
    // Extended mode even without parameters: the simple protocol would end the message with its own Sync.
    super({ ...config, queryMode: 'extended' } as pg.QueryConfig);
  }

  prepare(connection: pg.Connection): void {
    const wire = connection as unknown as Wire;
    for (const statement of this.ahead) {
      wire.parse({ text: statement.text });
      wire.bind({ values: statement.values });
      wire.describe({ type: 'P', name: '' });
      wire.execute({});
    }
    (pg.Query.prototype as unknown as QueryInternals).prepare.call(this, connection);
  }

  /** Called by `prepare` once the statement is bound: executes it, then what follows it, then the Sync. */
  _getRows(connection: pg.Connection, rows: number | undefined): void {
    const wire = connection as unknown as Wire;
    wire.execute({ portal: (this as unknown as QueryInternals).portal, rows });
    if (this.after) {
      wire.parse({ text: this.after });
      wire.bind({});
      wire.execute({});
    }
    wire.sync();
  }
}

const control = (text: string): AheadStatement => ({ text, values: [] });

/** The named statements pg believes the connection has parsed (pg/lib/client.js `_handleParseComplete`). */
const parsedStatementsOf = (client: pg.PoolClient) => (client as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements;

interface PooledTransaction {
  db: PgDb;
  state: TransactionState;
  /** Sends `config` with what the transaction has pending and `ahead`: the results of `ahead` and of `config`. */
  send(config: pg.QueryConfig, ahead: readonly AheadStatement[]): Promise<pg.QueryResult[]>;
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

/**
 * Runs `ahead`, then `config`, in one round trip when the executor is one of these transactions (in order, each
 * with its own snapshot: see `Pipeline`), else one after the other: the rows of each.
 */
export async function executeAfter(executor: unknown, ahead: AheadStatement, config: pg.QueryConfig, sequentially: () => Promise<[pg.QueryResult, pg.QueryResult]>): Promise<[pg.QueryResult, pg.QueryResult]> {
  const transaction = transactions.get(executor as object);
  if (!transaction) return sequentially();
  const results = await transaction.send(config, [ahead]);
  return [results[0]!, results[1]!];
}

/** A Drizzle database on one pooled connection whose queries carry the transaction's control statements. */
function pooledTransaction(client: pg.PoolClient, stats: StatementStats | undefined, onQueryError: (client: pg.PoolClient, error: unknown) => void): PooledTransaction {
  const state: TransactionState = { begin: undefined, commitNext: false, ended: false, discard: false };
  /** The results of `ahead` and `config` (those of the control statements left out). */
  function send(config: pg.QueryConfig, ahead: readonly AheadStatement[]): Promise<pg.QueryResult[]> {
    if (state.ended) return Promise.reject(new Error('a statement was sent after its transaction committed'));
    const before = state.begin === undefined ? ahead : [control(state.begin), ...ahead];
    const after = state.commitNext ? 'COMMIT' : undefined;
    state.begin = undefined;
    state.commitNext = false;
    if (after) state.ended = true;
    const query = new Pipeline(config, before, after);
    // pg records a named statement as parsed on the first ParseComplete of its query, which in a pipeline may be
    // that of a statement ahead of it; if the pipeline then fails before the server parsed the named one, the
    // record is wrong and every later use on this connection would bind a statement that does not exist.
    const parsedBefore = !config.name || parsedStatementsOf(client)[config.name] !== undefined;
    return new Promise((resolve, reject) => {
      (query as unknown as { callback: (error: Error | undefined, results: pg.QueryResult | pg.QueryResult[]) => void }).callback = (error, results) => {
        if (error) {
          if (!parsedBefore) state.discard = true;
          onQueryError(client, error);
          reject(error);
          return;
        }
        const all = Array.isArray(results) ? results : [results];
        resolve(all.slice(before.length - ahead.length, before.length + 1));
      };
      client.query(query);
    });
  }
  const connection = {
    async query(...[config, values]: QueryArgs): Promise<pg.QueryResult> {
      const text = typeof config === 'string' ? { text: config } : config;
      if (state.begin === undefined && !state.commitNext && !state.ended) return client.query({ ...text, values } as pg.QueryConfig);
      return (await send({ ...text, values } as pg.QueryConfig, []))[0]!;
    },
  };
  const db = drizzle({ client: connection as unknown as pg.Client, schema, ...(stats ? { logger: { logQuery: () => void stats.statements++ } } : {}) }) as unknown as PgDb;
  const transaction = { db, state, send };
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
async function inTransaction<T>(pool: pg.Pool, begin: string, body: () => Work<T>, context: WorkContext, onQueryError: (client: pg.PoolClient, error: unknown) => void): Promise<T> {
  const client = await pool.connect();
  let transaction = connectionTransactions.get(client);
  if (!transaction) {
    transaction = pooledTransaction(client, poolStats.get(pool), onQueryError);
    connectionTransactions.set(client, transaction);
  }
  const { state } = transaction;
  Object.assign(state, { begin, commitNext: false, ended: false, discard: false });
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
    client.release(releaseError ?? (state.discard ? new Error('its prepared statements are unknown after a failed pipeline') : undefined));
  }
}

/**
 * PostgreSQL's runner of works (db/work.ts): each statement is awaited on the work's transaction. `read` is one
 * REPEATABLE READ, READ ONLY snapshot (it takes no lock a writer waits for); `write` is one READ COMMITTED
 * transaction, run again when PostgreSQL reports a deadlock or serialization failure. A body never awaits anything
 * but its own statements, so a transaction is never held across unrelated work.
 */
export function postgresTransactions(db: PgDb, onQueryError: (client: pg.PoolClient, error: unknown) => void): Transactions {
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
      const result = await inTransaction(pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', body, context, onQueryError);
      committed(context);
      return result;
    },
    async write(body) {
      for (let attempt = 1; ; attempt++) {
        // A fresh context per attempt: effects of an attempt that rolled back are dropped with it.
        const context = newWorkContext();
        try {
          const result = await inTransaction(pool, 'BEGIN', body, context, onQueryError);
          committed(context);
          return result;
        } catch (error) {
          if (attempt >= retriesOnConflict || !isRetryable(error)) throw error;
        }
      }
    },
  };
}
