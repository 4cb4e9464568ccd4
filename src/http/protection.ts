import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import fp from 'fastify-plugin';
import { addressKey, createFailedAuthLimiter } from '../auth/failed-auth-limiter.js';
import type { ProtectionConfig } from '../config.js';
import { AppError } from '../errors.js';
import { sendProblem } from './problem.js';

/**
 * What keeps clients from taking the server down or reaching what they should not: CORS
 * (closed unless configured), a lockout of client addresses that keep presenting bad tokens, rate limits per key
 * (per IP when anonymous), and load shedding with 503 and Retry-After when the event loop falls behind, instead of
 * queueing without bound. The lockout and the rate limits are counted in Redis, and so shared by every instance,
 * when REDIS_URL is set; in this process's memory otherwise.
 */
export const protectionPlugin = fp<{ config: ProtectionConfig }>(
  async (app, { config }) => {
    if (config.corsOrigins.length) {
      await app.register(cors, { origin: config.corsOrigins, methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'], maxAge: 600 });
    }
    if (config.maxEventLoopDelayMs > 0) {
      await app.register(underPressure, {
        maxEventLoopDelay: config.maxEventLoopDelayMs,
        // The default one-second window: shorter windows can hold no sample at all under normal busy load, which
        // under-pressure reads as an infinite delay and sheds healthy traffic.
        retryAfter: 5,
        pressureHandler: (request, reply) => {
          reply.header('retry-after', '5');
          sendProblem(request, reply, new AppError('MNEMO_OVERLOADED', 'the server is overloaded; retry after a few seconds'));
        },
      });
    }
    // One Redis connection for everything shared across instances (rate limits, the failed-authentication lockout):
    // startup fails if Redis does not answer; at runtime an outage falls back to counting per instance
    // (src/http/rate-limit-redis.ts says why). Disconnected on close so shutdown and tests never wait on it.
    // Imported only then: ioredis is not parsed at a startup that does not use it.
    const uses = [...(config.rateLimitPerMinute > 0 ? ['rate limits'] : []), ...(config.authFailuresPerMinute > 0 ? ['failed authentications'] : [])];
    const sharing = config.redis && uses.length ? await import('./rate-limit-redis.js') : undefined;
    const shared = sharing && config.redis ? await sharing.openSharedRedis(config.redis, app.log, uses) : undefined;
    if (shared) {
      app.addHook('onClose', async () => shared.close());
    } else if (config.redis) {
      app.log.warn('REDIS_URL is set but RATE_LIMIT_PER_MINUTE=0 and AUTH_FAILURES_PER_MINUTE=0 turn off all it would share: Redis is not used');
    }

    if (config.authFailuresPerMinute > 0) {
      // Counted by the auth hook, which runs before the rate limit below: a locked-out address is refused before its
      // token is looked up. In Redis, shared by every instance, when REDIS_URL is set (src/auth/failed-auth-redis.ts);
      // per process otherwise.
      const options = {
        maxFailures: config.authFailuresPerMinute,
        lockoutMs: config.authLockoutSeconds * 1000,
        onLockout: (address: string, seconds: number) => app.log.warn({ address, seconds }, 'too many failed authentications: address locked out'),
      };
      app.authFailures = shared
        ? (await import('../auth/failed-auth-redis.js')).createSharedFailedAuthCounter(shared, options)
        : createFailedAuthLimiter(options);
    }
    if (config.rateLimitPerMinute > 0) {
      // Registered after the auth hook, so the bucket is the caller's key; X-Forwarded-For only counts when
      // trustProxy says so, because request.ip follows Fastify's trustProxy setting. The same key (API key id, or
      // client IP) names the counter in Redis, under REDIS_KEY_PREFIX.
      await app.register(rateLimit, {
        ...(sharing && shared ? { store: sharing.sharedRateLimitStore(shared) } : {}),
        global: true,
        timeWindow: 60_000,
        // Anonymous callers by address as the lockout counts them (IPv6 per /64): a host holds a whole /64 and
        // could otherwise rotate through it, a fresh budget (and a Redis key) per address.
        keyGenerator: (request) => (request.principal ? `key:${request.principal.keyId}` : `ip:${addressKey(request.ip)}`),
        max: async (request) =>
          request.principal && request.principal.role !== 'learner' ? config.rateLimitPerMinute * config.rateLimitStaffMultiplier : config.rateLimitPerMinute,
        errorResponseBuilder: (_request, context) =>
          new AppError('MNEMO_RATE_LIMITED', `rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`),
      });
    }
  },
  { name: 'mnemo-protection', dependencies: ['mnemo-auth'], fastify: '5.x' },
);

