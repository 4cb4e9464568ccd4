import { LRUCache } from 'lru-cache';
import type { Db } from './client.js';
import { done, type Work } from './work.js';

const missing = Symbol('missing');

type Client = Db['$client'];
const commitCounters = new WeakMap<Client, () => unknown>();

/**
 * `PRAGMA data_version` of a connection, read at most once per synchronous run: every commit cache of the connection
 * asks it, several times in one request, and each read starts a read transaction (about 2 us). A run of synchronous
 * code is one snapshot either way; the next run (after any await) reads it again.
 */
function commitCounterOf(client: Client): () => unknown {
  let counter = commitCounters.get(client);
  if (!counter) {
    const dataVersion = client.prepare('PRAGMA data_version').pluck();
    let known: unknown;
    let fresh = false;
    const expire = () => {
      fresh = false;
    };
    counter = () => {
      if (!fresh) {
        known = dataVersion.get();
        fresh = true;
        queueMicrotask(expire);
      }
      return known;
    };
    commitCounters.set(client, counter);
  }
  return counter;
}

/** What tells a commit cache that its rows may have changed, on either engine. */
export interface CommitSource {
  /** A value that moves whenever another connection may have committed a change to what the cache holds. */
  version(): unknown;
  /** Whether the work runs inside a transaction, whose reads might still roll back. */
  inTransaction(): Work<boolean>;
}

/** SQLite's: the connection's data_version, and the connection's own transaction state. */
export function sqliteCommitSource(db: Db): CommitSource {
  const version = commitCounterOf(db.$client);
  return { version, inTransaction: () => done(db.$client.inTransaction) };
}

export interface CommitCacheOptions<V> {
  max: number;
  cacheMisses: boolean;
  /** A bound on the approximate total size as well, with each value's size (misses count 1). */
  size?: { max: number; of: (value: V) => number };
  /** At most this many entries per group: the oldest of a group goes first, so one group cannot take the cache. */
  maxPerGroup?: number;
}

/**
 * Rows served from memory between commits. The source's version moves when another connection commits (SQLite's
 * data_version: the CLI, another server; PostgreSQL's notifications: another instance), and the cache is dropped
 * then; this connection's own writes are the owner's to report with `clear()`, or `forget(group)` for the entries of
 * one group (one learner's). Nothing is cached inside a transaction, which might still roll back.
 */
export function createCommitCache<V extends object>(from: Db | CommitSource, options: CommitCacheOptions<V>) {
  const source = 'version' in from ? from : sqliteCommitSource(from);
  // Keys of each group, so that one group's entries can be dropped without walking the whole cache.
  const groups = new Map<string, Set<string>>();
  const groupOf = new Map<string, string>();
  const entries = new LRUCache<string, V | typeof missing>({
    max: options.max,
    ...(options.size && { maxSize: options.size.max, sizeCalculation: (value) => (value === missing ? 1 : Math.max(1, options.size!.of(value))) }),
    dispose: (_value, key) => {
      const group = groupOf.get(key);
      if (group === undefined) return;
      groupOf.delete(key);
      const keys = groups.get(group);
      keys?.delete(key);
      if (keys?.size === 0) groups.delete(group);
    },
  });
  let seenVersion: unknown;
  return {
    clear: () => entries.clear(),
    /** Drops the entries stored under `group` (its own writes changed what they were loaded from). */
    forget(group: string): void {
      for (const key of [...(groups.get(group) ?? [])]) entries.delete(key);
    },
    /** The row for `key`, from memory when no commit can have changed it since it was loaded. */
    *get(key: string, load: () => Work<V | undefined>, group?: string): Work<V | undefined> {
      if (yield* source.inTransaction()) return yield* load();
      const version = source.version();
      if (version !== seenVersion) {
        entries.clear();
        seenVersion = version;
      }
      const known = entries.get(key);
      if (known !== undefined) return known === missing ? undefined : known;
      const row = yield* load();
      // A commit reported while the row was loading may be newer than the row: not kept. (On SQLite the load runs
      // in the same synchronous run, so nothing can be reported meanwhile.)
      if (source.version() !== version) return row;
      if (!row && !options.cacheMisses) return row;
      entries.set(key, row ?? missing);
      if (group !== undefined && entries.has(key)) {
        groupOf.set(key, group);
        const keys = groups.get(group) ?? new Set<string>();
        keys.add(key);
        groups.set(group, keys);
        if (options.maxPerGroup !== undefined && keys.size > options.maxPerGroup) entries.delete(keys.values().next().value!);
      }
      return row;
    },
  };
}
