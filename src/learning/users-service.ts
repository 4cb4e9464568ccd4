import { setTimeout as delay } from 'node:timers/promises';
import { requireRole, type Principal } from '../auth/principal.js';
import type { AuthService, CreatedKey, KeyInfo } from '../auth/service.js';
import type { UserRow } from '../db/schema.js';
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
  answers: Pick<AnswersRepository, 'allAnswers' | 'allStates' | 'forgetLearner'>,
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
  function accessibleUser(principal: Principal | null, userId: string): UserRow {
    const caller = requireRole(principal, 'admin', 'integration');
    const user = repository.findUser(userId);
    if (!user || (caller.role === 'integration' && user.owner !== caller.keyId)) {
      throw new AppError('MNEMO_LEARNING_USER_NOT_FOUND', `no user with id "${userId}"`);
    }
    return user;
  }

  /** The learner a learner key acts for (the /me routes). */
  function selfUser(principal: Principal | null): UserRow {
    const caller = requireRole(principal, 'learner');
    const user = repository.findUser(caller.userId);
    if (!user) throw new AppError('MNEMO_AUTH_INVALID_TOKEN', 'the token is unknown or has been revoked');
    return user;
  }

  return {
    accessibleUser,
    selfUser,

    /** A learner by id, without authorisation: for operators (the CLI), never for a request. */
    findUser: (userId: string): UserRow | undefined => repository.findUser(userId),

    /** Creates a learner, or returns the caller's existing learner with that externalId (created: false). */
    createUser(principal: Principal | null, input: { externalId: string; displayName?: string | undefined }): Promise<{ user: UserDto; created: boolean }> {
      const caller = requireRole(principal, 'admin', 'integration');
      const owner = caller.role === 'integration' ? caller.keyId : '';
      return repository.write(() => {
        const existing = repository.findUserByOwner(owner, input.externalId);
        if (existing) return { user: presentUser(existing), created: false };
        const user: UserRow = {
          id: newId('usr'),
          externalId: input.externalId,
          displayName: input.displayName ?? null,
          owner,
          createdAt: now().toISOString(),
        };
        repository.insertUser(user);
        return { user: presentUser(user), created: true };
      });
    },

    getUser: (principal: Principal | null, userId: string): UserDto => presentUser(accessibleUser(principal, userId)),

    /** An integration sees its own learners with that externalId; an admin sees all of them. */
    findUsers(principal: Principal | null, externalId: string): UserDto[] {
      const caller = requireRole(principal, 'admin', 'integration');
      const owner = caller.role === 'integration' ? caller.keyId : undefined;
      return repository.findUsersByExternalId(externalId, owner).map(presentUser);
    },

    /** Sets (or, with null, removes) a learner's display name; the only field of a learner that changes. */
    renameUser(principal: Principal | null, userId: string, displayName: string | null): Promise<UserDto> {
      return repository.write(() => {
        const user = accessibleUser(principal, userId);
        repository.setDisplayName(user.id, displayName);
        return presentUser({ ...user, displayName });
      });
    },

    /**
     * Right to erasure: the learner, their keys, answers and card states, in one transaction; then their bytes
     * leave the files: the deleted rows are zeroed in place (secure_delete) and the WAL, which still holds the
     * pages as they were, is checkpointed and truncated. Resolves `pending` when that could not happen within
     * `walPatienceMs` (another process reading an old snapshot, e.g. a backup); retries then continue every second.
     */
    async deleteUser(principal: Principal | null, userId: string): Promise<{ wal: 'truncated' | 'pending' }> {
      await repository.write(() => {
        const user = accessibleUser(principal, userId);
        repository.deleteUser(user.id);
        answers.forgetLearner(user.id);
      });
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

    issueLearnerKey(principal: Principal | null, userId: string, name: string): Promise<CreatedKey> {
      const user = accessibleUser(principal, userId);
      // Checked again inside the write: the learner may be erased while the key waits for the write lock.
      return auth.createKey({ role: 'learner', name, userId: user.id }, principal, () => accessibleUser(principal, userId));
    },

    /** Everything stored about a learner (tokens excepted: only their hashes exist, and those stay inside). */
    exportUser(principal: Principal | null, userId: string) {
      const user = accessibleUser(principal, userId);
      // One snapshot, so answers and the states derived from them agree; no write lock for a read.
      return repository.read(() => ({
        exportedAt: now().toISOString(),
        user: presentUser(user),
        keys: auth.keysOfUser(user.id) satisfies KeyInfo[],
        answers: answers.allAnswers(user.id).map(presentAnswer),
        cardStates: answers.allStates(user.id).map(presentStoredState),
      }));
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
