import { createAuthRepository, type AuthRepository } from '../auth/repository.js';
import { createChangesRepository, type ChangesRepository } from '../changes/repository.js';
import { createContentRepository, type ContentRepository } from '../content/repository.js';
import { createAnswersRepository } from '../learning/answers-repository.js';
import type { LearningRepositories } from '../learning/services.js';
import { createStatsRepository } from '../learning/stats-repository.js';
import { createUsersRepository } from '../learning/users-repository.js';
import { createSearchRepository, type SearchRepository } from '../search/repository.js';
import { createXapiRepository, type XapiRepository } from '../xapi/repository.js';
import { sqlitePlainSql } from './plain-sql.js';
import type { Store } from './store.js';
import { transactionsOf } from './transactions.js';

/** Every domain's repository, on one engine. */
export interface Repositories {
  auth: AuthRepository;
  content: ContentRepository;
  changes: ChangesRepository;
  search: SearchRepository;
  learning: LearningRepositories;
  xapi: XapiRepository;
}

/**
 * The one place that picks each domain's implementation for the store's engine (PostgreSQL's are assembled in
 * db/postgres-engine.ts, loaded only with that engine): services get these and never learn which engine runs.
 */
export function repositoriesOf(store: Store): Repositories {
  if (store.engine === 'postgres') return store.repositories();
  const { db } = store;
  return {
    auth: createAuthRepository(db),
    content: createContentRepository(db),
    changes: createChangesRepository(db),
    search: createSearchRepository(db),
    learning: { users: createUsersRepository(db), answers: createAnswersRepository(db), stats: createStatsRepository(db) },
    xapi: createXapiRepository(transactionsOf(db), sqlitePlainSql(db)),
  };
}
