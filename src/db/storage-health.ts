import type Database from 'better-sqlite3';

/** One reason storage is not fit for service, reported by whoever noticed it (a failed write, a file check). */
export interface StorageProblem {
  /** Said in the log and in the 503 a refused write gets; names the cause, never a path's contents. */
  message: string;
  /** Writes are refused before they start (a database file that no longer has a name must not be written). */
  refuseWrites: boolean;
}

/**
 * What storage is refusing, per connection: `/readyz` answers 503 while any problem stands, and a write
 * transaction is refused with 503 while a problem that refuses writes stands. Each source sets and clears its own
 * named problem, so a disk that has space again does not clear a replaced file.
 */
export interface StorageHealth {
  set(source: string, problem: StorageProblem | undefined): void;
  has(source: string): boolean;
  /** The problems standing now, for readiness and logs. */
  problems(): StorageProblem[];
  /** The message of the first problem that refuses writes, if any. */
  writeRefusal(): string | undefined;
}

export function createStorageHealth(): StorageHealth {
  const standing = new Map<string, StorageProblem>();
  let refusal: string | undefined;
  return {
    set(source, problem) {
      if (!problem && !standing.has(source)) return;
      if (problem) standing.set(source, problem);
      else standing.delete(source);
      refusal = [...standing.values()].find((entry) => entry.refuseWrites)?.message;
    },
    has: (source) => standing.has(source),
    problems: () => [...standing.values()],
    writeRefusal: () => refusal,
  };
}

const healthByConnection = new WeakMap<Database.Database, StorageHealth>();

/** The storage health of a connection (created on first use), shared by its transactions and its readiness. */
export function storageHealthOf(sqlite: Database.Database): StorageHealth {
  let health = healthByConnection.get(sqlite);
  if (!health) {
    health = createStorageHealth();
    healthByConnection.set(sqlite, health);
  }
  return health;
}
