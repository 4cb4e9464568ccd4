import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getTableConfig as pgTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { DatabaseUrlError, openPostgres, postgresMigrationsFolder } from '../../src/db/postgres.js';
import * as pgSchema from '../../src/db/schema-pg.js';
import * as sqliteSchema from '../../src/db/schema.js';
import { databaseFailureOf } from '../../src/db/failures.js';
import { createTestDatabase } from '../helpers/postgres-server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const run = promisify(execFile);
const options = { poolMax: 4, statementTimeoutMs: 30_000, connectTimeoutMs: 5000 };
const journalEntries = (JSON.parse(readFileSync(join(postgresMigrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

describe('PostgreSQL connection and migrations', () => {
  it('migrates a fresh database and reports it ready', async () => {
    const database = await createTestDatabase();
    try {
      const handle = await openPostgres({ url: database.url, ...options });
      try {
        expect(await handle.health()).toEqual({ database: true, migrations: true, storage: true });
        const tables = await handle.pool.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
        expect(tables.rows.map((row) => row.name)).toEqual(Object.values(pgSchema).flatMap((table) => (table instanceof PgTable ? [pgTableConfig(table).name] : [])).sort());
        const applied = await handle.pool.query<{ n: string }>('SELECT count(*) AS n FROM drizzle.__drizzle_migrations');
        expect(Number(applied.rows[0]!.n)).toBe(journalEntries);
      } finally {
        await handle.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('two instances starting together apply the migrations once, and both start', async () => {
    const database = await createTestDatabase();
    try {
      const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
      const script = join(process.cwd(), 'test', 'fixtures', 'migrate-postgres.ts');
      const results = await Promise.all([run(tsx, [script, database.url]), run(tsx, [script, database.url])]);
      expect(results.map((result) => result.stdout.trim())).toEqual(['migrated', 'migrated']);
      const handle = await openPostgres({ url: database.url, ...options, migrate: false });
      try {
        const applied = await handle.pool.query<{ n: string }>('SELECT count(*) AS n FROM drizzle.__drizzle_migrations');
        expect(Number(applied.rows[0]!.n)).toBe(journalEntries);
        expect(await handle.health()).toMatchObject({ migrations: true });
      } finally {
        await handle.close();
      }
    } finally {
      await database.drop();
    }
  });

  it('an unreachable database stops startup with a message naming DATABASE_URL and never the password', async () => {
    const attempt = openPostgres({ url: 'postgres://mnemo:s3cret-pass@127.0.0.1:1/mnemo', ...options, connectTimeoutMs: 2000 });
    await expect(attempt).rejects.toBeInstanceOf(DatabaseUrlError);
    const error = (await attempt.catch((caught: unknown) => caught)) as Error;
    expect(error.message).toMatch(/^DATABASE_URL=postgres:\/\/mnemo:\*\*\*@127\.0\.0\.1:1\/mnemo: /);
    expect(error.message).not.toContain('s3cret-pass');
  });

  it('recovers when its connections are cut, and reports not ready while the database is gone', async () => {
    const database = await createTestDatabase();
    let idleErrors = 0;
    let onCut = () => {};
    const cut = new Promise<void>((resolve) => (onCut = resolve));
    const handle = await openPostgres({ url: database.url, ...options }, () => {
      idleErrors++;
      onCut();
    });
    try {
      expect((await handle.health()).database).toBe(true);
      // The server ends the pool's idle connection, as a restart or failover would.
      const admin = await openPostgres({ url: database.url, ...options, migrate: false });
      await admin.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      await admin.close();
      await cut;
      // The pool's idle connection, and readiness's own.
      expect(idleErrors).toBeGreaterThanOrEqual(1);
      expect(await handle.health()).toEqual({ database: true, migrations: true, storage: true });
      await database.drop();
      expect(await handle.health()).toEqual({ database: false, migrations: false, storage: false });
    } finally {
      await handle.close();
    }
  });
});

describe('PostgreSQL over a dead network path', () => {
  it('gives up on a query that gets no answer at all, as unavailable, and uses a fresh connection after', async () => {
    const database = await createTestDatabase();
    const proxy = await startTcpProxy(database.url, 5432);
    try {
      const handle = await openPostgres({ url: proxy.url, ...options, poolMax: 1, statementTimeoutMs: 300 });
      try {
        expect((await handle.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        // No error, no end: packets stop. The server's statement_timeout cannot help; the client's limit must.
        proxy.hang();
        const failure = await handle.pool.query('SELECT 2').catch((error: unknown) => error);
        expect(databaseFailureOf(failure)).toBe('unavailable');
        proxy.resume();
        // The timed-out connection was dropped, not handed to the next query.
        expect((await handle.pool.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
      } finally {
        await handle.close();
      }
    } finally {
      await proxy.close();
      await database.drop();
    }
  });
});

describe('PostgreSQL shutdown', () => {
  it('lets transactions still running and statements waiting for a connection finish before the pool ends', async () => {
    const database = await createTestDatabase();
    try {
      const handle = await openPostgres({ url: database.url, ...options, poolMax: 1 });
      const held = await handle.pool.connect();
      await held.query('BEGIN');
      const waiting = handle.pool.query<{ one: number }>('SELECT 1 AS one');
      let closed = false;
      const closing = handle.close().then(() => (closed = true));
      // The pool's only connection is inside a transaction and a statement waits for it: close() must wait too.
      await held.query('SELECT pg_sleep(0.2)');
      expect(closed).toBe(false);
      await held.query('COMMIT');
      held.release();
      expect((await waiting).rows).toEqual([{ one: 1 }]);
      await closing;
      expect(closed).toBe(true);
    } finally {
      await database.drop();
    }
  });
});

describe('PostgreSQL schema', () => {
  const tablesOf = <T>(schema: Record<string, unknown>, isTable: (value: unknown) => value is T, config: (table: T) => { name: string; columns: { name: string; notNull: boolean; primary: boolean }[] }) =>
    Object.fromEntries(
      Object.values(schema)
        .filter(isTable)
        .map((table) => {
          const { name, columns } = config(table);
          return [name, Object.fromEntries(columns.map((column) => [column.name, { notNull: column.notNull, primary: column.primary }]))];
        }),
    );

  it('has every SQLite table and column, with the same names and nullability (rows copy between engines unchanged)', () => {
    const sqlite = tablesOf(sqliteSchema, (value): value is SQLiteTable => value instanceof SQLiteTable, sqliteTableConfig);
    const pg = tablesOf(pgSchema, (value): value is PgTable => value instanceof PgTable, pgTableConfig);
    // SQLite's full-text index is an FTS5 virtual table outside Drizzle's schema; PostgreSQL's is a plain table.
    const { search_index: searchIndex, ...pgShared } = pg;
    expect(searchIndex).toBeDefined();
    expect(pgShared).toEqual(sqlite);
  });
});
