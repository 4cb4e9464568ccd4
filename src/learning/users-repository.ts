import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { users, type UserRow } from '../db/schema.js';
import { transactionsOf } from '../db/transactions.js';

/** All SQL for learners. */
export function createUsersRepository(db: Db) {
  const userById = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare();

  return {
    ...transactionsOf(db),

    findUser: (id: string): UserRow | undefined => userById.get({ id }),
    findUserByOwner: (owner: string, externalId: string): UserRow | undefined =>
      db.select().from(users).where(and(eq(users.owner, owner), eq(users.externalId, externalId))).get(),
    findUsersByExternalId: (externalId: string, owner?: string): UserRow[] =>
      db
        .select()
        .from(users)
        .where(and(eq(users.externalId, externalId), owner === undefined ? undefined : eq(users.owner, owner)))
        .orderBy(asc(users.createdAt), asc(users.id))
        .limit(100)
        .all(),
    insertUser: (user: UserRow) => void db.insert(users).values(user).onConflictDoNothing().run(),
    /** Answers, card states and learner keys go with the user (ON DELETE CASCADE). */
    deleteUser: (id: string) => db.delete(users).where(eq(users.id, id)).run().changes > 0,
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
