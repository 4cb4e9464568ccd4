import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/**
 * WAL checkpoints on a second connection in a worker thread, and the bounds that keep the WAL file small.
 *
 * SQLite's automatic checkpoint runs inside whichever commit crosses the threshold and, with synchronous=NORMAL,
 * fsyncs the WAL and the database there: the benchmark measured it at more than half the cost of a single-answer
 * request. Checkpoints therefore run off the event loop. A PASSIVE checkpoint copies committed pages without
 * blocking readers or writers, but on its own it never makes the WAL smaller: the file is only written from its
 * start again when a writer begins while every frame has been copied and no reader uses one, which under steady
 * writes hardly ever happens (new frames arrive while the checkpoint copies), and even then the file keeps its
 * largest size. Before these bounds it grew to the main connection's automatic checkpoint (10,000 pages, about
 * 40 MiB) and stayed there. So, besides a PASSIVE pass every `intervalMs`:
 *
 * - `journal_size_limit` (main connection and worker): when the WAL starts over, its first commit cuts the file
 *   back to `journalSizeLimitBytes`.
 * - Under load: the worker reads the file's size every `pollMs`; once the WAL holds more than `restartBytes` it
 *   runs a PASSIVE pass (the bulk of the copying, blocking no one), a second one when the first was long, then a
 *   RESTART checkpoint, which holds the write lock only to copy the last few frames and to see that no reader is
 *   on old frames, so that the next writer starts the WAL over. The RESTART does not wait for a taken write lock
 *   (`restartBusyMs`): it is tried again at the next poll, and after a few failures in a row the worker stands
 *   back, twice as long each time, up to an interval.
 * - When writers pause (no commit by any connection for a whole interval, `PRAGMA data_version`): a TRUNCATE
 *   checkpoint leaves a zero-byte WAL; busy (a reader in another process), it is tried again an interval later.
 * - Backstop: the main connection's automatic checkpoint at `autocheckpointBytes` (in pages). It fires when the
 *   worker falls behind: when writers hold the write lock nearly all the time (the writer's own checkpoint needs
 *   no lock it does not hold), or the worker has failed. It copies what the worker has not, inside a commit, and
 *   the next write starts the WAL over. Past it the worker starts no pass of its own, which would keep that
 *   checkpoint out (SQLite runs one checkpoint at a time).
 * - Nothing here sleeps on the event loop: RESTART and TRUNCATE wait in the worker, and writes wait for a write
 *   lock they hold asynchronously (db/transactions.ts).
 *
 * What it cannot bound: one transaction's frames (the WAL holds a whole transaction before its commit), frames a
 * reader in another process still needs (a long backup), and what writers add while a checkpoint is slowed by the
 * disk (no other checkpoint can run meanwhile). Durability is unchanged: commits are durable in the WAL either way.
 */
export interface Checkpointer {
  stop(): Promise<void>;
}

export interface WalBounds {
  /** `journal_size_limit`: the size a restarted WAL is cut back to at its first commit. */
  journalSizeLimitBytes: number;
  /** A WAL that holds more than this (in frames since it last started over) is checkpointed and restarted at once. */
  restartBytes: number;
  /** The main connection's automatic checkpoint threshold (a backstop), converted to pages of this database. */
  autocheckpointBytes: number;
  /** How often the worker looks at the WAL's size. */
  pollMs: number;
  /** How long a RESTART checkpoint (under load) waits for the write lock and for readers before giving up. */
  restartBusyMs: number;
  /** How long a TRUNCATE checkpoint (writers have paused) waits for readers before giving up. */
  truncateBusyMs: number;
}

const mebibyte = 1024 * 1024;

/**
 * Chosen to keep the WAL under 16 MiB while writes go on, with room for what the benchmark's writers add while a
 * checkpoint runs (up to 40 MiB/s of WAL on the 2-core VM, 2 MiB per batch of 100 answers; a checkpoint takes
 * 10-60 ms there, more behind other disk traffic), and to let it drop to zero bytes once they stop. The restart
 * threshold equals the limit, so the file is cut back at every restart.
 */
export const defaultWalBounds: Readonly<WalBounds> = {
  journalSizeLimitBytes: 4 * mebibyte,
  restartBytes: 4 * mebibyte,
  autocheckpointBytes: 8 * mebibyte,
  pollMs: 25,
  restartBusyMs: 2,
  truncateBusyMs: 25,
};

/**
 * The main connection's share: `journal_size_limit`, and, when the background checkpointer runs, the automatic
 * checkpoint raised from SQLite's 1000 pages to the backstop (without it, SQLite's own threshold stays).
 */
export function configureWal(sqlite: Database.Database, options: { backgroundCheckpoints: boolean; bounds?: WalBounds }): void {
  const bounds = options.bounds ?? defaultWalBounds;
  sqlite.pragma(`journal_size_limit = ${bounds.journalSizeLimitBytes}`);
  if (options.backgroundCheckpoints) {
    const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
    // A WAL frame is a page and a 24-byte header.
    sqlite.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(bounds.autocheckpointBytes / (pageSize + 24)))}`);
  }
}

const workerSource = `
const { realpathSync, statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { path, intervalMs, bounds } = workerData;
const db = new Database(path, { fileMustExist: true });
db.pragma('journal_size_limit = ' + bounds.journalSizeLimitBytes);
const dataVersion = db.prepare('PRAGMA data_version').pluck();
// A WAL frame is a page and a 24-byte header.
const frameBytes = db.pragma('page_size', { simple: true }) + 24;
// SQLite names the WAL after the database file with symbolic links resolved.
let walPath = path + '-wal';
try {
  walPath = realpathSync(path) + '-wal';
} catch {}
/** The WAL file's size; -1 when it cannot be read (the regular passes go on regardless). */
const walSize = () => {
  try {
    return statSync(walPath).size;
  } catch {
    return -1;
  }
};
const checkpoint = (mode) => db.pragma('wal_checkpoint(' + mode + ')')[0];
/** PASSIVE never waits; RESTART and TRUNCATE wait this long for the write lock and for readers. */
const exclusive = (mode, busyMs) => {
  db.pragma('busy_timeout = ' + busyMs);
  return checkpoint(mode);
};

let lastError;
const report = (error) => {
  const message = String((error && error.message) || error);
  if (message !== lastError) parentPort.postMessage({ error: message });
  lastError = message;
};

const pollMs = Math.min(intervalMs, bounds.pollMs);
let nextPassAt = Date.now() + intervalMs;
let lastVersion;
// The WAL's frame count when a RESTART last succeeded: until a writer starts the WAL over there is nothing to add.
let restartedAt;
let failures = 0;
let standBackUntil = 0;

/**
 * Under load. A RESTART that finds the write lock taken gives up at once (writers hold it most of the time under
 * load, and a checkpoint waiting for it would keep the main connection's own checkpoint out) and is tried again
 * at the next poll; after a few failures in a row the worker stands back, twice as long each time up to an
 * interval, and leaves the WAL to the backstop: a reader that stays (a backup in another process) then costs
 * writers little.
 */
const restart = () => {
  const result = exclusive('RESTART', bounds.restartBusyMs);
  if (!result.busy) {
    failures = 0;
    restartedAt = result.log;
  } else if (++failures >= 4) {
    standBackUntil = Date.now() + Math.min(intervalMs, pollMs * 2 ** (failures - 4));
  }
};

const pass = () => {
  const now = Date.now();
  const size = walSize();
  const due = now >= nextPassAt;
  // Past the backstop the main connection checkpoints at its next commit: a pass here would only keep it out.
  const standingBack = now < standBackUntil || size > bounds.autocheckpointBytes;
  if (!due && (standingBack || size <= bounds.restartBytes)) return;
  try {
    let quiet = false;
    if (due) {
      nextPassAt = now + intervalMs;
      const version = dataVersion.get();
      // No connection committed since the last pass: the writers have paused.
      quiet = version === lastVersion;
      lastVersion = version;
    }
    if (size === 0) return;
    // log: the frames written since the WAL last started over (the file may be larger: it keeps its size).
    const started = performance.now();
    const { log } = checkpoint('PASSIVE');
    if (quiet) {
      // Busy (a reader in another process), it is tried again at the next pass.
      exclusive('TRUNCATE', bounds.truncateBusyMs);
    } else if (!standingBack && log * frameBytes > bounds.restartBytes && log !== restartedAt) {
      // What was committed during a long pass is copied by a second one, which blocks no one, rather than by the
      // RESTART, which holds the write lock while it copies.
      if (performance.now() - started > 5) checkpoint('PASSIVE');
      restart();
    }
    lastError = undefined;
  } catch (error) {
    report(error);
  }
};
const timer = setInterval(pass, pollMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try {
    checkpoint('PASSIVE');
  } catch (error) {
    report(error);
  }
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(
  path: string,
  intervalMs: number,
  onError: (message: string) => void,
  bounds: WalBounds = defaultWalBounds,
): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(workerSource, { eval: true, workerData: { path, intervalMs, driver, bounds: { ...bounds } } });
  worker.on('message', (message: { error?: string }) => message.error && onError(message.error));
  worker.on('error', (error) => onError(error.message));
  let exited = false;
  worker.once('exit', () => (exited = true));
  worker.unref();
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.once('exit', () => resolve());
        // Kept alive until its last pass ends: an unreferenced worker would let the process exit mid-wait.
        worker.ref();
        worker.postMessage('stop');
      }),
  };
}
