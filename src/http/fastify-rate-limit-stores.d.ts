// The stores @fastify/rate-limit ships (CommonJS, untyped). src/http/rate-limit-redis.ts wraps them so that the
// shared (Redis) and the per-instance (memory) counters behave exactly as the plugin's own.

declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { FastifyRateLimitStore } from '@fastify/rate-limit';
  import type { Redis } from 'ioredis';

  type RedisStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => FastifyRateLimitStore;
  const RedisStore: RedisStoreCtor;
  export default RedisStore;
}

declare module '@fastify/rate-limit/store/LocalStore.js' {
  import type { FastifyRateLimitStore } from '@fastify/rate-limit';

  type LocalStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => FastifyRateLimitStore;
  const LocalStore: LocalStoreCtor;
  export default LocalStore;
}
