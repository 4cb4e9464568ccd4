import fp from 'fastify-plugin';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { IResolvers, MercuriusContext } from 'mercurius';
import { z } from 'zod';
import { requireAuthenticated } from '../auth/principal.js';
import { slugParam } from '../content/schemas.js';
import { AppError } from '../errors.js';
import { problemResponses } from '../http/problem-schema.js';
import { RepresentationCache, sendRepresentation } from '../http/representation.js';
import { useZodSchemas } from '../http/zod.js';
import { maxQueryLength } from './query.js';
import { createSearchRepository, searchKinds, type SearchKind } from './repository.js';
import { createSearchService, type SearchService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    fullTextSearch: SearchService;
  }
}

const maxResults = 50;

const graphqlSchema = /* GraphQL */ `
  type SearchHit {
    "module, takeaway, flashcard, cheatSheetRow or revisionItem"
    kind: String!
    moduleSlug: String!
    id: ID!
    title: String!
    "HTML-escaped text around the match, matched terms in <mark>."
    snippet: String!
    score: Float!
  }

  extend type Query {
    "Full-text search over live content, best first; the last word matches as a prefix."
    search(query: String!, module: String, kind: String, first: Int = 20): [SearchHit!]!
  }
`;

/** Full-text search: the FTS5 index follows content inside its transactions; REST and GraphQL read it. */
export const searchPlugin = fp<{ requireAuth: boolean; cacheBytes: number }>(
  async (app, options) => {
    const service = createSearchService(createSearchRepository(app.database.db), (moduleId) => app.content.sectionsOf(moduleId));
    app.content.addListener(service.listener);
    app.decorate('fullTextSearch', service);

    const run = (args: { q: string; module?: string | null | undefined; kind?: string | null | undefined; limit: number }) => {
      if (args.q.length > maxQueryLength) throw new AppError('MNEMO_REQUEST_INVALID', `the query must be at most ${maxQueryLength} characters`);
      if (!Number.isInteger(args.limit) || args.limit < 1 || args.limit > maxResults) throw new AppError('MNEMO_REQUEST_INVALID', `first must be between 1 and ${maxResults}`);
      const kind = args.kind ?? undefined;
      if (kind !== undefined && !(searchKinds as readonly string[]).includes(kind)) {
        throw new AppError('MNEMO_REQUEST_INVALID', `kind must be one of ${searchKinds.join(', ')}`);
      }
      const moduleId = args.module ? app.content.getModule(args.module).id : undefined;
      return service.search({ q: args.q, moduleId, kind: kind as SearchKind | undefined, limit: args.limit });
    };

    app.graphql.extendSchema(graphqlSchema);
    app.graphql.defineResolvers({
      Query: {
        search: (_root: unknown, args: { query: string; module?: string | null; kind?: string | null; first: number }, context: MercuriusContext) => {
          if (options.requireAuth) requireAuthenticated(context.principal);
          return run({ q: args.query, module: args.module, kind: args.kind, limit: args.first });
        },
      },
    } as IResolvers);

    const results = new RepresentationCache(options.cacheBytes);
    const routes: FastifyPluginAsyncZod = async (scope) => {
      useZodSchemas(scope);
      if (options.requireAuth) scope.addHook('preValidation', async (request) => void requireAuthenticated(request.principal));
      scope.get(
        '/search',
        {
          schema: {
            tags: ['content'],
            summary: 'Full-text search over live content, best first; the last word matches as a prefix (type-ahead)',
            querystring: z.strictObject({
              q: z.string().min(1).max(maxQueryLength),
              module: slugParam.optional(),
              kind: z.enum(searchKinds).optional(),
              limit: z.coerce.number().int().min(1).max(maxResults).default(20),
            }),
            response: {
              200: z.object({
                items: z.array(
                  z.object({ kind: z.enum(searchKinds), moduleSlug: z.string(), id: z.string(), title: z.string(), snippet: z.string(), score: z.number() }),
                ),
              }),
              ...problemResponses(400, 404),
            },
          },
        },
        async (request, reply) => {
          // Results change only with content: cached per content stamp, so repeated (type-ahead) queries for a
          // common word are answered without ranking every match again.
          const { q, module, kind, limit } = request.query;
          const key = JSON.stringify([app.changes.contentStamp(), q, module ?? null, kind ?? null, limit]);
          const representation = results.get(key, () => ({ items: run(request.query) }));
          return sendRepresentation(request, reply, representation, options.requireAuth ? 'private, no-cache' : 'public, no-cache');
        },
      );
    };
    await app.register(routes, { prefix: '/v1' });
  },
  { name: 'mnemo-search', dependencies: ['mnemo-database', 'mnemo-content', 'mnemo-changes', 'mnemo-graphql'], fastify: '5.x' },
);
