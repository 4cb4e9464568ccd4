import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, isAppError } from '../errors.js';
import { noFailedAuthLimit, type FailedAuthCounter } from './failed-auth-limiter.js';
import type { Principal } from './principal.js';
import type { AuthService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    auth: AuthService;
    /**
     * Failed authentications per client address (`request.ip`). Off until the protection plugin installs the
     * configured counter; replaceable by any FailedAuthCounter (a shared store, a test clock).
     */
    authFailures: FailedAuthCounter;
  }
  interface FastifyRequest {
    /** The caller, or null when the request carries no Authorization header. */
    principal: Principal | null;
  }
}

/**
 * Calls `ask` (the counter, or the service's authentication) and hands its answer to `then`: at once when it is a
 * plain value (the per-process counter), once settled when it is a promise (a shared store, a token lookup). A throw
 * or rejection goes to `fail`, so the request fails rather than skipping the check.
 */
function settle<T>(ask: () => T | PromiseLike<T>, then: (result: T) => void, fail: (error: Error) => void): void {
  let answer: T | PromiseLike<T>;
  try {
    answer = ask();
  } catch (error) {
    fail(error as Error);
    return;
  }
  if (typeof (answer as PromiseLike<T> | null)?.then === 'function') (answer as PromiseLike<T>).then(then, fail);
  else then(answer as T);
}

/**
 * Resolves the bearer token of every request (REST and GraphQL alike) before any handler runs. A request without
 * an Authorization header costs a header check and nothing more. One with a header is first checked against the
 * lockout of its client address (so a locked-out address costs no token lookup), then authenticated; a rejected
 * header is counted against the address, and any other outcome is reported to the counter as no failure (a shared
 * counter releases the attempt it reserved; nothing waits for that).
 */
const basicAuth = { basic: true };

export const authPlugin = fp(
  async (app) => {
    const service = app.services.auth;
    app.decorate('auth', service);
    app.decorate('authFailures', noFailedAuthLimit);
    app.decorateRequest('principal', null);

    // The answer is a promise even on a cache hit (no statement then): the lookup is a work, which another engine
    // awaits. The request goes on a few microtasks later, not a turn of the event loop.
    const authenticate = (request: FastifyRequest, header: string, address: string, counter: FailedAuthCounter, done: HookHandlerDoneFunction) =>
      settle(
        // xAPI tools speak Basic auth: the key id and its token, accepted on /xapi only.
        () => service.authenticate(header, request.url.startsWith('/xapi/') ? basicAuth : undefined),
        (principal) => {
          request.principal = principal;
          counter.recordNoFailure?.(address);
          done();
        },
        (error) => {
          if (isAppError(error) && error.code === 'MNEMO_AUTH_INVALID_TOKEN') {
            settle(() => counter.recordFailure(address), () => done(error), done);
          } else {
            counter.recordNoFailure?.(address);
            done(error);
          }
        },
      );

    app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const header = request.headers.authorization;
      if (header === undefined) {
        done();
        return;
      }
      const counter = app.authFailures;
      // request.ip follows TRUST_PROXY; a socket that is already gone may have no address left.
      const address = request.ip || 'unknown';
      settle(
        () => counter.lockedOutFor(address),
        (seconds) => {
          if (seconds > 0) {
            reply.header('retry-after', String(seconds));
            done(new AppError('MNEMO_AUTH_LOCKED_OUT', `too many failed authentications from this address; retry in ${seconds} seconds`));
          } else {
            authenticate(request, header, address, counter, done);
          }
        },
        done,
      );
    });
  },
  { name: 'mnemo-auth', dependencies: ['mnemo-services'], fastify: '5.x' },
);
