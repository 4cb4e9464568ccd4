import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { defaultWalBounds } from '../../src/db/checkpointer.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, createLearner, type Learner } from '../helpers/learners.js';

/*
 * The WAL stays bounded on a real file, through the real app and its background checkpointer:
 * - journal_size_limit: once the WAL starts over, its first commit cuts the file back to 4 MiB;
 * - under a sustained write load the checkpointer restarts the WAL (RESTART) and it stays under 16 MiB, where it
 *   used to grow to SQLite's own threshold of 10,000 pages (about 40 MiB) and stay there;
 * - once the writes stop, it is truncated to zero bytes (TRUNCATE) within 10 s.
 * Every measurement is of the files on disk; the figures are printed.
 */

const mebibyte = 1024 * 1024;
const walLimitBytes = 16 * mebibyte;

let dir: string | undefined;
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function fileApp(checkpointIntervalMs = testConfig().sqlite.checkpointIntervalMs): Promise<{ app: FastifyInstance; databasePath: string }> {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-wal-'));
  const databasePath = join(dir, 'wal.db');
  app = await buildTestApp({ seed: true, config: { databasePath, sqlite: { ...testConfig().sqlite, checkpointIntervalMs } } });
  return { app, databasePath };
}

const walSize = (databasePath: string) => (existsSync(`${databasePath}-wal`) ? statSync(`${databasePath}-wal`).size : 0);

/** The WAL header's checkpoint sequence number: SQLite adds one each time the WAL starts over from its beginning. */
function walSequence(databasePath: string): number | undefined {
  const header = Buffer.alloc(16);
  const fd = openSync(`${databasePath}-wal`, 'r');
  try {
    return readSync(fd, header, 0, 16, 0) === 16 ? header.readUInt32BE(12) : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Polls (every 20 ms, at most `timeoutMs`) until `condition` holds; the time it took. */
async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(20);
  }
  return performance.now() - started;
}

interface LoadFigures {
  requests: number;
  answers: number;
  seconds: number;
  /** The WAL's largest size, read after every commit (it only grows inside one). */
  peakBytes: number;
  /** Times the WAL started over from its beginning while the writes went on. */
  restarts: number;
}

/**
 * Sustained writes: `batches` answer batches of 100 (and a single answer after each), one request at a time from a
 * rotation of learners, with the WAL's size read after every response.
 */
async function writeLoad(target: FastifyInstance, databasePath: string, learners: Learner[], deck: string[], batches: number): Promise<LoadFigures> {
  const started = performance.now();
  const figures: LoadFigures = { requests: 0, answers: 0, seconds: 0, peakBytes: 0, restarts: 0 };
  let sequence = walSequence(databasePath);
  const sample = () => {
    figures.peakBytes = Math.max(figures.peakBytes, walSize(databasePath));
    const now = walSequence(databasePath);
    if (now !== undefined && sequence !== undefined && now !== sequence) figures.restarts += (now - sequence + 2 ** 32) % 2 ** 32;
    sequence = now ?? sequence;
  };
  for (let batch = 0; batch < batches; batch++) {
    const learner = learners[batch % learners.length]!;
    const answers = Array.from({ length: 100 }, (_, index) => answer(deck[(batch + index) % deck.length]!, { response: `answer ${batch}-${index} ${'x'.repeat(40)}` }));
    const response = await target.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: learner.headers, payload: { answers } });
    expect(response.statusCode, response.body).toBe(200);
    sample();
    const single = await target.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: answer(deck[batch % deck.length]!) });
    expect(single.statusCode, single.body).toBe(201);
    sample();
    figures.requests += 2;
    figures.answers += 101;
  }
  figures.seconds = (performance.now() - started) / 1000;
  return figures;
}

const mib = (bytes: number) => `${(bytes / mebibyte).toFixed(2)} MiB`;

describe('WAL bounds on a real file', () => {
  it('stays under 16 MiB under a sustained write load (restarted as it goes) and is truncated to zero bytes within 10 s of the writes stopping', async () => {
    const { app, databasePath } = await fileApp();
    const { sqlite } = app.database;
    // The main connection: journal_size_limit, and the automatic checkpoint as a backstop only, above the worker's
    // restart threshold (it fires when the worker falls behind) and below the bound.
    expect(sqlite.pragma('journal_size_limit', { simple: true })).toBe(defaultWalBounds.journalSizeLimitBytes);
    const backstopBytes = (sqlite.pragma('wal_autocheckpoint', { simple: true }) as number) * ((sqlite.pragma('page_size', { simple: true }) as number) + 24);
    expect(backstopBytes).toBeGreaterThan(defaultWalBounds.restartBytes);
    expect(backstopBytes).toBeLessThanOrEqual(walLimitBytes - 2 * mebibyte);
    const actors = await createActors(app);
    const learners = [actors.learner, ...(await Promise.all(Array.from({ length: 7 }, (_, index) => createLearner(app, actors.integration, `wal-${index}`))))];

    // 240 batches write about 80 MiB of WAL frames (five times the bound, twice what the WAL reached before it
    // was bounded); 3,030 answers per learner, 606 per card of the seed's five (the limit is 1,000).
    const load = await writeLoad(app, databasePath, learners, actors.deck, 240);
    const stoppedAt = performance.now();
    const sizeAtStop = walSize(databasePath);
    console.log(
      `wal-bounds: ${load.requests} requests (${load.answers} answers) in ${load.seconds.toFixed(1)} s; WAL peak ${mib(load.peakBytes)}, ` +
        `${load.restarts} restarts under load, ${mib(sizeAtStop)} when the writes stopped`,
    );
    expect(load.peakBytes).toBeLessThan(walLimitBytes);
    // The WAL started over several times while the writes went on: bounded by the checkpointer, not by the end of the load.
    expect(load.restarts).toBeGreaterThanOrEqual(2);

    const truncatedAfterMs = await waitUntil(() => walSize(databasePath) < mebibyte, 10_000);
    console.log(`wal-bounds: the WAL was ${mib(walSize(databasePath))} ${(truncatedAfterMs / 1000).toFixed(2)} s after the writes stopped`);
    // Truncated (zero bytes), not merely restarted and cut back to journal_size_limit.
    expect(walSize(databasePath)).toBe(0);
    expect(performance.now() - stoppedAt).toBeLessThan(10_000);
    // Every answer is there: the checkpoints lost nothing.
    const stored = app.database.sqlite.prepare('SELECT count(*) AS n FROM answers').get() as { n: number };
    expect(stored.n).toBe(load.answers);
  }, 60_000);

  it('journal_size_limit: once the WAL starts over, its first commit cuts the file back to 4 MiB', async () => {
    // No background checkpointer: SQLite's automatic checkpoint (1000 pages) alone, so the cut is journal_size_limit's.
    const { app, databasePath } = await fileApp(0);
    const { sqlite } = app.database;
    expect(sqlite.pragma('journal_size_limit', { simple: true })).toBe(defaultWalBounds.journalSizeLimitBytes);
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    const actors = await createActors(app);

    // One large transaction grows the WAL well past the limit: a page (about 4 KiB of WAL) per row.
    sqlite.exec('CREATE TABLE wal_bounds_scratch (payload BLOB)');
    const insert = sqlite.prepare('INSERT INTO wal_bounds_scratch VALUES (randomblob(3000))');
    sqlite.transaction(() => {
      for (let row = 0; row < 2500; row++) insert.run();
    })();
    const grown = walSize(databasePath);
    expect(grown).toBeGreaterThan(2 * defaultWalBounds.journalSizeLimitBytes);
    // Its commit crossed the automatic checkpoint's threshold, which copied every frame: the next writer starts
    // the WAL over, and its commit cuts the file back.
    const sequence = walSequence(databasePath);
    const response = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    expect(response.statusCode).toBe(201);
    expect(walSequence(databasePath)).not.toBe(sequence);
    const cut = walSize(databasePath);
    console.log(`wal-bounds: journal_size_limit cut the WAL from ${mib(grown)} to ${mib(cut)}`);
    expect(cut).toBeLessThanOrEqual(defaultWalBounds.journalSizeLimitBytes);
    expect(cut).toBeGreaterThan(0);
  });
});
