import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { registerContentGraphql } from './graphql.js';
import { createContentRepository } from './repository.js';
import { createContentService, type ContentService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    content: ContentService;
  }
}

/** The content domain's service, shared by the REST routes and the GraphQL resolvers. */
export const contentPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const repository = createContentRepository(app.database.db);
    app.decorate('content', createContentService(repository, { cacheEntries: config.contentCacheEntries }));
    registerContentGraphql(app);
  },
  { name: 'mnemo-content', dependencies: ['mnemo-database', 'mnemo-graphql'], fastify: '5.x' },
);
