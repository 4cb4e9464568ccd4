import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { RedisConfig } from '../../src/config.js';
import { redactUrl } from '../../src/lib/redact-url.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/*
 * Redis for the tests: TEST_REDIS_URL when set, else a server at 127.0.0.1:6379 if it answers PING. There is no
 * fallback that starts one: no npm package ships a runnable redis-server (redis-memory-server downloads and
 * compiles the sources at install time, from a host this project's machines cannot reach), so without a server the
 * tests that need one fail with a message saying how to provide it. They never skip: a suite that passes without
 * having run them would say nothing about shared rate limits.
 */

export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/** Every key the tests write starts with this; each test then adds its own part (see useTestRedis). */
export const TEST_KEY_PREFIX = 'mnemo-test:';

/** `localUrl` is overridable so the "no Redis" failure can be tested on a machine that has a local server. */
export async function resolveTestRedisUrl(options: { env?: NodeJS.ProcessEnv; localUrl?: string } = {}): Promise<string> {
  const env = options.env ?? process.env;
  const localUrl = options.localUrl ?? LOCAL_REDIS_URL;
  const tried: string[] = [];
  const explicit = env.TEST_REDIS_URL;
  if (explicit) {
    const failure = await ping(explicit, 5_000);
    if (failure === undefined) return explicit;
    tried.push(`TEST_REDIS_URL (${redactUrl(explicit)}): ${failure}`);
    // Falling through keeps the tests running, but a URL someone set and that does not work should be seen.
    console.warn(`[redis] TEST_REDIS_URL is set but unusable (${failure}); trying the local server`);
  } else {
    tried.push('TEST_REDIS_URL: not set');
  }
  const failure = await ping(localUrl, 1_000);
  if (failure === undefined) return localUrl;
  tried.push(`local server (${redactUrl(localUrl)}): ${failure}`);
  throw new Error(
    'No Redis server for the shared rate-limit tests: set TEST_REDIS_URL=redis://[:password@]host:port[/db] to a ' +
      'server the tests may write keys to (they only touch keys under "mnemo-test:"), or run one on 127.0.0.1:6379 ' +
      `(Debian: apt-get install redis-server). Tried:\n  - ${tried.join('\n  - ')}`,
  );
}

/** Resolves to undefined when the server answers PING, else to the reason it can't be used. */
async function ping(url: string, timeoutMs: number): Promise<string | undefined> {
  const client = testRedisClient(url, timeoutMs);
  let lastError: string | undefined;
  client.on('error', (error: Error) => (lastError = error.message));
  try {
    await client.connect();
    return (await client.ping()) === 'PONG' ? undefined : 'PING was not answered with PONG';
  } catch (error) {
    return lastError ?? (error instanceof Error ? error.message : String(error));
  } finally {
    client.disconnect();
  }
}

/** A client that neither retries nor queues: test helpers want an answer or an error. */
export function testRedisClient(url: string, timeoutMs = 5_000): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
}

export interface TestRedis {
  /** The server's URL (TEST_REDIS_URL or the local one). */
  readonly url: string;
  /** A client on it, for reading what the app wrote. */
  readonly client: Redis;
  /** A key prefix no other test (in this file, another file, or another run) uses; deleted in afterAll. */
  newPrefix(): string;
  /** The app's Redis settings for this server and `keyPrefix`, the server's own timeouts unless overridden. */
  config(keyPrefix: string, overrides?: Partial<RedisConfig>): RedisConfig;
}

/**
 * The file's Redis: resolved in beforeAll (failing the file if there is none), and in afterAll every key under the
 * prefixes handed out is deleted (only those: the server may be shared with other files, runs or developers).
 */
export function useTestRedis(): TestRedis {
  let url: string | undefined;
  let client: Redis | undefined;
  const prefixes: string[] = [];
  beforeAll(async () => {
    url = await resolveTestRedisUrl();
    client = testRedisClient(url);
    await client.connect();
  });
  afterAll(async () => {
    if (!client) return;
    for (const prefix of prefixes) await deleteKeys(client, prefix);
    client.disconnect();
  });
  const ready = () => {
    if (!url || !client) throw new Error('useTestRedis(): Redis is resolved in beforeAll');
    return { url, client };
  };
  return {
    get url() {
      return ready().url;
    },
    get client() {
      return ready().client;
    },
    newPrefix() {
      // Hex only, so the prefix is also a literal SCAN pattern.
      const prefix = `${TEST_KEY_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}:`;
      prefixes.push(prefix);
      return prefix;
    },
    config: (keyPrefix, overrides = {}) => ({ url: ready().url, keyPrefix, connectTimeoutMs: 5000, commandTimeoutMs: 1000, ...overrides }),
  };
}

/** Deletes the keys that start with `prefix` (which must contain no glob characters). */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) deleted += await client.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Keys under `prefix`, sorted. */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys.sort();
}

/** A proxy in front of the test Redis (test/helpers/tcp-proxy.ts). */
export type RedisProxy = TcpProxy;
export const startRedisProxy = (targetUrl: string): Promise<RedisProxy> => startTcpProxy(targetUrl, 6379);
