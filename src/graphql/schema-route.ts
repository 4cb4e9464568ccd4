import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { printSchema } from 'graphql';
import { requireAuthenticated } from '../auth/principal.js';

export const schemaPath = '/graphql/schema.graphql';

/**
 * The schema as SDL at `GET /graphql/schema.graphql`, for client generators: the printed final schema (every
 * domain slice's extensions included), with an ETag so a generator can revalidate cheaply (weak: the
 * compression hook may send another encoding of the same text under it). Registered only
 * when introspection is on (otherwise 404), and behind a key when the endpoint itself requires one.
 */
export function registerSchemaRoute(app: FastifyInstance, options: { requireAuth: boolean }): void {
  let printed: { body: string; etag: string } | undefined;
  const cacheControl = options.requireAuth ? 'private, no-cache' : 'public, no-cache';
  app.get(
    schemaPath,
    {
      schema: { hide: true },
      ...(options.requireAuth ? { preValidation: async (request) => void requireAuthenticated(request.principal) } : {}),
    },
    async (request, reply) => {
      if (!printed) {
        const body = `${printSchema(app.graphql.schema)}\n`;
        printed = { body, etag: `W/"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
      }
      reply.header('etag', printed.etag).header('cache-control', cacheControl).header('vary', 'Accept-Encoding');
      const ifNoneMatch = request.headers['if-none-match'];
      if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === printed!.etag.slice(2))) {
        return reply.code(304).send();
      }
      return reply.type('text/plain; charset=utf-8').send(printed.body);
    },
  );
}
