import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { useZodSchemas } from './zod.js';

const status = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ database: z.boolean(), migrations: z.boolean(), storage: z.boolean() }).optional(),
});

/**
 * Liveness (the process answers) and readiness (the database answers, its schema is current, and storage takes
 * writes: not while the disk is full or the database file was replaced under the server).
 */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  useZodSchemas(app);
  const schema = { tags: ['health'], response: { 200: status, 503: status } };
  app.get('/healthz', { schema }, async () => ({ status: 'ok' as const }));
  app.get('/readyz', { schema }, async (_request, reply) => {
    const checks = await app.store.health();
    const ready = checks.database && checks.migrations && checks.storage;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks });
  });
};
