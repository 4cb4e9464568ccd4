import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { createCommitCache } from '../db/commit-cache.js';
import { users, type UserRow } from '../db/schema.js';
import { transactionsOf } from '../db/transactions.js';
import { step, type Work } from '../db/work.js';

/** All SQL for learners. */
export function createUsersRepository(db: Db) {
  const userById = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();
  function* loadUser(id: string): Work<UserRow | undefined> {
    return yield* step(() => userById.get({ id }));
  }
  // Every learner request reads its learner: kept between commits, dropped by this connection's own user writes.
  const usersById = createCommitCache<UserRow>(db, { max: 10_000, cacheMisses: false });

  return {
    ...transactionsOf(db),

    *findUser(id: string): Work<UserRow | undefined> {
      return yield* usersById.get(id, () => loadUser(id));
    },
    *findUserByOwner(owner: string, externalId: string): Work<UserRow | undefined> {
      return yield* step(() => db.select().from(users).where(and(eq(users.owner, owner), eq(users.externalId, externalId))).get());
    },
    *findUsersByExternalId(externalId: string, owner?: string): Work<UserRow[]> {
      return yield* step(() =>
        db
          .select()
          .from(users)
          .where(and(eq(users.externalId, externalId), owner === undefined ? undefined : eq(users.owner, owner)))
          .orderBy(asc(users.createdAt), asc(users.id))
          .limit(100)
          .all(),
      );
    },
    /** False when the owner already has a learner with that externalId (created meanwhile by another writer). */
    *insertUser(user: UserRow): Work<boolean> {
      return (yield* step(() => db.insert(users).values(user).onConflictDoNothing().run())).changes > 0;
    },
    *setDisplayName(id: string, displayName: string | null): Work<void> {
      usersById.clear();
      yield* step(() => db.update(users).set({ displayName }).where(eq(users.id, id)).run());
    },
    /** Answers, card states and learner keys go with the user (ON DELETE CASCADE). */
    *deleteUser(id: string): Work<boolean> {
      usersById.clear();
      return (yield* step(() => db.delete(users).where(eq(users.id, id)).run())).changes > 0;
    },

    /**
     * Copies every committed page into the database file and truncates the WAL to zero bytes, so that frames
     * written before an erasure (the learner's rows as they were, and the pages that held them) leave the files.
     * The deleted rows themselves are zeroed in their pages (`secure_delete`, db/client.ts). Never waits: false
     * when another connection is checkpointing, writing, or reading a snapshot older than the last commit.
     */
    truncateWal(): boolean {
      const sqlite = db.$client;
      // In memory there are no files. Once closed, the connection can do nothing more; the last connection to
      // close a database checkpoints it and deletes the WAL.
      if (sqlite.memory || !sqlite.open) return true;
      const busyTimeout = sqlite.pragma('busy_timeout', { simple: true }) as number;
      sqlite.pragma('busy_timeout = 0');
      try {
        const [result] = sqlite.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number }[];
        return result?.busy === 0 && result.log === 0;
      } finally {
        sqlite.pragma(`busy_timeout = ${busyTimeout}`);
      }
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
