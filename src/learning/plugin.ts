import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { createAnswersService, type AnswersService } from './answers-service.js';
import { registerLearningGraphql } from './graphql.js';
import { createLearningRepository } from './repository.js';
import { createScheduler } from './scheduler.js';
import { createStudyService, type StudyService } from './study-service.js';
import { createUsersService, type UsersService } from './users-service.js';

export interface LearningServices {
  users: UsersService;
  answers: AnswersService;
  study: StudyService;
}

declare module 'fastify' {
  interface FastifyInstance {
    learning: LearningServices;
  }
}

/** Learners, answers and scheduling, shared by the REST routes and the GraphQL resolvers. */
export const learningPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const repository = createLearningRepository(app.database.db);
    const scheduler = createScheduler(config.fsrs);
    app.decorate('learning', {
      users: createUsersService(repository, app.auth),
      answers: createAnswersService(repository, scheduler, { maxAnswersPerCard: config.maxAnswersPerCard }),
      study: createStudyService(repository, app.content, scheduler),
    });
    registerLearningGraphql(app);
  },
  { name: 'mnemo-learning', dependencies: ['mnemo-database', 'mnemo-auth', 'mnemo-content', 'mnemo-graphql'], fastify: '5.x' },
);
