import { LRUCache } from 'lru-cache';
import type { Db } from './client.js';

const missing = Symbol('missing');

/**
 * Rows served from memory between commits. SQLite moves `PRAGMA data_version` when another connection (the CLI,
 * another server) commits, and the cache is dropped then; this connection's own writes are the owner's to report
 * with `clear()`. Nothing is cached inside a transaction, which might still roll back.
 */
export function createCommitCache<V extends object>(db: Db, options: { max: number; cacheMisses: boolean }) {
  const entries = new LRUCache<string, V | typeof missing>({ max: options.max });
  const dataVersion = db.$client.prepare('PRAGMA data_version').pluck();
  let seenDataVersion: unknown;
  return {
    clear: () => entries.clear(),
    /** The row for `key`, from memory when no commit can have changed it since it was loaded. */
    get(key: string, load: () => V | undefined): V | undefined {
      if (db.$client.inTransaction) return load();
      const version = dataVersion.get();
      if (version !== seenDataVersion) {
        entries.clear();
        seenDataVersion = version;
      }
      const known = entries.get(key);
      if (known !== undefined) return known === missing ? undefined : known;
      const row = load();
      if (row) entries.set(key, row);
      else if (options.cacheMisses) entries.set(key, missing);
      return row;
    },
  };
}
