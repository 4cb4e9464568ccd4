import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { packageRoot } from '../lib/package-root.js';

/** package.json's version. */
export const packageVersion = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The OpenAPI 3.1 document is generated from the zod schemas the routes validate with, so it cannot drift from
 * behaviour. Served at /openapi.json; interactive docs at /docs.
 */
export const docsPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'mnemo',
          version: packageVersion,
          description:
            'Learning-content API: modules with key takeaways, flashcards, cheat sheets and quick-revision items. ' +
            'Errors are RFC 9457 problem+json. GraphQL: POST /graphql; its schema as SDL at GET /graphql/schema.graphql (when introspection is on).',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'An API key: mnemo_...' },
            basic: { type: 'http', scheme: 'basic', description: 'On /xapi only: the key id as the username, its token as the password' },
          },
        },
        tags: [
          { name: 'content', description: 'Modules and their sections (anonymous unless CONTENT_REQUIRES_AUTH)' },
          { name: 'me', description: 'The learner of a learner key: answers, card states, study queue, progress' },
          { name: 'learners', description: 'Learners and their data, for admin and integration keys' },
          { name: 'keys', description: 'API keys (admin)' },
          { name: 'xapi', description: 'xAPI statements: the outbox pushed to an LRS, and the read-only statement resource' },
          { name: 'health', description: 'Liveness and readiness' },
        ],
      },
      hideUntagged: true,
      // GraphQL routes carry mercurius' JSON schemas, not zod ones; GraphQL documents itself (introspection, SDL).
      transform: createJsonSchemaTransform({ skipList: ['/graphql'] }),
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'mnemo-docs', fastify: '5.x' },
);
