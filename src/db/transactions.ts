import type Database from 'better-sqlite3';
import { AppError } from '../errors.js';
import type { Db } from './client.js';
import { diskProblem } from './disk-space.js';
import { fileIdentityOf } from './file-identity.js';
import { storageHealthOf } from './storage-health.js';
import { committed, newWorkContext, runNow, type Transactions, type WorkContext } from './work.js';

/**
 * A callback's result that is not a promise. Transactions here are synchronous (one connection, better-sqlite3):
 * an async callback would have its transaction committed at its first `await`, with the rest of its work outside
 * it. Typing the callback with this makes that a compile error; better-sqlite3 also refuses it at run time.
 */
export type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/** The work a transaction runs: synchronous, returning anything but a promise. */
export type TransactionWork<T> = () => NotPromise<T>;

/**
 * Runs `work` in one deferred transaction: its reads see one consistent snapshot, and it never takes the write
 * lock (in WAL mode it does not wait for writers, nor they for it). For reads that must not mix two versions.
 */
export function readSnapshot<T>(db: Db, work: TransactionWork<T>): T {
  return db.transaction(() => work(), { behavior: 'deferred' }) as T;
}

interface WriteLock {
  /** How long a write may wait for another process's write lock before it is refused (SQLITE_BUSY_TIMEOUT_MS). */
  budgetMs: number;
  noWait: Database.Statement;
  restore: Database.Statement;
}

const writeLocks = new WeakMap<Database.Database, WriteLock>();

/**
 * Writes waiting for another process's lock at once, per connection. Each holds its parsed request (a batch can
 * be a few hundred KB); beyond this many, a write that finds the lock taken is refused at once (503 busy).
 */
const maxWaitingWrites = 64;
const waitingWrites = new WeakMap<Database.Database, number>();

/**
 * Sets how long writes on this connection wait for the write lock. The connection keeps a short `busy_timeout`
 * for reads (SQLite's busy handler sleeps on the calling thread, which here is the event loop); a write tries for
 * the lock without waiting and, while another process holds it, tries again after an asynchronous pause.
 */
export function configureWriteLock(sqlite: Database.Database, options: { budgetMs: number; readBusyTimeoutMs: number }): void {
  sqlite.pragma(`busy_timeout = ${options.readBusyTimeoutMs}`);
  writeLocks.set(sqlite, {
    budgetMs: options.budgetMs,
    noWait: sqlite.prepare('PRAGMA busy_timeout = 0'),
    restore: sqlite.prepare(`PRAGMA busy_timeout = ${options.readBusyTimeoutMs}`),
  });
}

const isBusy = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
};
const isStorageFull = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR)/.test(code);
};
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One attempt: `BEGIN IMMEDIATE` without waiting, so that a lock held elsewhere fails at once with SQLITE_BUSY. */
function attemptWrite<T>(db: Db, lock: WriteLock | undefined, work: TransactionWork<T>): T {
  if (!lock) return db.transaction(() => work(), { behavior: 'immediate' }) as T;
  lock.noWait.run();
  let begun = false;
  try {
    return db.transaction(
      () => {
        // Inside, the lock is ours: statements never wait on another writer, and reads keep their short timeout.
        begun = true;
        lock.restore.run();
        return work();
      },
      { behavior: 'immediate' },
    ) as T;
  } finally {
    if (!begun) lock.restore.run();
  }
}

/**
 * Runs `work` in one `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two writers queue instead
 * of one failing when it upgrades a read to a write. While another process holds the lock, the attempt is
 * repeated after pauses of up to 50 ms until the connection's budget is spent (then SQLITE_BUSY, a 503): the event
 * loop keeps serving reads meanwhile. Refused at once while storage refuses writes (a replaced database file).
 */
export async function writeTransaction<T>(db: Db, work: TransactionWork<T>): Promise<T> {
  const sqlite = db.$client;
  const storage = storageHealthOf(sqlite);
  const lock = writeLocks.get(sqlite);
  // The files are checked before every write (about 10 us), not only by the watcher's poll: nothing acknowledged
  // may go into a database file that no longer has a name.
  const identity = fileIdentityOf(sqlite);
  const deadline = Date.now() + (lock?.budgetMs ?? 0);
  let counted = false;
  try {
    for (let attempt = 0; ; attempt++) {
      identity?.verify();
      // The cause (which file, what happened) is in the log; a client learns only that writes are refused.
      if (storage.writeRefusal()) throw new AppError('MNEMO_SERVICE_UNAVAILABLE', 'storage refuses writes until the server is restarted; retry on another instance');
      try {
        const result = attemptWrite(db, lock, work);
        storage.set(diskProblem, undefined);
        return result;
      } catch (error) {
        if (isStorageFull(error)) storage.set(diskProblem, { message: 'storage refuses writes (the disk is full or failing)', refuseWrites: false });
        const remaining = deadline - Date.now();
        if (!isBusy(error) || remaining <= 0) throw error;
        if (!counted) {
          const waiting = waitingWrites.get(sqlite) ?? 0;
          if (waiting >= maxWaitingWrites) throw error;
          waitingWrites.set(sqlite, waiting + 1);
          counted = true;
        }
        await pause(Math.min(remaining, 50, 1 + attempt * attempt));
      }
    }
  } finally {
    if (counted) waitingWrites.set(sqlite, (waitingWrites.get(sqlite) ?? 1) - 1);
  }
}

/**
 * SQLite's runner of works (db/work.ts): every statement is synchronous, so `run` executes the work at once, `read`
 * inside one deferred snapshot and `write` inside one `BEGIN IMMEDIATE` transaction, each body one synchronous run.
 */
export function transactionsOf(db: Db): Transactions {
  return {
    run: (work) => settled(() => runThenCommitted((context) => runNow(work, undefined, context))),
    read: (body) => settled(() => runThenCommitted((context) => readSnapshot(db, () => runNow(body(), undefined, context) as NotPromise<unknown>))),
    async write(body) {
      // A fresh context per attempt: effects of an attempt that rolled back are dropped with it.
      let context = newWorkContext();
      const result = await writeTransaction(db, () => {
        context = newWorkContext();
        return runNow(body(), undefined, context) as NotPromise<unknown>;
      });
      committed(context);
      return result;
    },
  } as Transactions;
}

function runThenCommitted<T>(run: (context: WorkContext) => T): T {
  const context = newWorkContext();
  const result = run(context);
  committed(context);
  return result;
}

/** The work's result as a promise, its error as a rejection (never a synchronous throw to an async caller). */
function settled<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error as Error);
  }
}
