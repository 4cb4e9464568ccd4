import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { authPlugin } from './auth/plugin.js';
import { authRoutes } from './auth/routes.js';
import { changesPlugin, changesRoutes } from './changes/plugin.js';
import { contentAdminRoutes } from './content/admin-routes.js';
import { contentPlugin } from './content/plugin.js';
import { contentRoutes } from './content/routes.js';
import { databasePlugin } from './db/plugin.js';
import { graphqlPlugin } from './graphql/plugin.js';
import { docsPlugin } from './http/docs.js';
import { registerCompression } from './http/compression.js';
import { registerDrain, type DrainOptions } from './http/drain.js';
import { healthRoutes } from './http/health-routes.js';
import { protectionPlugin } from './http/protection.js';
import { clientErrorHandler, normalizeError, registerProblemHandlers, sendProblem } from './http/problem.js';
import { learningPlugin } from './learning/plugin.js';
import { learningRoutes } from './learning/routes.js';
import { searchPlugin } from './search/plugin.js';
import { servicesPlugin } from './services.js';
import { xapiPlugin } from './xapi/plugin.js';
import { xapiAdminRoutes, xapiRoutes } from './xapi/routes.js';
import { useBoundedJson } from './http/json-body.js';
import { registerSecurityHeaders, securityHeaders } from './http/security-headers.js';
import { exposeRequestId, requestIdOptions } from './http/request-id.js';

export interface BuildAppOptions {
  /** Fastify's logger option; `main.ts` passes a configured pino logger, tests usually none. */
  logger?: FastifyServerOptions['logger'];
  /**
   * Drain keep-alive connections on close instead of destroying idle ones at once (src/http/drain.ts). `main.ts`
   * passes it; tests that listen in-process close at once.
   */
  drain?: DrainOptions;
}

/**
 * Builds the application on the given configuration: infrastructure plugins first (database, auth, errors,
 * compression, docs, GraphQL), then domain services, then routes. Does not listen; `main.ts` owns the process.
 */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    ...requestIdOptions,
    bodyLimit: config.limits.jsonBodyBytes,
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.requestTimeoutMs,
    return503OnClosing: false,
    trustProxy: config.protection.trustProxy,
    clientErrorHandler,
    // Errors Fastify raises before routing (a malformed URL, a bad Content-Type) get the same problem+json.
    frameworkErrors: (error, request, reply) => sendProblem(request, reply.headers(securityHeaders), normalizeError(error, request)),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  }).withTypeProvider<ZodTypeProvider>();

  registerSecurityHeaders(app);
  useBoundedJson(app);
  registerProblemHandlers(app);
  exposeRequestId(app);
  if (options.drain) registerDrain(app, options.drain);

  await app.register(databasePlugin, { config });
  await app.register(servicesPlugin, { config });
  await app.register(authPlugin);
  await app.register(protectionPlugin, { config: config.protection });
  registerCompression(app);
  await app.register(docsPlugin);
  // GraphQL carries module sources in importModule, so its body limit follows the import limit.
  await app.register(graphqlPlugin, {
    config: config.graphql,
    requireAuth: config.contentRequiresAuth,
    bodyLimit: Math.max(config.limits.jsonBodyBytes, config.limits.importBodyBytes + 64 * 1024),
  });

  await app.register(contentPlugin);
  await app.register(changesPlugin);
  await app.register(searchPlugin, { requireAuth: config.contentRequiresAuth, cacheBytes: Math.floor(config.responseCacheBytes / 8) });
  await app.register(learningPlugin);
  await app.register(xapiPlugin, { config: config.xapi });

  await app.register(healthRoutes);
  await app.register(contentRoutes, { prefix: '/v1', cacheBytes: config.responseCacheBytes, requireAuth: config.contentRequiresAuth });
  await app.register(contentAdminRoutes, { prefix: '/v1', importBodyBytes: config.limits.importBodyBytes });
  await app.register(changesRoutes, { prefix: '/v1', requireAuth: config.contentRequiresAuth });
  await app.register(authRoutes, { prefix: '/v1' });
  await app.register(learningRoutes, { prefix: '/v1' });
  await app.register(xapiAdminRoutes, { prefix: '/v1' });
  // An answer's write transaction finishes within its queue wait (10 s) and the database's own bound on waiting.
  const writeBoundMs = config.postgres ? config.postgres.statementTimeoutMs : config.sqlite.busyTimeoutMs;
  await app.register(xapiRoutes, { prefix: '/xapi', consistencyLagMs: 10_000 + writeBoundMs + 5000 });
  return app;
}
