import { and, asc, eq } from 'drizzle-orm';
import { createCommitCache, type CommitSource } from '../db/commit-cache.js';
import { transactionsOfPg, type PgExecutor } from '../db/postgres.js';
import { users } from '../db/schema-pg.js';
import type { UserRow } from '../db/schema.js';
import type { PostgresStore } from '../db/store.js';
import { afterCommit, step, type Work } from '../db/work.js';
import type { UsersRepository } from './users-repository.js';

/** All SQL for learners, on PostgreSQL: the SQLite repository's methods (users-repository.ts), same results. */
export function postgresUsersRepository(store: PostgresStore): UsersRepository {
  const { db } = store;
  // Learners from memory between commits, as on SQLite: every instance's write to users (a rename, an erasure, the
  // CLI) reaches every instance's listener. This repository's own writes move `ownWrites` once they have committed:
  // a read outside the write that loaded the row as it was before the commit then cannot keep it (its version moved
  // while it loaded), and whoever awaited the write reads its result even before the notification arrives.
  const commits = store.commits.sourceFor(['users'], (executor) => executor !== db);
  let ownWrites = 0;
  const source: CommitSource = { version: () => `${String(commits.version())}:${ownWrites}`, inTransaction: commits.inTransaction };
  const usersById = createCommitCache<UserRow>(source, { max: 10_000, cacheMisses: false });
  function* loadUser(id: string): Work<UserRow | undefined> {
    return yield* step(async (executor: PgExecutor) => (await executor.select().from(users).where(eq(users.id, id)).limit(1))[0]);
  }
  function* written<T>(work: Work<T>): Work<T> {
    const result = yield* work;
    yield* afterCommit(() => {
      ownWrites++;
    });
    return result;
  }

  return {
    ...transactionsOfPg(db),

    *findUser(id: string): Work<UserRow | undefined> {
      return yield* usersById.get(id, () => loadUser(id));
    },
    *findUserByOwner(owner: string, externalId: string): Work<UserRow | undefined> {
      return yield* step(
        async (executor: PgExecutor) =>
          (await executor
            .select()
            .from(users)
            .where(and(eq(users.owner, owner), eq(users.externalId, externalId)))
            .limit(1))[0],
      );
    },
    *findUsersByExternalId(externalId: string, owner?: string): Work<UserRow[]> {
      return yield* step((executor: PgExecutor) =>
        executor
          .select()
          .from(users)
          .where(and(eq(users.externalId, externalId), owner === undefined ? undefined : eq(users.owner, owner)))
          .orderBy(asc(users.createdAt), asc(users.id))
          .limit(100),
      );
    },
    /**
     * False when the owner already has a learner with that externalId: another instance created it after this
     * transaction looked (the insert waited for that one to commit). Misses are not cached, so a new learner needs
     * no drop.
     */
    *insertUser(user: UserRow): Work<boolean> {
      const result = yield* step((executor: PgExecutor) => executor.insert(users).values(user).onConflictDoNothing());
      return (result.rowCount ?? 0) > 0;
    },
    *setDisplayName(id: string, displayName: string | null): Work<void> {
      yield* written(step(async (executor: PgExecutor) => void (await executor.update(users).set({ displayName }).where(eq(users.id, id)))));
    },
    /** Answers, card states and learner keys go with the user (ON DELETE CASCADE). */
    *deleteUser(id: string): Work<boolean> {
      const result = yield* written(step((executor: PgExecutor) => executor.delete(users).where(eq(users.id, id))));
      return (result.rowCount ?? 0) > 0;
    },

    /**
     * SQLite truncates its WAL after an erasure so that the erased rows' old pages leave the files. PostgreSQL has
     * nothing this process can do the same way: its WAL segments and the dead row versions belong to the server,
     * which recycles them at checkpoints and reclaims them with (auto)vacuum. Reports true ("done") without doing
     * anything, so the erasure answers `wal: 'truncated'` and no retry timer is started for a step that does not
     * exist here.
     */
    truncateWal(): boolean {
      return true;
    },
  };
}
