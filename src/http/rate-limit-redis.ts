import type { FastifyBaseLogger } from 'fastify';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import { Redis } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { redactUrl } from '../lib/redact-url.js';

/** Startup could not use REDIS_URL: the message names the variable, never its password. */
export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

/** After a failed Redis command, requests count in memory for this long before one of them tries Redis again. */
export const REDIS_RETRY_AFTER_MS = 5000;

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** The store interface the plugin calls; `read` is used for `{ increment: false }` checks. */
interface Store extends FastifyRateLimitStore {
  read?(key: string, callback: Callback, timeWindow: number, max: number): void;
}

/**
 * The one Redis connection an instance keeps for everything it shares with the other instances (rate limits, the
 * failed-authentication lockout), and the circuit breaker that all of them follow: while it is open, every user
 * counts in this process's memory instead.
 */
export interface SharedRedis {
  readonly client: Redis;
  /** REDIS_KEY_PREFIX: each user adds a part of its own (`rl:`, `af:`). */
  readonly keyPrefix: string;
  /** A command unanswered after this long has failed (ioredis rejects it): no request waits longer on Redis. */
  readonly commandTimeoutMs: number;
  /**
   * Whether the next command should go to Redis: not while disconnected (it would fail at once), and after a failure
   * only once every REDIS_RETRY_AFTER_MS (one probe at a time) until a command succeeds again.
   */
  useRedis(): boolean;
  /** A command failed or timed out: count in memory for a while (the switch is logged once per outage). */
  trip(reason: string): void;
  /** A command succeeded: shared again (logged when it ends an outage). */
  recover(): void;
  /** Disconnects at once (app close): nothing is left to keep the process alive or to reconnect. */
  close(): void;
}

/**
 * Connects to REDIS_URL for what is shared by every instance (`uses`: "rate limits", "failed authentications",
 * named in the log lines), and fails startup if Redis does not answer: an operator who set REDIS_URL asked for
 * shared limits, and an instance that silently counted alone would give each client N times the limit without
 * anyone noticing (as DATABASE_URL fails startup, src/db/postgres.ts). One connection serves every user.
 *
 * At runtime a Redis outage must cost neither errors nor latency, and must not switch limits off: every failed or
 * timed-out command falls back to this instance's in-memory counter, which is what runs without REDIS_URL. So
 * during an outage each instance enforces the limit on its own (clients get at most N times the limit across N
 * instances, where the rate-limit plugin's `skipOnError` would give no limit at all, and its default a 500 for
 * every request); requests never wait for a dead Redis (commands fail at once while disconnected, since nothing is
 * queued offline, and time out after `commandTimeoutMs` when Redis hangs; after a failure only one request every
 * REDIS_RETRY_AFTER_MS probes Redis while the rest count in memory); and the switch both ways is logged once.
 * ioredis reconnects by itself, and the reconnect (or the first successful command) makes limits shared again.
 */
export async function openSharedRedis(config: RedisConfig, log: FastifyBaseLogger, uses: readonly string[]): Promise<SharedRedis> {
  const what = uses.join(' and ');
  const client = new Redis(config.url, {
    lazyConnect: true,
    connectionName: 'mnemo',
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    // Fail commands at once while disconnected instead of queueing them until Redis is back (requests would hang),
    // and do not resend a command that was in flight when the connection broke: the request has counted in memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect for ever (backing off to 2 s) after startup: an outage must end by itself.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    // ioredis enables TLS for "rediss://" only when the URL is written in lowercase.
    ...(new URL(config.url).protocol === 'rediss:' ? { tls: {} } : {}),
  });

  let closing = false;
  let lastError: string | undefined;
  // While tripped, counts go to memory; `retryAt` is when one request may probe Redis again (one at a time).
  let tripped = false;
  let retryAt = 0;
  let probing = false;

  const trip = (reason: string) => {
    retryAt = Date.now() + REDIS_RETRY_AFTER_MS;
    probing = false;
    if (tripped || closing) return;
    tripped = true;
    log.warn({ reason }, `Redis is unavailable: ${what} are counted per instance until it answers again`);
  };
  const recover = () => {
    probing = false;
    if (!tripped) return;
    tripped = false;
    log.info(`Redis answers again: ${what} are shared across instances again`);
  };
  // ioredis emits "error" on every failed (re)connect attempt; logging it each time would flood the log every 2 s.
  client.on('error', (error: Error) => {
    lastError = error.message;
  });
  const useRedis = (): boolean => {
    if (client.status !== 'ready') return false;
    if (!tripped) return true;
    if (probing || Date.now() < retryAt) return false;
    probing = true;
    return true;
  };

  try {
    await withTimeout(
      (async () => {
        await client.connect();
        await client.ping();
      })(),
      config.connectTimeoutMs + config.commandTimeoutMs,
      `no answer within ${config.connectTimeoutMs + config.commandTimeoutMs} ms`,
    );
  } catch (error) {
    closing = true;
    client.disconnect();
    // ioredis rejects connect() with a generic "Connection is closed."; the "error" event before it says why.
    const message = error instanceof Error ? error.message : String(error);
    const reason =
      lastError === undefined || lastError === message ? message : message === 'Connection is closed.' ? lastError : `${message} (${lastError})`;
    throw new RedisUrlError(`REDIS_URL=${redactUrl(config.url)}: ${reason}`, { cause: error });
  }

  // From here on the connection's losses and returns switch between shared and per-instance counting.
  client.on('close', () => trip(lastError ?? 'connection closed'));
  client.on('ready', () => {
    lastError = undefined;
    retryAt = 0;
    recover();
  });

  log.info({ redis: redactUrl(config.url), keyPrefix: config.keyPrefix }, `${what} are shared across instances through Redis`);
  return {
    client,
    keyPrefix: config.keyPrefix,
    commandTimeoutMs: config.commandTimeoutMs,
    useRedis,
    trip,
    recover,
    close: () => {
      closing = true;
      // No QUIT round trip to wait for: a request still waiting on a command sees it fail and counts in memory.
      client.disconnect();
    },
  };
}

/**
 * The rate-limit plugin's `store`: counts in Redis under `<REDIS_KEY_PREFIX>rl:`, falling back to this process's
 * memory (the plugin's LocalStore) while `redis` is unavailable.
 */
export function sharedRateLimitStore(redis: SharedRedis): FastifyRateLimitStoreCtor {
  const namespace = `${redis.keyPrefix}rl:`;

  /** Redis first; memory when Redis is down or fails this command. */
  class FailoverStore implements Store {
    constructor(
      private readonly shared: Store,
      private readonly local: Store,
    ) {}

    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      this.run('incr', key, callback, timeWindow, max);
    }

    read(key: string, callback: Callback, timeWindow: number, max: number): void {
      this.run('read', key, callback, timeWindow, max);
    }

    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): Store {
      return new FailoverStore(this.shared.child(routeOptions), this.local.child(routeOptions));
    }

    private run(method: 'incr' | 'read', key: string, callback: Callback, timeWindow: number, max: number): void {
      const local = () => this.local[method]!(key, callback, timeWindow, max);
      if (!redis.useRedis()) return local();
      this.shared[method]!(
        key,
        (error, result) => {
          if (error || !result) {
            redis.trip(error?.message ?? 'no result');
            return local();
          }
          redis.recover();
          callback(null, result);
        },
        timeWindow,
        max,
      );
    }
  }

  // The plugin constructs the store with its settings (continueExceeding, exponentialBackoff; `cache` is not passed on).
  return function SharedStore(options: { continueExceeding?: boolean; exponentialBackoff?: boolean; cache?: number }) {
    const continueExceeding = options.continueExceeding ?? false;
    const exponentialBackoff = options.exponentialBackoff ?? false;
    return new FailoverStore(
      new RedisStore(continueExceeding, exponentialBackoff, redis.client, namespace),
      new LocalStore(continueExceeding, exponentialBackoff, options.cache),
    );
  } as unknown as FastifyRateLimitStoreCtor;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
