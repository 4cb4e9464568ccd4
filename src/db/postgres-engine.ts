import { postgresAuthRepository } from '../auth/repository-postgres.js';
import { postgresChangesRepository } from '../changes/repository-postgres.js';
import type { Config } from '../config.js';
import { postgresContentRepository } from '../content/repository-postgres.js';
import { postgresAnswersRepository } from '../learning/answers-repository-postgres.js';
import { postgresStatsRepository } from '../learning/stats-repository-postgres.js';
import { postgresUsersRepository } from '../learning/users-repository-postgres.js';
import { postgresSearchRepository } from '../search/repository-postgres.js';
import { createXapiRepository } from '../xapi/repository.js';
import { postgresPlainSql } from './plain-sql.js';
import { openPostgres, transactionsOfPg } from './postgres.js';
import { listenForCommits } from './postgres-commits.js';
import type { Repositories } from './repositories.js';
import type { PostgresStore } from './store.js';

/**
 * Everything PostgreSQL needs, in one module that db/store.ts imports on demand. Opens the pool (migrated under the
 * instances' lock) and the listener that tells this process of every instance's commits; resolves once the
 * listener listens, so no cache is filled before it can be invalidated.
 */
export async function openPostgresEngine(config: NonNullable<Config['postgres']>, onError: (error: Error) => void): Promise<PostgresStore> {
  const postgres = await openPostgres(config, onError);
  const commits = listenForCommits(config.url, onError);
  await commits.ready();
  const store: PostgresStore = {
    engine: 'postgres',
    db: postgres.db,
    postgres,
    commits,
    stats: postgres.stats,
    health: () => postgres.health(),
    repositories: () => postgresRepositoriesOf(store),
    close: async () => {
      await commits.close();
      await postgres.close();
    },
  };
  return store;
}

function postgresRepositoriesOf(store: PostgresStore): Repositories {
  return {
    auth: postgresAuthRepository(store),
    content: postgresContentRepository(store),
    changes: postgresChangesRepository(store),
    search: postgresSearchRepository(store),
    learning: { users: postgresUsersRepository(store), answers: postgresAnswersRepository(store), stats: postgresStatsRepository(store) },
    xapi: createXapiRepository(transactionsOfPg(store.db), postgresPlainSql()),
  };
}
