import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { redactUrl } from '../../src/lib/redact-url.js';

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

/**
 * A TCP proxy in front of a Redis server, for making "Redis" go away or hang under a running app without touching
 * the real server (which other test files may be using).
 */
export interface RedisProxy {
  /** The target's URL (password, database) with the proxy's address. */
  readonly url: string;
  /** Client connections open through the proxy. */
  readonly connections: number;
  /** Closes every connection and stops listening: clients see the connection drop, then refused reconnects. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Keeps connections open but forwards nothing any more, in either direction (a hung server). */
  hang(): void;
  close(): Promise<void>;
}

export async function startRedisProxy(targetUrl: string): Promise<RedisProxy> {
  const target = new URL(targetUrl);
  const targetHost = target.hostname.replace(/^\[|\]$/g, '');
  const targetPort = Number(target.port || 6379);
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  let hung = false;

  const server: Server = createServer((downstream) => {
    sockets.add(downstream);
    clients.add(downstream);
    downstream.on('close', () => {
      sockets.delete(downstream);
      clients.delete(downstream);
    });
    downstream.on('error', () => downstream.destroy());
    if (hung) return;
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      downstream.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    downstream.on('close', () => upstream.destroy());
    downstream.on('data', (chunk: Buffer) => {
      if (!hung) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!hung) downstream.write(chunk);
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
  };
  return {
    url: url.toString(),
    get connections() {
      return clients.size;
    },
    stop,
    start: async () => {
      hung = false;
      await listen(port);
    },
    hang: () => {
      hung = true;
    },
    close: async () => {
      if (server.listening) await stop();
    },
  };
}
