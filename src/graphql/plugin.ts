import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Location } from 'graphql';
import mercurius from 'mercurius';
import type { GraphqlConfig } from '../config.js';
import { requireKey } from '../auth/hooks.js';
import { contentVisibility } from '../auth/principal.js';
import { AppError } from '../errors.js';
import { buildGraphqlContext, responseTooLarge, type GraphqlCallerContext } from './context.js';
import { createErrorFormatter } from './error-formatter.js';
import { registerGraphiql } from './graphiql.js';
import { assertDocumentLimits, noIntrospectionRule, queryLimitsRule, singleOperationRule } from './limits.js';
import { assertOperationExists, assertOperationShape, boundedPersistedQueries } from './request-shape.js';
import { ListBounds } from './list-bounds.js';
import { GraphqlResponseCache, recordExecutedText } from './response-cache.js';
import { registerSchemaRoute } from './schema-route.js';

declare module 'fastify' {
  interface FastifyInstance {
    graphqlResponseCache: GraphqlResponseCache;
    /** Domain slices declare here how long each of their list fields can be (the cost rule's multipliers). */
    graphqlListBounds: ListBounds;
  }
}

declare module 'mercurius' {
  // The caller, resolved from the bearer token like every REST request; see buildGraphqlContext.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging adds mnemo's fields
  interface MercuriusContext extends GraphqlCallerContext {}
}

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
 * their schema, resolvers and loaders through `app.graphql.extendSchema/defineResolvers/defineLoaders`. With
 * introspection on, the SDL is also served at /graphql/schema.graphql; GraphiQL, when on, is served from installed
 * packages at /graphiql.
 */
export const graphqlPlugin = fp<{ config: GraphqlConfig; bodyLimit: number; requireAuth: boolean }>(
  async (app, { config, bodyLimit, requireAuth }) => {
    // An answer may depend on the caller only through the content visibility class; anonymous callers of an
    // endpoint that requires a key are refused before any cache is consulted.
    // The content stamp follows live content only (an import into an archived module writes no change), so the
    // answers of callers who also see archived modules (admins) are never cached.
    const responseCache = new GraphqlResponseCache(config.responseCacheBytes, (request) => {
      if (requireAuth && !request.principal) return undefined;
      const visibility = contentVisibility(request.principal);
      return visibility.includeArchived ? undefined : JSON.stringify(visibility);
    });
    app.decorate('graphqlResponseCache', responseCache);
    const listBounds = new ListBounds();
    app.decorate('graphqlListBounds', listBounds);
    const validationRules = [
      queryLimitsRule({ maxDepth: config.maxDepth, maxAliases: config.maxAliases, maxCost: config.maxCost, listBounds }),
      singleOperationRule,
      ...(config.introspection ? [] : [noIntrospectionRule]),
    ];
    await app.register(mercurius, {
      schema: baseSchema,
      resolvers: { Query: { apiVersion: () => '1' } },
      path: '/graphql',
      // Mercurius' GraphiQL page loads React and GraphiQL from a CDN; mnemo serves its own (registerGraphiql).
      graphiql: false,
      jit: config.jit,
      validationRules,
      allowBatchedQueries: config.batchLimit > 0,
      ...(config.persistedQueries > 0 ? { persistedQueryProvider: boundedPersistedQueries(config.persistedQueries) } : {}),
      errorFormatter: createErrorFormatter({ suggestions: config.suggestions }) as never,
      context: (request) => buildGraphqlContext(request, { maxResponseBytes: config.maxResponseBytes }),
      additionalRouteOptions: {
        bodyLimit,
        // Fastify would add HEAD to the GET route, and mercurius refuses mutations only when the method is GET.
        exposeHeadRoute: false,
        ...(config.responseCacheBytes > 0 ? { preHandler: responseCache.lookup } : {}),
        // The size cap comes first, so an oversized answer is neither sent nor cached.
        onSend: [capResponseSize(config.maxResponseBytes), ...(config.responseCacheBytes > 0 ? [responseCache.store] : [])],
        // Runs before mercurius parses anything: the caller, then the shape, batch size and document size of the raw
        // request (before Fastify's schema coerces `["..."]` into a string and skips the token count).
        preValidation: async (request) => {
          if (requireAuth) await requireKey(request);
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
            const query = assertOperationShape(operation, request.method === 'GET');
            if (query === undefined) continue;
            if (query.length > config.maxDocumentBytes) {
              throw new AppError(
                'MNEMO_GRAPHQL_DOCUMENT_TOO_LARGE',
                `the document is ${query.length} characters; the limit is ${config.maxDocumentBytes} (send large values such as module sources as variables)`,
              );
            }
            assertDocumentLimits(query, config.maxTokens);
            const operationName = (operation as { operationName?: unknown }).operationName;
            if (request.method === 'GET' && typeof operationName === 'string') assertOperationExists(query, operationName);
          }
        },
      },
    });
    if (config.introspection) registerSchemaRoute(app, { requireAuth });
    if (config.graphiql) registerGraphiql(app, { graphqlPath: '/graphql' });
    // Mercurius falls back to reading a query that fails to parse as a JSON-encoded AST; only documents parsed
    // here (which carry a Location) are executed, so a hand-made "AST" can never reach validation.
    // Every domain slice has extended the schema by now: a list field without a bound would have no real cost.
    app.addHook('onReady', async () => listBounds.assertComplete(app.graphql.schema));
    app.graphql.addHook('preParsing', async (_schema, source, context) => {
      recordExecutedText(context.reply.request, source);
    });
    app.graphql.addHook('preValidation', async (_schema, document) => {
      if (!(document?.loc instanceof Location)) {
        throw new AppError('MNEMO_GRAPHQL_SYNTAX', 'the query is not a GraphQL document');
      }
    });
  },
  { name: 'mnemo-graphql', fastify: '5.x' },
);

/**
 * The last line behind the cost rule and the text budget: a serialised answer over the cap is replaced by a
 * GraphQL error (never a truncated body). Text resolvers normally stop such an answer earlier (ResponseBudget).
 */
function capResponseSize(maxBytes: number) {
  return async (_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    if (typeof payload !== 'string' || payload.length * 3 <= maxBytes || Buffer.byteLength(payload) <= maxBytes) return payload;
    const error = responseTooLarge();
    reply.code(error.status).type('application/json; charset=utf-8');
    return JSON.stringify({ data: null, errors: [{ message: error.message, extensions: { code: error.code } }] });
  };
}
