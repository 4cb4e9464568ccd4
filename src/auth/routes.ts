import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problemResponses } from '../http/problem-schema.js';
import { useZodSchemas } from '../http/zod.js';
import { allow, requireRole } from './principal.js';
import { createdKeySchema, createKeyBody, keyIdParams, keyInfoSchema } from './schemas.js';

const security = [{ bearer: [] }];

/** Admin management of API keys. */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  useZodSchemas(app);
  const service = app.auth;
  app.addHook('preValidation', allow('admin'));

  app.post(
    '/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'Create an admin or integration key (admin); the token is in this response only',
        security,
        body: createKeyBody,
        response: { 201: createdKeySchema, ...problemResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const admin = requireRole(request.principal, 'admin');
      return reply.code(201).send(await service.createKey(request.body, admin));
    },
  );

  app.get(
    '/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'List API keys without their tokens (admin)',
        security,
        response: { 200: z.object({ items: z.array(keyInfoSchema) }), ...problemResponses(401, 403) },
      },
    },
    async (request) => {
      requireRole(request.principal, 'admin');
      return { items: await service.listKeys() };
    },
  );

  app.delete(
    '/keys/:id',
    {
      schema: {
        tags: ['keys'],
        summary: 'Revoke a key (admin); it stops working immediately',
        security,
        params: keyIdParams,
        response: { 200: keyInfoSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => {
      requireRole(request.principal, 'admin');
      return service.revokeKey(request.params.id);
    },
  );
};
