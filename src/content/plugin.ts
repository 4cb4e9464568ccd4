import fp from 'fastify-plugin';
import { registerContentGraphql } from './graphql.js';
import type { ContentService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    content: ContentService;
  }
}

/** The content domain's service (built by createServices), shared by the REST routes and the GraphQL resolvers. */
export const contentPlugin = fp(
  async (app) => {
    app.decorate('content', app.services.content);
    registerContentGraphql(app);
  },
  { name: 'mnemo-content', dependencies: ['mnemo-services', 'mnemo-graphql'], fastify: '5.x' },
);
