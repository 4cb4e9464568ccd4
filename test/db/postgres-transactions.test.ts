import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executePrepared, executePreparedAfter, openPostgres, transactionsOfPg, type PgExecutor, type PostgresHandle } from '../../src/db/postgres.js';
import { step, type Work } from '../../src/db/work.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres-server.js';

/**
 * PostgreSQL's transaction runner sends BEGIN with a transaction's first statement and, when the work marks its last
 * statement, COMMIT with that one (src/db/postgres-transactions.ts). One connection in the pool, so every case also
 * shows that the connection goes back clean, whatever failed.
 */
let database: TestDatabase;
let handle: PostgresHandle;
/** The driver's query calls on the pool's connection: one per round trip. */
let calls: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  handle = await openPostgres({ url: database.url, poolMax: 1, statementTimeoutMs: 30_000, connectTimeoutMs: 5000 });
  const counted = new WeakSet<object>();
  handle.pool.on('acquire', (client) => {
    if (counted.has(client)) return;
    counted.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text;
      calls.push(text ?? '');
      return query(...args);
    }) as typeof client.query;
  });
  await handle.pool.query('CREATE TABLE tx_rows (id text PRIMARY KEY)');
});
afterAll(async () => {
  await handle.close();
  await database.drop();
});
beforeEach(async () => {
  await handle.pool.query('TRUNCATE tx_rows');
  calls = [];
});

const transactions = () => transactionsOfPg(handle.db);
const insert = (id: string, options: { endsTransaction?: boolean } = {}): Work<void> =>
  step(async (executor: PgExecutor) => void (await executePrepared(executor, sql`INSERT INTO tx_rows (id) VALUES (${id})`, options)));
const stored = async () => (await handle.pool.query<{ id: string }>('SELECT id FROM tx_rows ORDER BY id')).rows.map((row) => row.id);
/** The pooled connection's transaction status after a statement of its own: 'I' outside any transaction. */
async function connectionStatus(): Promise<string | null> {
  const client = await handle.pool.connect();
  try {
    await client.query('SELECT 1');
    return client.getTransactionStatus();
  } finally {
    client.release();
  }
}

describe('PostgreSQL transactions', () => {
  it('send BEGIN with the first statement and COMMIT with the one that ends the transaction: one round trip per statement', async () => {
    await transactions().write(function* () {
      yield* insert('a');
      yield* insert('b', { endsTransaction: true });
    });
    expect(calls).toHaveLength(2);
    expect(calls.some((text) => /^\s*(begin|commit)/i.test(text))).toBe(false);
    expect(await stored()).toEqual(['a', 'b']);
  });

  it('send COMMIT on its own when no statement ends the transaction, and nothing at all for a work without statements', async () => {
    await transactions().write(function* () {
      yield* insert('a');
    });
    expect(calls).toEqual([expect.stringContaining('INSERT'), 'COMMIT']);
    calls = [];
    expect(await transactions().write(function* () {
      return yield* step(() => 'no statement');
    })).toBe('no statement');
    expect(calls).toEqual([]);
  });

  it('roll back everything before a statement that fails with BEGIN in its message, and return the connection clean', async () => {
    await expect(
      transactions().write(function* () {
        // A NUL byte is refused at Bind, after BEGIN ran in the same message.
        yield* insert('bad\u0000id');
      }),
    ).rejects.toMatchObject({ cause: { code: '22021' } });
    expect(calls.at(-1)).toBe('ROLLBACK');
    expect(await connectionStatus()).toBe('I');
    expect(await stored()).toEqual([]);
  });

  it('roll back the earlier statements when the statement carrying COMMIT fails: COMMIT never runs', async () => {
    await expect(
      transactions().write(function* () {
        yield* insert('a');
        yield* insert('a', { endsTransaction: true });
      }),
    ).rejects.toMatchObject({ cause: { code: '23505' } });
    expect(await stored()).toEqual([]);
    expect(await connectionStatus()).toBe('I');
  });

  it('refuse a statement after the one that committed (it would run outside the transaction)', async () => {
    await expect(
      transactions().write(function* () {
        yield* insert('a', { endsTransaction: true });
        yield* insert('b');
      }),
    ).rejects.toMatchObject({ cause: { message: 'a statement was sent after its transaction committed' } });
    expect(await stored()).toEqual(['a']);
    expect(await connectionStatus()).toBe('I');
  });

  it('send a read behind a lock in the same round trip, and the read sees what the previous holder of the lock committed', async () => {
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(42)');
      await holder.query("INSERT INTO tx_rows (id) VALUES ('committed-by-the-holder')");
      const pending = transactions().write(() =>
        step((executor: PgExecutor) =>
          executePreparedAfter<unknown, { n: number }>(executor, sql`SELECT pg_advisory_xact_lock(${'42'}::bigint)`, sql`SELECT count(*)::int AS n FROM tx_rows`),
        ),
      );
      // The holder commits only once the write waits for the lock, its read already on the wire behind it.
      for (;;) {
        const waiting = await holder.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (waiting.rowCount) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await holder.query('COMMIT');
      const [, rows] = await pending;
      expect(rows).toEqual([{ n: 1 }]);
      expect(calls).toHaveLength(2);
      expect(calls[1]).toBe('COMMIT');
    } finally {
      await holder.end();
    }
  });

  it('close the connection when a statement ahead fails before a named statement was first parsed on it', async () => {
    const read = sql`SELECT count(*)::int AS n FROM tx_rows WHERE id <> 'first use on this connection'`;
    const lockThenRead = (ahead: string) => transactions().write(() => step((executor: PgExecutor) => executePreparedAfter<unknown, { n: number }>(executor, sql`SELECT (${ahead})::int`, read)));
    await expect(lockThenRead('not a number')).rejects.toMatchObject({ code: '22P02' });
    // The read never reached the server: had the connection been pooled again, pg would bind it without a Parse.
    const [, rows] = await lockThenRead('1');
    expect(rows).toEqual([{ n: 0 }]);
    expect(await connectionStatus()).toBe('I');
  });

  it('refuse a statement sent ahead with parameters other than text', async () => {
    await expect(
      transactions().write(() => step((executor: PgExecutor) => executePreparedAfter(executor, sql`SELECT ${42}::int`, sql`SELECT 1`))),
    ).rejects.toThrow('a statement sent ahead takes text parameters only');
    expect(await connectionStatus()).toBe('I');
  });

  it('read in one REPEATABLE READ, READ ONLY snapshot', async () => {
    const isolation = await transactions().read(() =>
      step(async (executor: PgExecutor) => (await executor.execute<{ level: string }>(sql`SELECT current_setting('transaction_isolation') AS level`)).rows[0]!.level),
    );
    expect(isolation).toBe('repeatable read');
    await expect(transactions().read(() => insert('a'))).rejects.toMatchObject({ cause: { code: '25006' } });
    expect(await stored()).toEqual([]);
    expect(await connectionStatus()).toBe('I');
  });

  it('run a work again, in a fresh transaction, after a serialization failure', async () => {
    let attempts = 0;
    await transactions().write(function* () {
      attempts++;
      yield* insert(`try-${attempts}`);
      if (attempts === 1) {
        yield* step(async (executor: PgExecutor) => {
          await executor.execute(sql`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`);
        });
      }
    });
    expect(attempts).toBe(2);
    expect(await stored()).toEqual(['try-2']);
  });
});
