import type { AuthService } from '../auth/service.js';
import type { Config } from '../config.js';
import type { ContentService } from '../content/service.js';
import type { Db } from '../db/client.js';
import type { Work } from '../db/work.js';
import { createAnswersRepository, type AnswersRepository } from './answers-repository.js';
import { createAnswersService, type AnswersService } from './answers-service.js';
import { createScheduler } from './scheduler.js';
import { createStatsRepository, type StatsRepository } from './stats-repository.js';
import { createStudyService, type StudyService } from './study-service.js';
import { createUsersRepository, type UsersRepository } from './users-repository.js';
import { createUsersService, type UsersService } from './users-service.js';

/** Learners, answers and scheduling, shared by the REST routes and the GraphQL resolvers. */
export interface LearningServices {
  users: UsersService;
  answers: AnswersService;
  study: StudyService;
}

export type LearningConfig = Pick<Config, 'fsrs' | 'maxAnswersPerCard'> & {
  /** Queue every answer's xAPI statement in the answer's transaction, and say so once committed (an LRS is configured). */
  statementsQueued?: (() => void) | undefined;
};

/** The learning domain's repositories, on one engine. */
export interface LearningRepositories {
  users: UsersRepository;
  answers: AnswersRepository;
  stats: StatsRepository;
}

/**
 * The learning domain over one connection (a SQLite `db`) or over repositories built for either engine
 * (db/repositories.ts); module filters are resolved by `content`, keys issued by `auth`. `now` is the services'
 * clock (tests fix it).
 */
export function createLearningServices(
  source: Db | LearningRepositories,
  content: ContentService,
  contentStamp: () => Work<number>,
  auth: AuthService,
  config: LearningConfig,
  now: () => Date = () => new Date(),
): LearningServices {
  const repositories: LearningRepositories =
    '$client' in source ? { users: createUsersRepository(source), answers: createAnswersRepository(source), stats: createStatsRepository(source) } : source;
  const scheduler = createScheduler(config.fsrs);
  return {
    users: createUsersService(repositories.users, repositories.answers, auth, now),
    answers: createAnswersService(repositories.answers, content, scheduler, {
      maxAnswersPerCard: config.maxAnswersPerCard,
      now,
      queueStatements: config.statementsQueued !== undefined,
      ...(config.statementsQueued ? { statementsQueued: config.statementsQueued } : {}),
    }),
    study: createStudyService(repositories.answers, repositories.stats, content, scheduler, contentStamp, now),
  };
}
