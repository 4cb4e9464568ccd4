import fp from 'fastify-plugin';
import type { Principal } from './principal.js';
import { createAuthRepository } from './repository.js';
import { createAuthService, type AuthService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthService;
  }
  interface FastifyRequest {
    /** The caller, or null when the request carries no Authorization header. */
    principal: Principal | null;
  }
}

/** Resolves the bearer token of every request (REST and GraphQL alike) before any handler runs. */
export const authPlugin = fp(
  async (app) => {
    const service = createAuthService(createAuthRepository(app.database.db));
    app.decorate('auth', service);
    app.decorateRequest('principal', null);
    app.addHook('onRequest', (request, _reply, done) => {
      try {
        request.principal = service.authenticate(request.headers.authorization);
        done();
      } catch (error) {
        done(error as Error);
      }
    });
  },
  { name: 'mnemo-auth', dependencies: ['mnemo-database'], fastify: '5.x' },
);
