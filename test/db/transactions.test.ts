import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { readSnapshot, writeTransaction } from '../../src/db/transactions.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

/**
 * Reads run in a deferred snapshot and never take the write lock; writes take it up front (BEGIN IMMEDIATE). Both
 * take a synchronous callback: an async one is a compile error (checked by tsc, which covers test files) and is
 * refused at run time.
 */
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-transactions-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A second connection on the same file that holds the write lock, as another process's writer would. */
function holdWriteLock(path: string): { release(): void } {
  const holder = new Database(path);
  holder.pragma('busy_timeout = 0');
  holder.exec('BEGIN IMMEDIATE');
  return {
    release() {
      holder.exec('ROLLBACK');
      holder.close();
    },
  };
}

const isBusy = expect.objectContaining({ code: 'SQLITE_BUSY' });

describe('the transaction primitives', () => {
  let handle: DatabaseHandle;
  let path: string;
  const count = () => (handle.sqlite.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  const insertUser = (sqlite: Database.Database, id: string) =>
    sqlite.prepare("INSERT INTO users (id, external_id, owner, created_at) VALUES (?, ?, '', '2024-01-01T00:00:00.000Z')").run(id, id);

  beforeAll(() => {
    path = join(dir, 'primitives.db');
    handle = openDatabase({ path, synchronous: 'NORMAL', busyTimeoutMs: 50 });
  });
  afterAll(() => handle.close());

  it('are typed so that the callback cannot return a promise, and refuse one at run time', async () => {
    const sync: number = readSnapshot(handle.db, () => 1);
    const written: string = await writeTransaction(handle.db, () => 'done');
    expect([sync, written]).toEqual([1, 'done']);
    // @ts-expect-error an async callback would have its transaction committed at its first await
    expect(() => readSnapshot(handle.db, async () => 1)).toThrow(TypeError);
    // @ts-expect-error a returned promise is refused the same way
    await expect(writeTransaction(handle.db, () => Promise.resolve(1))).rejects.toThrow(TypeError);
  });

  it('a read snapshot does not wait for, nor take, the write lock another connection holds', async () => {
    const lock = holdWriteLock(path);
    try {
      expect(readSnapshot(handle.db, () => handle.sqlite.inTransaction && count())).toBe(0);
      await expect(writeTransaction(handle.db, () => count())).rejects.toThrow(isBusy);
    } finally {
      lock.release();
    }
    expect(await writeTransaction(handle.db, () => count())).toBe(0);
  });

  it('a read snapshot sees one state of the database, whatever commits meanwhile', () => {
    const other = new Database(path);
    try {
      const seen = readSnapshot(handle.db, () => {
        const before = count();
        insertUser(other, 'usr_committed_meanwhile');
        return [before, count()];
      });
      expect(seen).toEqual([seen[0], seen[0]]);
      expect(count()).toBe(seen[0]! + 1);
    } finally {
      other.close();
    }
  });
});

describe('reads through the services while another process writes', () => {
  let app: FastifyInstance;
  let actors: Actors;
  let path: string;
  let lock: { release(): void } | undefined;

  beforeAll(async () => {
    path = join(dir, 'app.db');
    app = await buildTestApp({
      seed: true,
      config: { databasePath: path, sqlite: { ...testConfig().sqlite, busyTimeoutMs: 100, checkpointIntervalMs: 0 } },
    });
    actors = await createActors(app);
    // Imported, never read: its first read misses the content cache and goes to the database.
    await app.content.importModule(JSON.stringify(generatedModule('snapshot', 2)), 'json', { importedBy: 'test' });
    const answered = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    expect(answered.statusCode).toBe(201);
  });
  afterEach(() => {
    lock?.release();
    lock = undefined;
  });
  afterAll(() => app.close());

  it('a module read (content snapshot) and a learner export answer while the write lock is held elsewhere', async () => {
    lock = holdWriteLock(path);
    const module = await app.inject({ url: '/v1/modules/snapshot' });
    expect(module.statusCode).toBe(200);
    expect(module.json().flashcards).toHaveLength(2);
    const exported = await app.inject({ url: `/v1/users/${actors.learner.userId}/export`, headers: actors.admin });
    expect(exported.statusCode).toBe(200);
    expect(exported.json().answers).toHaveLength(1);
    // The lock is real: a write through the same services waits for it and gives up after busy_timeout.
    await expect(app.content.archiveModule('snapshot')).rejects.toThrow(isBusy);
  });

  it('writes go through once the other writer is done', async () => {
    expect((await app.content.archiveModule('snapshot')).archived).toBe(true);
  });
});
