import { createAuthRepository, type AuthRepository } from '../auth/repository.js';
import { postgresAuthRepository } from '../auth/repository-postgres.js';
import { createChangesRepository, type ChangesRepository } from '../changes/repository.js';
import { postgresChangesRepository } from '../changes/repository-postgres.js';
import { createContentRepository, type ContentRepository } from '../content/repository.js';
import { postgresContentRepository } from '../content/repository-postgres.js';
import { createAnswersRepository } from '../learning/answers-repository.js';
import { postgresAnswersRepository } from '../learning/answers-repository-postgres.js';
import type { LearningRepositories } from '../learning/services.js';
import { createStatsRepository } from '../learning/stats-repository.js';
import { postgresStatsRepository } from '../learning/stats-repository-postgres.js';
import { createUsersRepository } from '../learning/users-repository.js';
import { postgresUsersRepository } from '../learning/users-repository-postgres.js';
import { createSearchRepository, type SearchRepository } from '../search/repository.js';
import { postgresSearchRepository } from '../search/repository-postgres.js';
import type { Store } from './store.js';

/** Every domain's repository, on one engine. */
export interface Repositories {
  auth: AuthRepository;
  content: ContentRepository;
  changes: ChangesRepository;
  search: SearchRepository;
  learning: LearningRepositories;
}

/**
 * The one place that picks each domain's implementation for the store's engine: services get these and never
 * learn which engine runs.
 */
export function repositoriesOf(store: Store): Repositories {
  if (store.engine === 'postgres') {
    return {
      auth: postgresAuthRepository(store),
      content: postgresContentRepository(store),
      changes: postgresChangesRepository(store),
      search: postgresSearchRepository(store),
      learning: { users: postgresUsersRepository(store), answers: postgresAnswersRepository(store), stats: postgresStatsRepository(store) },
    };
  }
  const { db } = store;
  return {
    auth: createAuthRepository(db),
    content: createContentRepository(db),
    changes: createChangesRepository(db),
    search: createSearchRepository(db),
    learning: { users: createUsersRepository(db), answers: createAnswersRepository(db), stats: createStatsRepository(db) },
  };
}
