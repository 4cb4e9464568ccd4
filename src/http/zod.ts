import type { FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';

/**
 * Routes declared with zod schemas validate and serialise through zod. Set per plugin context rather than at the
 * root, so plugins that bring JSON-schema routes of their own (mercurius) keep Fastify's defaults.
 */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
}
