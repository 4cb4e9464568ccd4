import { setTimeout as delay } from 'node:timers/promises';
import { requireRole, type Principal } from '../auth/principal.js';
import type { AuthService, CreatedKey, KeyInfo } from '../auth/service.js';
import type { UserRow } from '../db/schema.js';
import { afterCommit, type Work } from '../db/work.js';
import { AppError } from '../errors.js';
import { newId } from '../ids.js';
import type { AnswerRecord, AnswersRepository, CardStateRecord } from './answers-repository.js';
import type { UsersRepository } from './users-repository.js';
import type { UserDto } from './schemas.js';

export const presentUser = (user: UserRow): UserDto => ({
  id: user.id,
  externalId: user.externalId,
  displayName: user.displayName,
  createdAt: user.createdAt,
});

/** Learners and who may act for them: admins for all, an integration for those it created, a learner for itself. */
export function createUsersService(
  repository: UsersRepository,
  answers: Pick<AnswersRepository, 'allAnswers' | 'allStates' | 'forgetLearner' | 'lockLearners'>,
  auth: AuthService,
  now: () => Date = () => new Date(),
  walPatienceMs = 2000,
) {
  let walRetry: NodeJS.Timeout | undefined;

  /** Keeps trying, once a second, after an erasure whose WAL could not be truncated at once. */
  function truncateWalLater(): void {
    walRetry ??= setInterval(() => {
      let done: boolean;
      try {
        done = repository.truncateWal();
      } catch {
        done = true; // not worth crashing a timer for: the next erasure truncates again, and says so if it cannot
      }
      if (done) {
        clearInterval(walRetry);
        walRetry = undefined;
      }
    }, 1000).unref();
  }

  /**
   * The learner `userId` if the caller may act for it. Learners use /me (403 here); another integration's
   * learner is reported as missing (404), so ids never reveal who exists.
   */
  function* accessibleUserWork(principal: Principal | null, userId: string): Work<UserRow> {
    const caller = requireRole(principal, 'admin', 'integration');
    const user = yield* repository.findUser(userId);
    if (!user || (caller.role === 'integration' && user.owner !== caller.keyId)) {
      throw new AppError('MNEMO_LEARNING_USER_NOT_FOUND', `no user with id "${userId}"`);
    }
    return user;
  }

  const accessibleUser = (principal: Principal | null, userId: string): Promise<UserRow> => repository.run(accessibleUserWork(principal, userId));

  /** The learner a learner key acts for (the /me routes). */
  function* selfUserWork(principal: Principal | null): Work<UserRow> {
    const caller = requireRole(principal, 'learner');
    const user = yield* repository.findUser(caller.userId);
    if (!user) throw new AppError('MNEMO_AUTH_INVALID_TOKEN', 'the token is unknown or has been revoked');
    return user;
  }

  // Works are generator functions declared here once, given their data as arguments: a `function*` expression per
  // call costs V8 a new function with its own prototype and object map, which made a cached read about 4x slower.
  function* createUserWork(owner: string, input: { externalId: string; displayName?: string | undefined }): Work<{ user: UserDto; created: boolean }> {
    const existing = yield* repository.findUserByOwner(owner, input.externalId);
    if (existing) return { user: presentUser(existing), created: false };
    const user: UserRow = {
      id: newId('usr'),
      externalId: input.externalId,
      displayName: input.displayName ?? null,
      owner,
      createdAt: now().toISOString(),
    };
    if (yield* repository.insertUser(user)) return { user: presentUser(user), created: true };
    // Created by another writer between the lookup and the insert (another instance, on PostgreSQL, where the
    // insert waited for it to commit): its learner is the one, as if this call had come second.
    const winner = yield* repository.findUserByOwner(owner, input.externalId);
    if (!winner) throw new Error(`learner ${owner}/${input.externalId} neither inserted nor found`);
    return { user: presentUser(winner), created: false };
  }

  function* renameUserWork(principal: Principal | null, userId: string, displayName: string | null): Work<UserDto> {
    const user = yield* accessibleUserWork(principal, userId);
    yield* repository.setDisplayName(user.id, displayName);
    return presentUser({ ...user, displayName });
  }

  function* deleteUserWork(principal: Principal | null, userId: string): Work<void> {
    // First, as the answer writes do: an erasure and a write of the learner's answers then never interleave (on
    // PostgreSQL the answer write would otherwise pass its check of the learner and fail on the deleted row).
    yield* answers.lockLearners([userId]);
    const user = yield* accessibleUserWork(principal, userId);
    yield* repository.deleteUser(user.id);
    // Now, for this connection's own reads until the commit (SQLite runs the body in one synchronous run, so none
    // comes between), and again once committed, for a read on another connection that loaded the rows meanwhile.
    answers.forgetLearner(user.id);
    yield* afterCommit(() => answers.forgetLearner(user.id));
  }

  /**
   * Inside the key's write: the learner's lock first, as an erasure takes it, so the erasure either removes the new
   * key with the learner or commits before the check, which then refuses (404) rather than inserting a key for a
   * learner being deleted (a foreign-key failure on PostgreSQL).
   */
  function* learnerKeyCheck(principal: Principal | null, userId: string): Work<UserRow> {
    yield* answers.lockLearners([userId]);
    return yield* accessibleUserWork(principal, userId);
  }

  function* exportUserWork(user: UserRow) {
    return {
      exportedAt: now().toISOString(),
      user: presentUser(user),
      keys: (yield* auth.keysOfUserWork(user.id)) satisfies KeyInfo[],
      answers: (yield* answers.allAnswers(user.id)).map(presentAnswer),
      cardStates: (yield* answers.allStates(user.id)).map(presentStoredState),
    };
  }

  return {
    accessibleUser,
    /** `accessibleUser` as a work, for a caller's transaction (checked again where the learner may be erased meanwhile). */
    accessibleUserWork,
    selfUser: (principal: Principal | null): Promise<UserRow> => repository.run(selfUserWork(principal)),

    /** A learner by id, without authorisation: for operators (the CLI), never for a request. */
    findUser: (userId: string): Promise<UserRow | undefined> => repository.run(repository.findUser(userId)),

    /** Creates a learner, or returns the caller's existing learner with that externalId (created: false). */
    async createUser(principal: Principal | null, input: { externalId: string; displayName?: string | undefined }): Promise<{ user: UserDto; created: boolean }> {
      const caller = requireRole(principal, 'admin', 'integration');
      const owner = caller.role === 'integration' ? caller.keyId : '';
      return repository.write(() => createUserWork(owner, input));
    },

    getUser: async (principal: Principal | null, userId: string): Promise<UserDto> => presentUser(await accessibleUser(principal, userId)),

    /** An integration sees its own learners with that externalId; an admin sees all of them. */
    async findUsers(principal: Principal | null, externalId: string): Promise<UserDto[]> {
      const caller = requireRole(principal, 'admin', 'integration');
      const owner = caller.role === 'integration' ? caller.keyId : undefined;
      return (await repository.run(repository.findUsersByExternalId(externalId, owner))).map(presentUser);
    },

    /** Sets (or, with null, removes) a learner's display name; the only field of a learner that changes. */
    renameUser(principal: Principal | null, userId: string, displayName: string | null): Promise<UserDto> {
      return repository.write(() => renameUserWork(principal, userId, displayName));
    },

    /**
     * Right to erasure: the learner, their keys, answers and card states, in one transaction; then their bytes
     * leave the files: the deleted rows are zeroed in place (secure_delete) and the WAL, which still holds the
     * pages as they were, is checkpointed and truncated. Resolves `pending` when that could not happen within
     * `walPatienceMs` (another process reading an old snapshot, e.g. a backup); retries then continue every second.
     */
    async deleteUser(principal: Principal | null, userId: string): Promise<{ wal: 'truncated' | 'pending' }> {
      await repository.write(() => deleteUserWork(principal, userId));
      const deadline = Date.now() + walPatienceMs;
      while (!repository.truncateWal()) {
        if (Date.now() >= deadline) {
          truncateWalLater();
          return { wal: 'pending' };
        }
        // The background checkpointer's own pass takes milliseconds; a writer in another process, its transaction.
        await delay(20);
      }
      return { wal: 'truncated' };
    },

    async issueLearnerKey(principal: Principal | null, userId: string, name: string): Promise<CreatedKey> {
      const user = await accessibleUser(principal, userId);
      // Checked again inside the write: the learner may be erased while the key waits for the write lock.
      return auth.createKey({ role: 'learner', name, userId: user.id }, principal, () => learnerKeyCheck(principal, user.id));
    },

    /** Everything stored about a learner (tokens excepted: only their hashes exist, and those stay inside). */
    async exportUser(principal: Principal | null, userId: string) {
      const user = await accessibleUser(principal, userId);
      // One snapshot, so answers and the states derived from them agree; no write lock for a read.
      return repository.read(() => exportUserWork(user));
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;

export function presentAnswer(answer: AnswerRecord) {
  return {
    id: answer.id,
    clientAnswerId: answer.clientAnswerId,
    flashcardId: answer.flashcardId,
    moduleSlug: answer.moduleSlug,
    rating: answer.rating,
    correct: answer.correct === null ? null : answer.correct === 1,
    answeredAt: answer.answeredAt,
    receivedAt: answer.receivedAt,
    durationMs: answer.durationMs,
    response: answer.response,
  };
}

function presentStoredState(state: CardStateRecord) {
  const { userId: _userId, moduleId: _moduleId, ...rest } = state;
  return rest;
}
