import { LRUCache } from 'lru-cache';
import type { Db } from './client.js';

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

export interface CommitCacheOptions<V> {
  max: number;
  cacheMisses: boolean;
  /** A bound on the approximate total size as well, with each value's size (misses count 1). */
  size?: { max: number; of: (value: V) => number };
  /** At most this many entries per group: the oldest of a group goes first, so one group cannot take the cache. */
  maxPerGroup?: number;
}

/**
 * Rows served from memory between commits. SQLite moves `PRAGMA data_version` when another connection (the CLI,
 * another server) commits, and the cache is dropped then; this connection's own writes are the owner's to report
 * with `clear()`, or `forget(group)` for the entries of one group (one learner's). Nothing is cached inside a
 * transaction, which might still roll back.
 */
export function createCommitCache<V extends object>(db: Db, options: CommitCacheOptions<V>) {
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
  const dataVersion = commitCounterOf(db.$client);
  let seenDataVersion: unknown;
  return {
    clear: () => entries.clear(),
    /** Drops the entries stored under `group` (its own writes changed what they were loaded from). */
    forget(group: string): void {
      for (const key of [...(groups.get(group) ?? [])]) entries.delete(key);
    },
    /** The row for `key`, from memory when no commit can have changed it since it was loaded. */
    get(key: string, load: () => V | undefined, group?: string): V | undefined {
      if (db.$client.inTransaction) return load();
      const version = dataVersion();
      if (version !== seenDataVersion) {
        entries.clear();
        seenDataVersion = version;
      }
      const known = entries.get(key);
      if (known !== undefined) return known === missing ? undefined : known;
      const row = load();
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
