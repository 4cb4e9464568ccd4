import type { Role } from '../db/schema.js';
import type { Work } from '../db/work.js';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import type { Principal } from './principal.js';
import type { AuthRepository } from './repository.js';
import { generateToken, hashToken, looksLikeToken, sameHash } from './tokens.js';

export interface KeyInfo {
  id: string;
  name: string;
  role: Role;
  userId: string | null;
  createdAt: string;
  revokedAt: string | null;
  /** An integration key's own xAPI account homePage for its learners; absent when it uses XAPI_ACCOUNT_HOMEPAGE. */
  xapiHomePage?: string;
}

export interface CreatedKey extends KeyInfo {
  /** Shown once: only its hash is stored. */
  token: string;
}

/**
 * `Basic base64(keyId:token)`, as xAPI tools send credentials (only /xapi accepts it); undefined for any other
 * header, which is then read as a bearer token.
 */
function basicCredentials(header: string): { keyId: string; token: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { keyId: '', token: '' } : { keyId: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

/** API keys: issuing, revoking and turning a bearer token into a Principal. */
export function createAuthService(repository: AuthRepository, now: () => Date = () => new Date()) {
  const info = (row: Omit<KeyInfo, 'xapiHomePage'> & { xapiHomePage?: string | null | undefined }): KeyInfo => ({
    id: row.id,
    name: row.name,
    role: row.role,
    userId: row.userId,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
    ...(row.xapiHomePage ? { xapiHomePage: row.xapiHomePage } : {}),
  });

  function* keysOfUserWork(userId: string): Work<KeyInfo[]> {
    return (yield* repository.listForUser(userId)).map(info);
  }

  return {
    /**
     * The principal for an Authorization header: null without one; 401 for anything that is not a live
     * `Bearer` token, so a client with a bad token learns it even on routes that allow anonymous access.
     */
    async authenticate(header: string | undefined, options: { basic?: boolean } = {}): Promise<Principal | null> {
      if (header === undefined) return null;
      const credentials = options.basic ? basicCredentials(header) : undefined;
      const token = credentials?.token ?? /^Bearer +(\S+) *$/i.exec(header)?.[1];
      if (token === undefined || !looksLikeToken(token)) {
        throw new AppError(
          'MNEMO_AUTH_INVALID_TOKEN',
          options.basic
            ? 'the Authorization header must be "Bearer <token>", or Basic with the key id as the username and its token as the password'
            : 'the Authorization header must be "Bearer <token>" with a mnemo token',
        );
      }
      const hash = hashToken(token);
      const key = await repository.run(repository.findActiveByHash(hash));
      if (!key || !sameHash(key.tokenHash, hash) || (credentials && credentials.keyId !== key.id)) {
        throw new AppError('MNEMO_AUTH_INVALID_TOKEN', 'the token is unknown or has been revoked');
      }
      if (key.role === 'learner') {
        if (!key.userId) throw new AppError('MNEMO_AUTH_INVALID_TOKEN', 'the token is unknown or has been revoked');
        return { keyId: key.id, name: key.name, role: 'learner', userId: key.userId };
      }
      return { keyId: key.id, name: key.name, role: key.role };
    },

    /**
     * `check` runs inside the write, before the insert: what it verifies cannot change before the key exists. It is
     * a work of the caller's (its reads join this transaction); what it answers is ignored, what it throws aborts.
     */
    async createKey(
      input: { role: Role; name: string; userId?: string | null; xapiHomePage?: string | undefined },
      createdBy: Principal | null,
      check?: () => Work<unknown>,
    ): Promise<CreatedKey> {
      const token = generateToken();
      const row = {
        id: newId('key'),
        name: input.name,
        role: input.role,
        tokenHash: hashToken(token),
        userId: input.userId ?? null,
        createdByKeyId: createdBy?.keyId ?? null,
        createdAt: now().toISOString(),
        xapiHomePage: input.role === 'integration' ? (input.xapiHomePage ?? null) : null,
      };
      await repository.write(function* () {
        if (check) yield* check();
        yield* repository.insert(row);
      });
      return { ...info({ ...row, revokedAt: null }), token };
    },

    revokeKey(id: string): Promise<KeyInfo> {
      return repository.write(function* () {
        const key = yield* repository.findById(id);
        if (!key) throw new AppError('MNEMO_AUTH_KEY_NOT_FOUND', `no API key with id "${id}"`);
        yield* repository.revoke(id, now().toISOString());
        return info((yield* repository.findById(id))!);
      });
    },

    async getKey(id: string): Promise<KeyInfo | undefined> {
      const key = await repository.run(repository.findById(id));
      return key && info(key);
    },

    listKeys: async (): Promise<KeyInfo[]> => (await repository.run(repository.list())).map(info),
    keysOfUser: (userId: string): Promise<KeyInfo[]> => repository.run(keysOfUserWork(userId)),
    /** The learner's keys as a work, for a caller's snapshot or transaction (a learner's export). */
    keysOfUserWork,
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
