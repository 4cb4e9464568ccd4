import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openPostgres, type PostgresHandle } from '../../src/db/postgres.js';
import { listenForCommits, type CommitListener } from '../../src/db/postgres-commits.js';
import { runAwaiting } from '../../src/db/work.js';
import { useTestDatabase } from '../helpers/postgres-server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const database = useTestDatabase();
let handle: PostgresHandle;
let listener: CommitListener;

beforeAll(async () => {
  handle = await openPostgres({ url: database.url, poolMax: 2, statementTimeoutMs: 10_000, connectTimeoutMs: 5000 });
  listener = listenForCommits(database.url);
  await listener.ready();
});
afterAll(async () => {
  await listener.close();
  await handle.close();
});

const insertUser = (id: string) => handle.pool.query(`INSERT INTO users (id, external_id, owner, created_at) VALUES ($1, $1, '', '2026-01-01T00:00:00.000Z')`, [id]);

describe('commit notifications', () => {
  it("moves a source's version when another connection commits to one of its tables, and only then", async () => {
    const users = listener.sourceFor(['users'], () => false);
    const keys = listener.sourceFor(['api_keys'], () => false);
    const before = { users: users.version(), keys: keys.version() };
    await insertUser('u1');
    await vi.waitUntil(() => users.version() !== before.users, { timeout: 5000 });
    expect(keys.version()).toBe(before.keys);
  });

  it('does not notify for a transaction that rolls back', async () => {
    const users = listener.sourceFor(['users'], () => false);
    const client = await handle.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO users (id, external_id, owner, created_at) VALUES ('u2', 'u2', '', 'x')`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const before = users.version();
    // A committed write after the rolled-back one: its notification arriving proves the earlier one would have too.
    await handle.pool.query(`INSERT INTO api_keys (id, name, role, token_hash, created_at) VALUES ('k1', 'k', 'admin', 'h1', 'x')`);
    const keys = listener.sourceFor(['api_keys'], () => false);
    const keysBefore = keys.version();
    await handle.pool.query(`UPDATE api_keys SET name = 'k2' WHERE id = 'k1'`);
    await vi.waitUntil(() => keys.version() !== keysBefore, { timeout: 5000 });
    expect(users.version()).toBe(before);
  });

  it('reports a new version on every call while its connection is down, and listens again after', async () => {
    const users = listener.sourceFor(['users'], () => false);
    await handle.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mnemo-listener' AND datname = current_database()`);
    await vi.waitUntil(() => users.version() !== users.version(), { timeout: 5000 });
    await listener.ready();
    const settled = users.version();
    expect(users.version()).toBe(settled);
    await insertUser('u3');
    await vi.waitUntil(() => users.version() !== settled, { timeout: 5000 });
  });

  it('knows a transaction from the pool by the executor a statement runs on', async () => {
    const source = listener.sourceFor(['users'], (executor) => executor !== handle.db);
    expect(await runAwaiting(source.inTransaction(), handle.db)).toBe(false);
    expect(await handle.db.transaction((tx) => runAwaiting(source.inTransaction(), tx))).toBe(true);
  });

  it('replaces a connection that stops answering without an error (a silently dead socket), and is blind meanwhile', async () => {
    const proxy = await startTcpProxy(database.url, 5432);
    const errors: string[] = [];
    const watched = listenForCommits(proxy.url, (error) => errors.push(error.message), { heartbeatMs: 20, heartbeatTimeoutMs: 200 });
    try {
      await watched.ready();
      const users = watched.sourceFor(['users'], () => false);
      const settled = users.version();
      expect(users.version()).toBe(settled);
      // Packets stop both ways, the sockets stay open: no error, no end, only silence.
      proxy.hang();
      await vi.waitUntil(() => errors.some((message) => message.includes('did not answer')), { timeout: 5000 });
      expect(users.version()).not.toBe(users.version());
      proxy.resume();
      await watched.ready();
      const again = users.version();
      await insertUser('u4');
      await vi.waitUntil(() => users.version() !== again, { timeout: 5000 });
    } finally {
      await watched.close();
      await proxy.close();
    }
  });
});
