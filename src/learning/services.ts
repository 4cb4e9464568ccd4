import type { AuthService } from '../auth/service.js';
import type { Config } from '../config.js';
import type { ContentService } from '../content/service.js';
import type { Db } from '../db/client.js';
import { createAnswersRepository } from './answers-repository.js';
import { createAnswersService, type AnswersService } from './answers-service.js';
import { createScheduler } from './scheduler.js';
import { createStatsRepository } from './stats-repository.js';
import { createStudyService, type StudyService } from './study-service.js';
import { createUsersRepository } from './users-repository.js';
import { createUsersService, type UsersService } from './users-service.js';

/** Learners, answers and scheduling, shared by the REST routes and the GraphQL resolvers. */
export interface LearningServices {
  users: UsersService;
  answers: AnswersService;
  study: StudyService;
}

export type LearningConfig = Pick<Config, 'fsrs' | 'maxAnswersPerCard'>;

/** The learning domain over one connection; module filters are resolved by `content`, keys issued by `auth`. */
export function createLearningServices(
  db: Db,
  content: ContentService,
  contentStamp: () => number,
  auth: AuthService,
  config: LearningConfig,
): LearningServices {
  const answers = createAnswersRepository(db);
  const scheduler = createScheduler(config.fsrs);
  return {
    users: createUsersService(createUsersRepository(db), answers, auth),
    answers: createAnswersService(answers, content, scheduler, { maxAnswersPerCard: config.maxAnswersPerCard }),
    study: createStudyService(answers, createStatsRepository(db), content, scheduler, contentStamp),
  };
}
