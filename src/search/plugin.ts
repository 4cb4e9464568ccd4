import fp from 'fastify-plugin';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { IResolvers } from 'mercurius';
import { z } from 'zod';
import { requireKey } from '../auth/hooks.js';
import { optionalQueryEnum, slugParam } from '../content/schemas.js';
import { parseArguments } from '../graphql/arguments.js';
import { problemResponses } from '../http/problem-schema.js';
import { RepresentationCache, representationRoute, sendRepresentation } from '../http/representation.js';
import { useZodSchemas } from '../http/zod.js';
import { maxQueryLength } from './query.js';
import { maxSnippetSegments, searchKinds } from './repository.js';
import type { SearchService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    fullTextSearch: SearchService;
  }
}

const maxResults = 50;

const searchQuery = z.strictObject({
  q: z.string().min(1).max(maxQueryLength),
  module: slugParam.optional(),
  kind: optionalQueryEnum(searchKinds),
  limit: z.coerce.number().int().min(1).max(maxResults).default(20),
});

type SearchQuery = z.infer<typeof searchQuery>;

const snippetSegment = z
  .object({
    text: z.string().describe('Plain text, never HTML'),
    match: z.boolean().describe('Whether this piece is a term the query matched (to highlight)'),
  })
  .meta({ id: 'SnippetSegment' });

/** Every text of a hit is plain text, never HTML; clients escape it where they display it. */
const searchHit = z
  .object({
    kind: z.enum(searchKinds),
    moduleSlug: z.string(),
    id: z.string(),
    title: z.string().describe('Plain text, never HTML: escape it where you display it'),
    snippet: z
      .array(snippetSegment)
      .describe('The text around the match in plain-text pieces; joined, they are the excerpt ("…" where it is cut). Highlight the pieces with match: true'),
    score: z.number(),
  })
  .meta({ id: 'SearchHit' });

const graphqlSchema = /* GraphQL */ `
  "A piece of a search snippet. Plain text, never HTML."
  type SnippetSegment {
    text: String!
    "Whether this piece is a term the query matched (to highlight)."
    match: Boolean!
  }

  "A search result. Every text in it is plain text, never HTML: escape it where you display it."
  type SearchHit {
    "module, takeaway, flashcard, cheatSheetRow or revisionItem"
    kind: String!
    moduleSlug: String!
    id: ID!
    "Plain text, never HTML."
    title: String!
    "The text around the match in plain-text pieces; joined, they are the excerpt (… where it is cut)."
    snippet: [SnippetSegment!]!
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
    // Built and wired to content imports by createServices (src/services.ts).
    const service = app.services.search;
    app.decorate('fullTextSearch', service);

    const run = async (query: SearchQuery) => {
      const moduleId = query.module ? (await app.content.getModule(query.module)).id : undefined;
      return service.search({ q: query.q, moduleId, kind: query.kind, limit: query.limit });
    };

    app.graphql.extendSchema(graphqlSchema);
    app.graphqlListBounds.define('Query', { search: { argument: 'first', max: maxResults } });
    app.graphqlListBounds.define('SearchHit', { snippet: maxSnippetSegments });
    app.graphql.defineResolvers({
      Query: {
        // CONTENT_REQUIRES_AUTH is enforced for the whole GraphQL endpoint; results do not depend on the caller.
        search: (_root: unknown, args: { query: string; module?: string | null; kind?: string | null; first: number }) => {
          return run(parseArguments(searchQuery, { q: args.query, module: args.module, kind: args.kind, limit: args.first }));
        },
      },
    } as IResolvers);

    const results = new RepresentationCache(options.cacheBytes);
    const routes: FastifyPluginAsyncZod = async (scope) => {
      useZodSchemas(scope);
      if (options.requireAuth) scope.addHook('preValidation', requireKey);
      scope.get(
        '/search',
        {
          ...representationRoute,
          schema: {
            tags: ['content'],
            summary: 'Full-text search over live content, best first; the last word matches as a prefix (type-ahead)',
            querystring: searchQuery,
            response: {
              200: z.object({ items: z.array(searchHit) }),
              ...problemResponses(400, 404),
            },
          },
        },
        async (request, reply) => {
          // Results change only with content: cached per content stamp, so repeated (type-ahead) queries for a
          // common word are answered without ranking every match again.
          const { q, module, kind, limit } = request.query;
          const key = JSON.stringify([await app.changes.contentStamp(), q, module ?? null, kind ?? null, limit]);
          let representation = results.peek(key);
          if (!representation) {
            const items = await run(request.query);
            representation = results.get(key, () => ({ items }));
          }
          return sendRepresentation(request, reply, representation, options.requireAuth ? 'private, no-cache' : 'public, no-cache');
        },
      );
    };
    await app.register(routes, { prefix: '/v1' });
  },
  { name: 'mnemo-search', dependencies: ['mnemo-services', 'mnemo-content', 'mnemo-changes', 'mnemo-graphql'], fastify: '5.x' },
);
