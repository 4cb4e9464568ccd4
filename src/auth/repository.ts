import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiKeys, type ApiKeyRow, type Role } from '../db/schema.js';

export interface NewApiKey {
  id: string;
  name: string;
  role: Role;
  tokenHash: string;
  userId: string | null;
  createdByKeyId: string | null;
  createdAt: string;
}

/** All SQL for API keys. */
export function createAuthRepository(db: Db) {
  const byHash = db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tokenHash, sql.placeholder('hash')), isNull(apiKeys.revokedAt)))
    .prepare();

  return {
    /** The live (unrevoked) key with this token hash. */
    findActiveByHash: (hash: string): ApiKeyRow | undefined => byHash.get({ hash }),
    findById: (id: string): ApiKeyRow | undefined => db.select().from(apiKeys).where(eq(apiKeys.id, id)).get(),
    insert: (key: NewApiKey) => void db.insert(apiKeys).values(key).run(),
    revoke: (id: string, at: string) =>
      db.update(apiKeys).set({ revokedAt: at }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt))).run().changes > 0,
    list: (): ApiKeyRow[] => db.select().from(apiKeys).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id)).all(),
    listForUser: (userId: string): ApiKeyRow[] => db.select().from(apiKeys).where(eq(apiKeys.userId, userId)).all(),
  };
}

export type AuthRepository = ReturnType<typeof createAuthRepository>;
