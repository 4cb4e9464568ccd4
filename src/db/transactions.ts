import type { Db } from './client.js';

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

/**
 * Runs `work` in one `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two writers queue on
 * `busy_timeout` instead of one failing when it upgrades a read to a write.
 */
export function writeTransaction<T>(db: Db, work: TransactionWork<T>): T {
  return db.transaction(() => work(), { behavior: 'immediate' }) as T;
}

/** What every repository offers its services: a read snapshot and a write transaction on its connection. */
export interface Transactions {
  read<T>(work: TransactionWork<T>): T;
  write<T>(work: TransactionWork<T>): T;
}

export function transactionsOf(db: Db): Transactions {
  return {
    read: (work) => readSnapshot(db, work),
    write: (work) => writeTransaction(db, work),
  };
}
