import { and, asc, eq, isNull } from 'drizzle-orm';
import { createCommitCache } from '../db/commit-cache.js';
import { transactionsOfPg, type PgExecutor } from '../db/postgres.js';
import { apiKeys } from '../db/schema-pg.js';
import type { PostgresStore } from '../db/store.js';
import { afterCommit, step, type Work } from '../db/work.js';
import type { ApiKeyRow } from '../db/schema.js';
import type { AuthRepository, NewApiKey } from './repository.js';

/** All SQL for API keys, on PostgreSQL. */
export function postgresAuthRepository(store: PostgresStore): AuthRepository {
  const { db } = store;
  // Live keys by token hash from memory between commits, as on SQLite: every instance's write to api_keys (a
  // revocation, an erasure's cascade, the CLI) reaches every instance's listener, and this instance's own writes
  // clear the cache at once.
  const liveKeys = createCommitCache<ApiKeyRow>(store.commits.sourceFor(['api_keys'], (executor) => executor !== db), { max: 10_000, cacheMisses: false });

  // Dropped once the write commits: dropped before, a request on another connection could reload the key as it
  // was (not yet revoked) and keep it until the notification arrives.
  function* written<T>(work: Work<T>): Work<T> {
    const result = yield* work;
    yield* afterCommit(liveKeys.clear);
    return result;
  }

  return {
    ...transactionsOfPg(db),
    *findActiveByHash(hash: string): Work<ApiKeyRow | undefined> {
      return yield* liveKeys.get(hash, () =>
        step(async (executor: PgExecutor) => {
          const [row] = await executor.select().from(apiKeys).where(and(eq(apiKeys.tokenHash, hash), isNull(apiKeys.revokedAt))).limit(1);
          return row;
        }),
      );
    },
    *findById(id: string): Work<ApiKeyRow | undefined> {
      return yield* step(async (executor: PgExecutor) => (await executor.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1))[0]);
    },
    *insert(key: NewApiKey): Work<void> {
      yield* written(step(async (executor: PgExecutor) => void (await executor.insert(apiKeys).values(key))));
    },
    *revoke(id: string, at: string): Work<boolean> {
      const result = yield* written(
        step((executor: PgExecutor) =>
          executor
            .update(apiKeys)
            .set({ revokedAt: at })
            .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))),
        ),
      );
      return (result.rowCount ?? 0) > 0;
    },
    *list(): Work<ApiKeyRow[]> {
      return yield* step((executor: PgExecutor) => executor.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)));
    },
    *listForUser(userId: string): Work<ApiKeyRow[]> {
      return yield* step((executor: PgExecutor) => executor.select().from(apiKeys).where(eq(apiKeys.userId, userId)));
    },
  };
}
