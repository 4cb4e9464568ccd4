import fp from 'fastify-plugin';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireKey } from '../auth/hooks.js';
import { problemResponses } from '../http/problem-schema.js';
import { useZodSchemas } from '../http/zod.js';
import type { ChangesService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    changes: ChangesService;
  }
}

/** The change feed: written by content transactions (createServices wires it), read by offline clients. */
export const changesPlugin = fp(
  async (app) => {
    const service = app.services.changes;
    app.decorate('changes', service);
    app.graphqlResponseCache.useStamp(service.contentStamp);
  },
  { name: 'mnemo-changes', dependencies: ['mnemo-services', 'mnemo-content', 'mnemo-graphql'], fastify: '5.x' },
);

const changeSchema = z.object({
  entity: z.enum(['module', 'flashcard']),
  id: z.string(),
  moduleSlug: z.string(),
  op: z.enum(['upsert', 'archive']),
  version: z.number().int(),
  changedAt: z.string().describe('When the change was committed (ISO 8601, UTC); for content older than the feed, when its module last changed'),
});

export const changesRoutes: FastifyPluginAsyncZod<{ requireAuth: boolean }> = async (app, options) => {
  useZodSchemas(app);
  if (options.requireAuth) app.addHook('preValidation', requireKey);
  app.get(
    '/changes',
    {
      schema: {
        tags: ['content'],
        summary: 'What changed since a cursor, in commit order; store nextCursor and pass it as since next time',
        querystring: z.strictObject({
          since: z.string().max(512).optional().describe('The nextCursor of a previous call; omit to start from the beginning'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: {
          200: z.object({ changes: z.array(changeSchema), nextCursor: z.string(), hasMore: z.boolean() }),
          ...problemResponses(400),
        },
      },
    },
    async (request, reply) => reply.header('cache-control', 'no-store').send(await app.changes.feed(request.query)),
  );
};
