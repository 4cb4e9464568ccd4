import type { Database } from 'better-sqlite3';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { createCommitCache } from '../db/commit-cache.js';
import { transactionsOf } from '../db/transactions.js';
import { step, type Work } from '../db/work.js';
import { apiKeys, type ApiKeyRow, type Role } from '../db/schema.js';

export interface NewApiKey {
  id: string;
  name: string;
  role: Role;
  tokenHash: string;
  userId: string | null;
  createdByKeyId: string | null;
  createdAt: string;
  xapiHomePage: string | null;
}

/** All SQL for API keys. */
export function createAuthRepository(db: Db) {
  const byHash = db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tokenHash, sql.placeholder('hash')), isNull(apiKeys.revokedAt)))
    .prepare();
  function* loadByHash(hash: string): Work<ApiKeyRow | undefined> {
    return yield* step(() => byHash.get({ hash }));
  }

  // Live keys by token hash from memory between changes: authentication is on every learner request. Another
  // connection's commit (the CLI revoking a key) drops the cache, and so does every write to api_keys on this
  // connection, reported by temporary triggers (cascades included: erasing a learner deletes its keys). Unknown
  // tokens are never cached: they could only crowd out live ones.
  const liveKeys = createCommitCache<ApiKeyRow>(db, { max: 10_000, cacheMisses: false });
  onApiKeysChanged(db.$client, liveKeys.clear);

  return {
    ...transactionsOf(db),
    /** The live (unrevoked) key with this token hash. */
    *findActiveByHash(hash: string): Work<ApiKeyRow | undefined> {
      return yield* liveKeys.get(hash, () => loadByHash(hash));
    },
    *findById(id: string): Work<ApiKeyRow | undefined> {
      return yield* step(() => db.select().from(apiKeys).where(eq(apiKeys.id, id)).get());
    },
    *insert(key: NewApiKey): Work<void> {
      yield* step(() => db.insert(apiKeys).values(key).run());
    },
    *revoke(id: string, at: string): Work<boolean> {
      const result = yield* step(() => db.update(apiKeys).set({ revokedAt: at }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).run());
      return result.changes > 0;
    },
    *list(): Work<ApiKeyRow[]> {
      return yield* step(() => db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)).all());
    },
    *listForUser(userId: string): Work<ApiKeyRow[]> {
      return yield* step(() => db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).all());
    },
  };
}

export type AuthRepository = ReturnType<typeof createAuthRepository>;

const keyChangeListeners = new WeakMap<Database, Set<() => void>>();

/** Calls `listener` whenever this connection writes to api_keys, through temporary (connection-local) triggers. */
function onApiKeysChanged(sqlite: Database, listener: () => void): void {
  let listeners = keyChangeListeners.get(sqlite);
  if (!listeners) {
    const registered = new Set<() => void>();
    listeners = registered;
    keyChangeListeners.set(sqlite, registered);
    sqlite.function('mnemo_api_keys_changed', { deterministic: false }, () => {
      for (const notify of registered) notify();
      return null;
    });
    for (const event of ['insert', 'update', 'delete']) {
      sqlite.exec(`CREATE TEMP TRIGGER IF NOT EXISTS mnemo_api_keys_${event} AFTER ${event.toUpperCase()} ON main.api_keys BEGIN SELECT mnemo_api_keys_changed(); END`);
    }
  }
  listeners.add(listener);
}
