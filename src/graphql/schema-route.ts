import type { FastifyInstance } from 'fastify';
import { printSchema } from 'graphql';
import { requireKey } from '../auth/hooks.js';
import { createFileRepresentation, representationRoute, sendRepresentation, type Representation } from '../http/representation.js';

export const schemaPath = '/graphql/schema.graphql';

/**
 * The schema as SDL at `GET /graphql/schema.graphql`, for client generators: the printed final schema (every
 * domain slice's extensions included), sent like every cached representation (ETag, 304, compressed variants).
 * Registered only when introspection is on (otherwise 404), and behind a key when the endpoint itself requires one.
 */
export function registerSchemaRoute(app: FastifyInstance, options: { requireAuth: boolean }): void {
  let printed: Representation | undefined;
  const cacheControl = options.requireAuth ? 'private, no-cache' : 'public, no-cache';
  app.get(schemaPath, { schema: { hide: true }, ...representationRoute, ...(options.requireAuth ? { preValidation: requireKey } : {}) }, async (request, reply) => {
    printed ??= createFileRepresentation(`${printSchema(app.graphql.schema)}\n`, 'text/plain; charset=utf-8');
    return sendRepresentation(request, reply, printed, cacheControl);
  });
}
