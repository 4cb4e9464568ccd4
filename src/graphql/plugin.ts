import fp from 'fastify-plugin';
import { Location } from 'graphql';
import mercurius from 'mercurius';
import type { Principal } from '../auth/principal.js';
import type { GraphqlConfig } from '../config.js';
import { AppError } from '../errors.js';
import { createErrorFormatter } from './error-formatter.js';
import { assertTokenLimit, noIntrospectionRule, queryLimitsRule } from './limits.js';
import { GraphqlResponseCache } from './response-cache.js';

declare module 'fastify' {
  interface FastifyInstance {
    graphqlResponseCache: GraphqlResponseCache;
  }
}

declare module 'mercurius' {
  interface MercuriusContext {
    requestId: string;
    /** The caller, resolved from the bearer token like every REST request. */
    principal: Principal | null;
  }
}

/** Largest `first` any connection accepts. */
export const maxPageSize = 100;

/** Shared types every domain slice builds on; slices add their fields with `extend type Query`. */
const baseSchema = /* GraphQL */ `
  "Rendering of a text field: the Markdown source, sanitised HTML, or plain text."
  enum TextFormat {
    MARKDOWN
    HTML
    TEXT
  }

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type Query {
    "Version of this API."
    apiVersion: String!
  }

  "Domain slices add the mutations with extend type Mutation."
  type Mutation

  schema {
    query: Query
    mutation: Mutation
  }
`;

/**
 * Mercurius at /graphql with the abuse limits applied before execution: tokens at parse time; depth, aliases,
 * cost and introspection as validation rules; batching off unless configured, and capped. Domain plugins add
 * their schema, resolvers and loaders through `app.graphql.extendSchema/defineResolvers/defineLoaders`.
 */
export const graphqlPlugin = fp<{ config: GraphqlConfig; bodyLimit: number }>(
  async (app, { config, bodyLimit }) => {
    const responseCache = new GraphqlResponseCache(config.responseCacheBytes);
    app.decorate('graphqlResponseCache', responseCache);
    const validationRules = [
      queryLimitsRule({
        maxDepth: config.maxDepth,
        maxAliases: config.maxAliases,
        maxCost: config.maxCost,
        maxPageSize,
        defaultListSize: 50,
      }),
      ...(config.introspection ? [] : [noIntrospectionRule]),
    ];
    await app.register(mercurius, {
      schema: baseSchema,
      resolvers: { Query: { apiVersion: () => '1' } },
      path: '/graphql',
      graphiql: config.graphiql,
      jit: config.jit,
      validationRules,
      allowBatchedQueries: config.batchLimit > 0,
      ...(config.persistedQueries > 0
        ? { persistedQueryProvider: mercurius.persistedQueryDefaults.automatic(config.persistedQueries) }
        : {}),
      errorFormatter: createErrorFormatter({ suggestions: config.suggestions }) as never,
      context: (request) => ({ requestId: String(request.id), principal: request.principal }),
      additionalRouteOptions: {
        bodyLimit,
        ...(config.responseCacheBytes > 0 ? { preHandler: responseCache.lookup, onSend: responseCache.store } : {}),
        // Runs before mercurius parses anything: batch size and document size are checked on the raw request.
        preValidation: async (request) => {
          const operations = request.method === 'GET' ? request.query : request.body;
          if (Array.isArray(operations)) {
            if (config.batchLimit === 0) {
              throw new AppError('MNEMO_GRAPHQL_BATCH_DISABLED', 'batched queries are disabled on this server');
            }
            if (operations.length > config.batchLimit) {
              throw new AppError(
                'MNEMO_GRAPHQL_BATCH_TOO_LARGE',
                `a batch may hold at most ${config.batchLimit} operations; this one has ${operations.length}`,
              );
            }
          }
          for (const operation of Array.isArray(operations) ? operations : [operations]) {
            const query = (operation as { query?: unknown } | null)?.query;
            if (typeof query === 'string') assertTokenLimit(query, config.maxTokens);
          }
        },
      },
    });
    // Mercurius falls back to reading a query that fails to parse as a JSON-encoded AST; only documents parsed
    // here (which carry a Location) are executed, so a hand-made "AST" can never reach validation.
    app.graphql.addHook('preValidation', async (_schema, document) => {
      if (!(document?.loc instanceof Location)) {
        throw new AppError('MNEMO_GRAPHQL_SYNTAX', 'the query is not a GraphQL document');
      }
    });
  },
  { name: 'mnemo-graphql', fastify: '5.x' },
);
