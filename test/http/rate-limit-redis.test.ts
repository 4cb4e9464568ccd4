import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ConfigError, loadConfig, testConfig, type ProtectionConfig } from '../../src/config.js';
import { RedisUrlError } from '../../src/http/rate-limit-redis.js';
import { buildTestApp } from '../helpers/app.js';
import { keysUnder, resolveTestRedisUrl, startRedisProxy, useTestRedis, type RedisProxy } from '../helpers/redis.js';
import { killChildren, launchServer, waitFor } from '../helpers/reliability.js';
import { ensureBuilt } from '../helpers/server-process.js';

/*
 * Rate limits shared across instances through Redis (REDIS_URL). Redis comes from TEST_REDIS_URL or 127.0.0.1:6379
 * (test/helpers/redis.ts); without one these tests fail, they do not skip. Each test counts under a key prefix of
 * its own (REDIS_KEY_PREFIX), and only those keys are deleted afterwards.
 */

const redis = useTestRedis();

const apps: FastifyInstance[] = [];
const proxies: RedisProxy[] = [];
const folders: string[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  killChildren();
});
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'mnemo-rl-redis-'));
  folders.push(folder);
  return folder;
}


const protectionWith = (overrides: Partial<ProtectionConfig>): ProtectionConfig => ({ ...testConfig().protection, ...overrides });

async function testApp(protection: ProtectionConfig, databasePath?: string): Promise<FastifyInstance> {
  const app = await buildTestApp({ config: { protection, ...(databasePath ? { databasePath } : {}) } });
  apps.push(app);
  return app;
}

/** An app on an in-memory SQLite database whose log lines (JSON) are collected. */
async function appWithLogs(protection: ProtectionConfig, logs: Array<{ level: number; msg: string; reason?: string }>): Promise<FastifyInstance> {
  const app = await buildApp(testConfig({ protection }), {
    logger: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line)) } },
  });
  apps.push(app);
  await app.ready();
  return app;
}

const rateLimitHeaderNames = (headers: IncomingHttpHeaders | LightMyRequestResponse['headers']) =>
  Object.keys(headers)
    .filter((name) => /^(x-ratelimit-|retry-after$|content-type$)/.test(name))
    .sort();

function expectRateLimited(status: number, headers: IncomingHttpHeaders | LightMyRequestResponse['headers'], body: string, limit: number) {
  expect(status).toBe(429);
  expect(headers['content-type']).toContain('application/problem+json');
  expect(headers['x-ratelimit-limit']).toBe(String(limit));
  expect(headers['x-ratelimit-remaining']).toBe('0');
  const retryAfter = Number(headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(headers['x-ratelimit-reset']).toBe(headers['retry-after']);
  expect(JSON.parse(body)).toMatchObject({
    type: 'urn:mnemo:problem:rate-limited',
    status: 429,
    code: 'MNEMO_RATE_LIMITED',
    detail: expect.stringMatching(new RegExp(`^rate limit of ${limit} requests per minute exceeded; retry in `)),
  });
}

describe('rate limits shared through Redis', () => {
  it('two apps sharing REDIS_URL share one budget per IP and per API key, with the in-memory limiter\'s headers', async () => {
    const prefix = redis.newPrefix();
    // Both apps on one SQLite file, as two instances share one database: a key made on one is valid on the other.
    const databasePath = join(tempFolder(), 'shared.db');
    const protection = protectionWith({ rateLimitPerMinute: 3, rateLimitStaffMultiplier: 2, redis: redis.config(prefix) });
    const one = await testApp(protection, databasePath);
    const two = await testApp(protection, databasePath);

    // Anonymous requests, alternating between the instances: 3 in all, not 3 each.
    const anonymous: LightMyRequestResponse[] = [];
    for (let index = 0; index < 5; index++) anonymous.push(await [one, two][index % 2]!.inject('/v1/modules'));
    expect(anonymous.map((response) => response.statusCode)).toEqual([200, 200, 200, 429, 429]);
    expect(anonymous.map((response) => response.headers['x-ratelimit-limit'])).toEqual(['3', '3', '3', '3', '3']);
    expect(anonymous.map((response) => response.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0', '0']);
    expectRateLimited(anonymous[3]!.statusCode, anonymous[3]!.headers, anonymous[3]!.body, 3);
    expectRateLimited(anonymous[4]!.statusCode, anonymous[4]!.headers, anonymous[4]!.body, 3);

    // The counter lives in Redis under the prefix, named by what the in-memory limiter keys on, for one window.
    const ipKey = `${prefix}rl:ip:127.0.0.1`;
    expect(await keysUnder(redis.client, prefix)).toEqual([ipKey]);
    expect(await redis.client.get(ipKey)).toBe('5');
    const ttl = await redis.client.pttl(ipKey);
    expect(ttl).toBeGreaterThan(30_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    // An API key has its own shared bucket (the staff multiple, 3 x 2), named by the key's id, never the token.
    const created = await one.auth.createKey({ role: 'integration', name: 'lms' }, null);
    const keyed: LightMyRequestResponse[] = [];
    for (let index = 0; index < 7; index++) {
      keyed.push(await [two, one][index % 2]!.inject({ url: '/v1/modules', headers: { authorization: `Bearer ${created.token}` } }));
    }
    expect(keyed.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200, 200, 429]);
    expectRateLimited(keyed[6]!.statusCode, keyed[6]!.headers, keyed[6]!.body, 6);
    expect(await keysUnder(redis.client, prefix)).toEqual([`${prefix}rl:ip:127.0.0.1`, `${prefix}rl:key:${created.id}`].sort());
    expect(await redis.client.get(`${prefix}rl:key:${created.id}`)).toBe('7');

    // The per-instance (in-memory) limiter answers with the same headers and problem.
    const memory = await testApp(protectionWith({ rateLimitPerMinute: 3 }));
    const local: LightMyRequestResponse[] = [];
    for (let index = 0; index < 4; index++) local.push(await memory.inject('/v1/modules'));
    expect(local.map((response) => response.statusCode)).toEqual([200, 200, 200, 429]);
    expect(rateLimitHeaderNames(anonymous[0]!.headers)).toEqual(rateLimitHeaderNames(local[0]!.headers));
    expect(rateLimitHeaderNames(anonymous[3]!.headers)).toEqual(rateLimitHeaderNames(local[3]!.headers));
    expectRateLimited(local[3]!.statusCode, local[3]!.headers, local[3]!.body, 3);
    const { requestId: _a, ...sharedProblem } = anonymous[3]!.json();
    const { requestId: _b, ...localProblem } = local[3]!.json();
    expect(sharedProblem).toEqual(localProblem);
  });

  it('two server processes sharing REDIS_URL enforce one limit over HTTP, and shut down cleanly', async () => {
    ensureBuilt();
    const prefix = redis.newPrefix();
    const folder = tempFolder();
    const env = (name: string): Record<string, string> => ({
      DATABASE_PATH: join(folder, `${name}.db`),
      SEED_ON_START: 'false',
      RATE_LIMIT_PER_MINUTE: '4',
      AUTH_FAILURES_PER_MINUTE: '0',
      MAX_EVENT_LOOP_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '2000',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
    });
    const servers = await Promise.all([launchServer(env('one')), launchServer(env('two'))]);
    for (const server of servers) {
      const logs = server.logs.join('\n');
      expect(logs, 'dist/ predates REDIS_URL support: run `npm run build`').toContain('rate limits are shared across instances through Redis');
    }

    const responses: Array<{ status: number; headers: IncomingHttpHeaders; body: string }> = [];
    for (let index = 0; index < 6; index++) responses.push(await get(`${servers[index % 2]!.baseUrl}/v1/modules`));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 429, 429]);
    expect(responses.map((response) => response.headers['x-ratelimit-remaining'])).toEqual(['3', '2', '1', '0', '0', '0']);
    for (const response of responses.slice(4)) expectRateLimited(response.status, response.headers, response.body, 4);
    expect(await redis.client.get(`${prefix}rl:ip:127.0.0.1`)).toBe('6');

    // SIGTERM: the Redis connection is closed with the app, so nothing keeps either process alive.
    for (const server of servers) server.child.kill('SIGTERM');
    expect(await Promise.all(servers.map((server) => server.exited))).toEqual([0, 0]);
  }, 60_000);

  it('Redis going away at runtime: no 500 and no wait, limits counted per instance, shared again once it is back', async () => {
    const proxy = await startRedisProxy(redis.url);
    proxies.push(proxy);
    const prefix = redis.newPrefix();
    const logs: Array<{ level: number; msg: string; reason?: string }> = [];
    const app = await appWithLogs(protectionWith({ rateLimitPerMinute: 3, redis: redis.config(prefix, { url: proxy.url }) }), logs);
    const key = `${prefix}rl:ip:127.0.0.1`;

    expect((await app.inject('/v1/modules')).statusCode).toBe(200);
    expect(await redis.client.get(key)).toBe('1');

    await proxy.stop();
    await waitFor(() => logs.some((line) => line.level === 40), () => 'the warning that Redis is unavailable', 10_000);
    const during: Array<{ response: LightMyRequestResponse; ms: number }> = [];
    for (let index = 0; index < 5; index++) {
      const started = performance.now();
      const response = await app.inject('/v1/modules');
      during.push({ response, ms: performance.now() - started });
    }
    // This instance's own counter, which starts afresh: the limit still holds, per instance.
    expect(during.map(({ response }) => response.statusCode)).toEqual([200, 200, 200, 429, 429]);
    expect(during.map(({ response }) => response.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0', '0']);
    expectRateLimited(during[3]!.response.statusCode, during[3]!.response.headers, during[3]!.response.body, 3);
    // No request waited for the dead connection (a command timeout is 1000 ms here).
    expect(Math.max(...during.map(({ ms }) => ms))).toBeLessThan(500);
    expect(await redis.client.get(key)).toBe('1');
    const warnings = logs.filter((line) => line.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ msg: 'Redis is unavailable: rate limits are counted per instance until it answers again' })]);

    await proxy.start();
    await waitFor(() => logs.some((line) => line.msg.startsWith('Redis answers again')), () => 'the client to reconnect', 15_000);
    // Back on the shared counter, which held 1: two more, then 429 again.
    const after: number[] = [];
    for (let index = 0; index < 3; index++) after.push((await app.inject('/v1/modules')).statusCode);
    expect(after).toEqual([200, 200, 429]);
    expect(await redis.client.get(key)).toBe('4');
    // The outage was logged once, however many reconnect attempts failed.
    expect(logs.filter((line) => line.level === 40)).toHaveLength(1);

    // Closing the app closes its Redis connection (nothing left to keep a test worker or a process alive), quietly.
    expect(proxy.connections).toBe(1);
    apps.splice(apps.indexOf(app), 1);
    await app.close();
    await waitFor(() => proxy.connections === 0, () => 'the app to close its Redis connection', 5_000);
    expect(logs.filter((line) => line.level === 40)).toHaveLength(1);
  });

  it('a Redis that stops answering costs one command timeout, then requests count per instance without waiting', async () => {
    const proxy = await startRedisProxy(redis.url);
    proxies.push(proxy);
    const prefix = redis.newPrefix();
    const logs: Array<{ level: number; msg: string; reason?: string }> = [];
    const commandTimeoutMs = 1000;
    const app = await appWithLogs(protectionWith({ rateLimitPerMinute: 3, redis: redis.config(prefix, { url: proxy.url, commandTimeoutMs }) }), logs);
    expect((await app.inject('/v1/modules')).statusCode).toBe(200);

    proxy.hang();
    const timed: Array<{ status: number; ms: number }> = [];
    for (let index = 0; index < 5; index++) {
      const started = performance.now();
      const response = await app.inject('/v1/modules');
      timed.push({ status: response.statusCode, ms: performance.now() - started });
    }
    expect(timed.map(({ status }) => status)).toEqual([200, 200, 200, 429, 429]);
    // The first waited for its command to time out; the rest did not ask Redis (it is retried after 5 s).
    expect(timed[0]!.ms).toBeGreaterThanOrEqual(commandTimeoutMs - 50);
    expect(timed[0]!.ms).toBeLessThan(commandTimeoutMs + 2000);
    expect(Math.max(...timed.slice(1).map(({ ms }) => ms))).toBeLessThan(commandTimeoutMs / 2);
    expect(logs.filter((line) => line.level === 40)).toEqual([expect.objectContaining({ reason: 'Command timed out' })]);
  });
});

describe('where the tests find Redis', () => {
  it('without a reachable server the tests fail, naming TEST_REDIS_URL, instead of skipping', async () => {
    const port = await closedPort();
    const resolving = resolveTestRedisUrl({ env: { TEST_REDIS_URL: `redis://:s3cret@127.0.0.1:${port}` }, localUrl: `redis://127.0.0.1:${port}` });
    await expect(resolving).rejects.toThrow(/^No Redis server for the shared rate-limit tests: set TEST_REDIS_URL=/);
    await expect(resolving).rejects.toThrow(`TEST_REDIS_URL (redis://:***@127.0.0.1:${port}): connect ECONNREFUSED`);
    await expect(resolving).rejects.not.toThrow(/s3cret/);
  });
});

describe('REDIS_URL at startup', () => {
  it('an unreachable REDIS_URL stops startup with a message naming it, never its password', async () => {
    const port = await closedPort();
    const url = `redis://:s3cret@127.0.0.1:${port}/0`;
    const protection = protectionWith({ rateLimitPerMinute: 5, redis: redis.config('mnemo-test:unused:', { url }) });
    const failure = await buildApp(testConfig({ protection })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RedisUrlError);
    expect((failure as Error).message).toBe(`REDIS_URL=redis://:***@127.0.0.1:${port}/0: connect ECONNREFUSED 127.0.0.1:${port}`);

    // The server process says the same and exits 1.
    ensureBuilt();
    const folder = tempFolder();
    const started = launchServer({ DATABASE_PATH: join(folder, 'mnemo.db'), SEED_ON_START: 'false', REDIS_URL: `redis://:s3cret@127.0.0.1:${port}` });
    const error = await started.then(() => undefined, (reason: unknown) => reason as Error);
    expect(error?.message).toContain(`mnemo failed to start: REDIS_URL=redis://:***@127.0.0.1:${port}: connect ECONNREFUSED`);
    expect(error?.message).not.toContain('s3cret');
  });

  it('a malformed REDIS_URL or REDIS_KEY_PREFIX stops startup naming the variable, the password masked', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://:s3cret@cache:6379' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'http://:s3cret@cache:6379' })).toThrow(
      'REDIS_URL="http://:***@cache:6379/": must be a redis:// or rediss:// URL',
    );
    expect(() => loadConfig({ REDIS_URL: 'redis://:s3cret@cache:6379/db' })).toThrow(/REDIS_URL="redis:\/\/:\*\*\*@cache:6379\/db"/);
    expect(() => loadConfig({ REDIS_URL: 'redis://:s3cret@cache:6379/db' })).not.toThrow(/s3cret/);
    expect(() => loadConfig({ REDIS_KEY_PREFIX: 'has space' })).toThrow(/REDIS_KEY_PREFIX="has space"/);

    expect(loadConfig({}).protection.redis).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'rediss://user:pw@cache.internal:6380/2' }).protection.redis).toMatchObject({
      url: 'rediss://user:pw@cache.internal:6380/2',
      keyPrefix: 'mnemo:',
    });
  });
});

/** A plain GET on a connection of its own (closed after the answer, so shutdown has no idle keep-alive to drain). */
function get(url: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
