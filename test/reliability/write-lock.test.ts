import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, createLearner, type Actors } from '../helpers/learners.js';

/**
 * A write lock held by another process (a `sqlite3` shell, as an operator's would) must not freeze the server:
 * writes wait for it asynchronously, within SQLITE_BUSY_TIMEOUT_MS, while the event loop keeps answering reads.
 */
let dir: string;
let app: FastifyInstance;
let actors: Actors;
let path: string;
let shell: ChildProcessWithoutNullStreams | undefined;

const budgetMs = 3000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-write-lock-'));
  path = join(dir, 'mnemo.db');
  app = await buildTestApp({
    seed: true,
    config: { databasePath: path, sqlite: { ...testConfig().sqlite, busyTimeoutMs: budgetMs, checkpointIntervalMs: 0 } },
  });
  actors = await createActors(app);
});
afterEach(() => {
  shell?.kill();
  shell = undefined;
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A `sqlite3` shell in its own process that has taken the write lock (BEGIN IMMEDIATE) and keeps it until told. */
async function lockFromShell(): Promise<{ release(): Promise<void>; commit(sql: string): Promise<void> }> {
  const child = spawn('sqlite3', [path], { stdio: ['pipe', 'pipe', 'pipe'] });
  shell = child;
  let output = '';
  const seen = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (output.includes(text)) resolve();
      };
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        check();
      });
      child.once('exit', (code) => reject(new Error(`sqlite3 exited (${code}) before printing ${text}: ${output}`)));
      check();
    });
  const locked = seen('locked');
  child.stdin.write("PRAGMA busy_timeout = 5000;\nPRAGMA foreign_keys = ON;\nBEGIN IMMEDIATE;\nINSERT INTO users (id, external_id, owner, created_at) VALUES ('usr_shell_' || hex(randomblob(4)), 'shell', '', '2024-01-01T00:00:00.000Z');\nSELECT 'locked';\n");
  await locked;
  const finish = async (sql: string) => {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end(sql);
    await exited;
    shell = undefined;
  };
  return {
    release: () => finish('ROLLBACK;\n.quit\n'),
    /** Runs `sql` in the shell's transaction and commits it: a change made while the server's writes waited. */
    commit: (sql: string) => finish(`PRAGMA foreign_keys = ON;\n${sql}\nCOMMIT;\n.quit\n`),
  };
}

/** Lets timers run between requests: `inject` alone settles through microtasks, which would starve them. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const post = (flashcardId: string) =>
  app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(flashcardId) });

describe('a write lock held by another process', () => {
  it('keeps /healthz and content answering while writes wait; the writes go through when the lock is released', async () => {
    const lock = await lockFromShell();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    let settled = 0;
    const writes = actors.deck.slice(0, 3).map((card) => post(card).finally(() => settled++));
    // Half a second of reads (a third of the budget) while the writes wait and retry.
    const until = Date.now() + 500;
    while (Date.now() < until) {
      await turn();
      expect((await app.inject('/healthz')).statusCode).toBe(200);
      expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
      expect((await app.inject({ url: '/v1/me/answers?limit=5', headers: actors.learner.headers })).statusCode).toBe(200);
    }
    // Reads were answered while all three writes were still waiting for the lock.
    expect(settled).toBe(0);
    await lock.release();
    const responses = await Promise.all(writes);
    delay.disable();
    expect(responses.map((response) => response.statusCode)).toEqual([201, 201, 201]);
    // Before, each waiting write slept inside SQLite on the event loop for up to the whole budget.
    expect(delay.max / 1e6).toBeLessThan(budgetMs / 3);
  });

  it('a write still waiting when the budget is spent gets 503 problem+json with Retry-After, and reads never stall', async () => {
    const lock = await lockFromShell();
    try {
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      let settled = false;
      const write = post(actors.deck[3]!).finally(() => (settled = true));
      let reads = 0;
      while (!settled) {
        await turn();
        expect((await app.inject('/healthz')).statusCode).toBe(200);
        reads++;
      }
      delay.disable();
      const response = await write;
      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers['retry-after']).toBeDefined();
      expect(response.json().code).toBe('MNEMO_SERVICE_UNAVAILABLE');
      expect(reads).toBeGreaterThan(10);
      expect(delay.max / 1e6).toBeLessThan(budgetMs / 3);
    } finally {
      await lock.release();
    }
    expect((await post(actors.deck[3]!)).statusCode).toBe(201);
  });

  it('admin writes (keys, learners, archive) wait the same way', async () => {
    const lock = await lockFromShell();
    let settled = 0;
    const writes = [
      app.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'waiting' } }),
      app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'waiting-learner' } }),
    ].map((write) => write.finally(() => settled++));
    for (let round = 0; round < 20; round++) {
      await turn();
      expect((await app.inject('/healthz')).statusCode).toBe(200);
    }
    expect(settled).toBe(0);
    await lock.release();
    expect((await Promise.all(writes)).map((response) => response.statusCode)).toEqual([201, 201]);
  });
});

describe('checks made before a write waited', () => {
  it('a learner erased while their answer and a new key waited for the lock: 404, never a 500', async () => {
    const doomed = await createLearner(app, actors.integration, `doomed-${Date.now()}`);
    const lock = await lockFromShell();
    const answered = app.inject({ method: 'POST', url: '/v1/me/answers', headers: doomed.headers, payload: answer(actors.deck[0]!) });
    const keyed = app.inject({ method: 'POST', url: `/v1/users/${doomed.userId}/keys`, headers: actors.integration, payload: { name: 'late' } });
    for (let round = 0; round < 10; round++) await turn();
    // Both requests passed their checks and now wait for the lock; the other process erases the learner.
    await lock.commit(`DELETE FROM users WHERE id = '${doomed.userId}';`);
    const [answerResponse, keyResponse] = await Promise.all([answered, keyed]);
    expect([answerResponse.statusCode, answerResponse.json().code], answerResponse.body + keyResponse.body).toEqual([404, 'MNEMO_LEARNING_USER_NOT_FOUND']);
    expect([keyResponse.statusCode, keyResponse.json().code]).toEqual([404, 'MNEMO_LEARNING_USER_NOT_FOUND']);
    expect(app.database.sqlite.prepare('SELECT count(*) AS n FROM api_keys WHERE user_id = ?').get(doomed.userId)).toEqual({ n: 0 });
  });

  it('at most 64 write transactions wait for the lock at once; more are refused at once with 503', async () => {
    const lock = await lockFromShell();
    const settled: number[] = [];
    // Each learner created is a write transaction of its own.
    const writes = Array.from({ length: 70 }, (_, index) =>
      app
        .inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: `waiting-${index}-${Date.now()}` } })
        .then((response) => (settled.push(response.statusCode), response)),
    );
    while (settled.length < 6) await turn();
    // The six beyond the bound were answered while the lock was still held, and with a 503.
    expect(settled).toEqual([503, 503, 503, 503, 503, 503]);
    await lock.release();
    const statuses = (await Promise.all(writes)).map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 201)).toHaveLength(64);
  });

  it("many learners' answers wait for the lock as one transaction, and all commit once it is released", async () => {
    const learners = await Promise.all(Array.from({ length: 20 }, (_, index) => createLearner(app, actors.integration, `grouped-${index}-${Date.now()}`)));
    const lock = await lockFromShell();
    let settled = 0;
    const writes = learners.map((learner) =>
      app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: answer(actors.deck[0]!) }).then((response) => (settled++, response)),
    );
    for (let round = 0; round < 20; round++) await turn();
    expect(settled).toBe(0);
    await lock.release();
    expect((await Promise.all(writes)).map((response) => response.statusCode)).toEqual(learners.map(() => 201));
  });
});

describe('a full disk', () => {
  it('turns /readyz to 503 while writes fail for lack of space, and back once a write succeeds', async () => {
    const sqlite = app.database.sqlite;
    const pages = sqlite.pragma('page_count', { simple: true }) as number;
    // The database may not grow: the next write that needs a page fails as on a full disk (SQLITE_FULL).
    sqlite.pragma(`max_page_count = ${pages}`);
    try {
      let status = 201;
      for (let attempt = 0; attempt < 2000 && status !== 503; attempt++) {
        const response = await app.inject({
          method: 'POST',
          url: '/v1/me/answers/batch',
          headers: actors.learner.headers,
          payload: { answers: actors.deck.map((card) => answer(card, { response: 'x'.repeat(2000) })) },
        });
        status = response.statusCode;
      }
      expect(status).toBe(503);
      const ready = await app.inject('/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks).toEqual({ database: true, migrations: true, storage: false });
      expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
    } finally {
      sqlite.pragma('max_page_count = 4294967294');
    }
    expect((await post(actors.deck[4]!)).statusCode).toBe(201);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });
});
