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
 * largest size. Before these bounds it grew to SQLite's automatic checkpoint (10,000 pages here, about 40 MiB) and
 * stayed there. So, besides the PASSIVE pass every `intervalMs`:
 *
 * - `journal_size_limit` (main connection and worker): when the WAL restarts, its first commit cuts the file back
 *   to `journalSizeLimitBytes`.
 * - Under load: the worker looks at the file's size every `pollMs`; past `restartBytes` it runs a PASSIVE pass
 *   (the bulk of the copying, blocking no one) and then a RESTART checkpoint, which holds the write lock only to
 *   copy the last few frames and to wait for readers of old frames, so that the next writer starts the WAL
 *   over (and cuts it back to the limit).
 * - When writers pause (no commit by any connection for a whole interval, `PRAGMA data_version`): a TRUNCATE
 *   checkpoint leaves a zero-byte WAL.
 * - RESTART and TRUNCATE wait at most `exclusiveBusyMs` for the write lock and for readers (they never sleep on
 *   the event loop: they run in the worker; writes wait for a lock they hold asynchronously, db/transactions.ts).
 *   Busy, the worker stands back for a poll, then longer after each further failure, up to an interval.
 * - Backstop: the main connection's automatic checkpoint at `autocheckpointBytes` (in pages). It fires when the
 *   worker falls behind: when writers hold the write lock nearly all the time (the worker's RESTART cannot get
 *   it, but the writer's own checkpoint needs no lock it does not hold), or the worker has failed. It copies what
 *   the worker has not, inside a commit, and the next write starts the WAL over.
 *
 * Durability is unchanged: commits are durable in the WAL either way.
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
  /** How long a RESTART or TRUNCATE checkpoint waits for the write lock and for readers before giving up. */
  exclusiveBusyMs: number;
}

const mebibyte = 1024 * 1024;

/**
 * Chosen to keep the WAL under 16 MiB while writes go on and to let it drop to zero bytes once they stop. Answer
 * batches wrote 15-20 MiB/s of WAL on the 2-core VM, and a checkpoint there took up to 0.4 s (an fsync behind
 * other disk traffic), during which no other checkpoint can run: the restart threshold (equal to the limit, so
 * the file is cut back at every restart) and the backstop leave room for that much growth below 16 MiB.
 */
export const defaultWalBounds: Readonly<WalBounds> = {
  journalSizeLimitBytes: 4 * mebibyte,
  restartBytes: 4 * mebibyte,
  autocheckpointBytes: 8 * mebibyte,
  pollMs: 25,
  exclusiveBusyMs: 25,
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
// Only RESTART and TRUNCATE wait; PASSIVE never does.
db.pragma('busy_timeout = ' + bounds.exclusiveBusyMs);
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
 * A RESTART or TRUNCATE checkpoint. Busy (the write lock stayed taken, or a reader did not let go in time), the
 * worker stands back for a poll, then twice as long after each further failure, up to an interval: no early
 * passes, so that the main connection's automatic checkpoint (which needs no lock a writer holds) is not kept
 * out by this one's, and a reader that stays (a backup in another process) costs writers at most
 * exclusiveBusyMs per interval.
 */
const exclusive = (mode) => {
  const result = checkpoint(mode);
  if (result.busy) {
    failures++;
    standBackUntil = Date.now() + Math.min(intervalMs, pollMs * 2 ** (failures - 1));
  } else {
    failures = 0;
  }
  return result;
};

const pass = () => {
  const now = Date.now();
  const size = walSize();
  const due = now >= nextPassAt;
  const standingBack = now < standBackUntil;
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
    if (standingBack) return;
    if (quiet) {
      exclusive('TRUNCATE');
    } else if (log * frameBytes > bounds.restartBytes && log !== restartedAt) {
      // What was committed during a long pass is copied by a second one, which blocks no one, rather than by the
      // RESTART, which holds the write lock while it copies.
      if (performance.now() - started > 5) checkpoint('PASSIVE');
      const result = exclusive('RESTART');
      if (!result.busy) restartedAt = result.log;
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
