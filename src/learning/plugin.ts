import fp from 'fastify-plugin';
import { registerLearningGraphql } from './graphql.js';
import type { LearningServices } from './services.js';

declare module 'fastify' {
  interface FastifyInstance {
    learning: LearningServices;
  }
}

/** Learners, answers and scheduling (built by createServices), shared by the REST routes and the GraphQL resolvers. */
export const learningPlugin = fp(
  async (app) => {
    app.decorate('learning', app.services.learning);
    registerLearningGraphql(app);
  },
  { name: 'mnemo-learning', dependencies: ['mnemo-services', 'mnemo-auth', 'mnemo-content', 'mnemo-graphql'], fastify: '5.x' },
);
