import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createSharedFailedAuthCounter } from '../../src/auth/failed-auth-redis.js';
import { testConfig, type ProtectionConfig, type RedisConfig } from '../../src/config.js';
import { openSharedRedis, RedisUrlError, type SharedRedis } from '../../src/http/rate-limit-redis.js';
import { buildTestApp } from '../helpers/app.js';
import { keysUnder, startRedisProxy, useTestRedis, type RedisProxy } from '../helpers/redis.js';
import { killChildren, launchServer, waitFor } from '../helpers/reliability.js';
import { ensureBuilt } from '../helpers/server-process.js';

/*
 * The failed-authentication lockout shared across instances through Redis (REDIS_URL): src/auth/failed-auth-redis.ts.
 * Redis comes from TEST_REDIS_URL or 127.0.0.1:6379 (test/helpers/redis.ts); without one these tests fail, they do
 * not skip. Each test counts under a key prefix of its own (REDIS_KEY_PREFIX), and only those keys are deleted.
 * Rate limits stay off (RATE_LIMIT_PER_MINUTE=0): Redis is then used for the lockout alone.
 */

const redis = useTestRedis();

const apps: FastifyInstance[] = [];
const proxies: RedisProxy[] = [];
const connections: SharedRedis[] = [];
const folders: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(apps.splice(0).map((app) => app.close()));
  for (const connection of connections.splice(0)) connection.close();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  killChildren();
});
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'mnemo-af-redis-'));
  folders.push(folder);
  return folder;
}


const protectionWith = (overrides: Partial<ProtectionConfig>): ProtectionConfig => ({ ...testConfig().protection, rateLimitPerMinute: 0, ...overrides });

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  address?: string;
  seconds?: number;
}

/**
 * An instance: buildTestApp (SQLite: in memory, or `databasePath`, which two instances share as they would share a
 * database), or, when `logs` is given, the same app with its JSON log lines collected.
 */
async function instance(protection: ProtectionConfig, options: { databasePath?: string; logs?: LogLine[] } = {}): Promise<FastifyInstance> {
  const config = { protection, ...(options.databasePath ? { databasePath: options.databasePath } : {}) };
  const logs = options.logs;
  let app: FastifyInstance;
  if (logs) {
    app = await buildApp(testConfig(config), { logger: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line)) } } });
    apps.push(app);
    await app.ready();
  } else {
    app = await buildTestApp({ config });
    apps.push(app);
  }
  return app;
}

/** Two instances sharing one database file and one Redis (under a fresh prefix). */
async function twoInstances(overrides: Partial<ProtectionConfig>, options: { logs?: [LogLine[], LogLine[]]; redis?: Partial<RedisConfig> } = {}) {
  const prefix = redis.newPrefix();
  const databasePath = join(tempFolder(), 'shared.db');
  const protection = protectionWith({ redis: redis.config(prefix, options.redis), ...overrides });
  const one = await instance(protection, { databasePath, ...(options.logs ? { logs: options.logs[0] } : {}) });
  const two = await instance(protection, { databasePath, ...(options.logs ? { logs: options.logs[1] } : {}) });
  return { prefix, one, two };
}

const unknownToken = () => `mnemo_${randomBytes(32).toString('base64url')}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** GET /v1/modules (open to anonymous callers) from `address`. */
const rest = (app: FastifyInstance, address: string, headers: Record<string, string> = {}, options: Partial<InjectOptions> = {}) =>
  app.inject({ method: 'GET', url: '/v1/modules', remoteAddress: address, headers, ...options });
const graphql = (app: FastifyInstance, address: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/graphql', remoteAddress: address, headers, payload: { query: '{ apiVersion }' } });

/** One request after the other, to `targets` in turn. */
async function inTurn(targets: FastifyInstance[], count: number, send: (app: FastifyInstance) => Promise<LightMyRequestResponse>): Promise<number[]> {
  const result: number[] = [];
  for (let index = 0; index < count; index++) result.push((await send(targets[index % targets.length]!)).statusCode);
  return result;
}

/** The address's hash in Redis, fields parsed: ws (window start), n (failures), lu (lockout end), r (reservations). */
async function entryOf(prefix: string, key: string) {
  const fields = await redis.client.hgetall(`${prefix}af:${key}`);
  const reservations = Object.keys(fields).filter((name) => name.startsWith('r:')).length;
  return { n: fields.n === undefined ? undefined : Number(fields.n), locked: Number(fields.lu ?? 0) > 0, reservations, ttl: await redis.client.pttl(`${prefix}af:${key}`) };
}

async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('failed authentications counted in Redis, shared by every instance', () => {
  it('failures split across two instances lock the address out on both at the combined count, valid tokens included', async () => {
    const logs: [LogLine[], LogLine[]] = [[], []];
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 3, authLockoutSeconds: 300 }, { logs });
    // Rate limits are off, yet Redis is used for the lockout (and said so), and nothing claims it is unused.
    for (const lines of logs) {
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'failed authentications are shared across instances through Redis' }));
      expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    }
    const valid = (await one.auth.createKey({ role: 'admin', name: 'admin' }, null)).token;

    // One failure short of the limit on each instance would be 2 + 2 per process: across both it is 3 in all.
    expect(await inTurn([one, two], 3, (app) => rest(app, '203.0.113.7', bearer(unknownToken())))).toEqual([401, 401, 401]);
    const counted = await entryOf(prefix, '203.0.113.7');
    expect(counted).toMatchObject({ n: 3, locked: false, reservations: 0 });
    // The window started at the first failure: a minute.
    expect(counted.ttl).toBeGreaterThan(50_000);
    expect(counted.ttl).toBeLessThanOrEqual(60_000);

    const lookups = [vi.spyOn(one.auth, 'authenticate'), vi.spyOn(two.auth, 'authenticate')];
    const locked = await rest(two, '203.0.113.7', bearer(unknownToken()));
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('300');
    expect(locked.json()).toMatchObject({ status: 429, code: 'MNEMO_AUTH_LOCKED_OUT' });
    // The instance that did not start the lockout refuses the address too, valid token or not, REST or GraphQL,
    // without looking the token up.
    for (const app of [one, two]) {
      const withValid = await rest(app, '203.0.113.7', bearer(valid));
      expect(withValid.statusCode).toBe(429);
      expect(Number(withValid.headers['retry-after'])).toBeGreaterThan(295);
      expect(withValid.json().code).toBe('MNEMO_AUTH_LOCKED_OUT');
      expect((await graphql(app, '203.0.113.7', bearer(valid))).json()).toMatchObject({ errors: [{ extensions: { code: 'MNEMO_AUTH_LOCKED_OUT' } }] });
      // Requests without a token are served as usual.
      expect((await rest(app, '203.0.113.7')).statusCode).toBe(200);
    }
    for (const lookup of lookups) expect(lookup).not.toHaveBeenCalled();
    const lockout = await entryOf(prefix, '203.0.113.7');
    expect(lockout).toMatchObject({ n: 3, locked: true, reservations: 0 });
    // The key lives as long as the lockout, which attempts during it do not extend.
    expect(lockout.ttl).toBeGreaterThan(290_000);
    expect(lockout.ttl).toBeLessThanOrEqual(300_000);
    // Logged once, by the instance whose request started it.
    const lockoutLines = [...logs[0], ...logs[1]].filter((line) => line.msg === 'too many failed authentications: address locked out');
    expect(lockoutLines).toEqual([expect.objectContaining({ address: '203.0.113.7', seconds: 300 })]);
    expect(logs[1]).toContainEqual(expect.objectContaining({ msg: 'too many failed authentications: address locked out' }));

    // Another address is unaffected, on both; its successes leave nothing behind in Redis (the attempt's
    // reservation is deleted once the token is accepted).
    for (const app of [one, two]) {
      expect((await rest(app, '203.0.113.8', bearer(valid))).statusCode).toBe(200);
      expect((await graphql(app, '203.0.113.8', bearer(valid))).statusCode).toBe(200);
    }
    await eventually(async () => (await keysUnder(redis.client, prefix)).length === 1, 'the reservations of accepted tokens to be deleted');
    expect(await keysUnder(redis.client, prefix)).toEqual([`${prefix}af:203.0.113.7`]);
  });

  it('the lockout ends on time for every instance, and the address starts again with a fresh budget', async () => {
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 2, authLockoutSeconds: 1 });
    const valid = (await one.auth.createKey({ role: 'admin', name: 'admin' }, null)).token;
    expect(await inTurn([one, two], 3, (app) => rest(app, '192.0.2.20', bearer(unknownToken())))).toEqual([401, 401, 429]);
    const locked = await rest(one, '192.0.2.20', bearer(valid));
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('1');

    await eventually(async () => (await redis.client.exists(`${prefix}af:192.0.2.20`)) === 0, 'the lockout key to expire', 3_000);
    expect((await rest(two, '192.0.2.20', bearer(valid))).statusCode).toBe(200);
    expect((await rest(one, '192.0.2.20', bearer(valid))).statusCode).toBe(200);
    expect(await inTurn([two, one], 3, (app) => rest(app, '192.0.2.20', bearer(unknownToken())))).toEqual([401, 401, 429]);
  });

  it('counts failures in a fixed window from the first one, and keys expire with their window or lockout', async () => {
    // The window is a minute in the server; the counter takes it as an option, as the in-process one does.
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 1 });
    for (const app of [one, two]) {
      const shared = await openSharedRedis(redis.config(prefix), app.log, ['failed authentications']);
      connections.push(shared);
      app.authFailures = createSharedFailedAuthCounter(shared, { maxFailures: 2, lockoutMs: 1500, windowMs: 800 });
    }
    const address = '198.51.100.30';
    const key = `${prefix}af:${address}`;

    expect((await rest(one, address, bearer(unknownToken()))).statusCode).toBe(401);
    const started = Date.now();
    await sleep(400);
    expect((await rest(two, address, bearer(unknownToken()))).statusCode).toBe(401);
    // The second failure did not move the window: it ends 800 ms after the first.
    expect(await redis.client.pttl(key)).toBeLessThanOrEqual(800 - (Date.now() - started) + 20);
    await eventually(async () => (await redis.client.exists(key)) === 0, 'the window to end', 2_000);
    expect(Date.now() - started).toBeLessThan(1_200);

    // Both failures are forgotten: two more fit, then the lockout, which attempts do not extend.
    expect(await inTurn([two, one], 3, (app) => rest(app, address, bearer(unknownToken())))).toEqual([401, 401, 429]);
    const lockedAt = Date.now();
    await sleep(300);
    const during = await rest(two, address, bearer(unknownToken()));
    expect(during.statusCode).toBe(429);
    expect(Number(during.headers['retry-after'])).toBeLessThanOrEqual(2);
    expect(await redis.client.pttl(key)).toBeLessThanOrEqual(1500 - (Date.now() - lockedAt) + 20);
    await eventually(async () => (await redis.client.exists(key)) === 0, 'the lockout to end', 3_000);
    expect(Date.now() - lockedAt).toBeLessThan(2_000);
    expect((await rest(one, address, bearer(unknownToken()))).statusCode).toBe(401);
  });

  it('counts an IPv6 /64 as one address across instances, an IPv4-mapped address as IPv4, and bounds key length', async () => {
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 3, trustProxy: '127.0.0.1' });
    const rotating = await inTurn([one, two], 4, (app) => rest(app, `2001:db8:aaaa:bbbb::${randomBytes(2).toString('hex')}`, bearer(unknownToken())));
    expect(rotating).toEqual([401, 401, 401, 429]);
    expect((await rest(one, '2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff', bearer(unknownToken()))).statusCode).toBe(429);
    expect((await rest(two, '2001:db8:aaaa:bbbc::1', bearer(unknownToken()))).statusCode).toBe(401);

    expect((await rest(one, '::ffff:198.51.100.40', bearer(unknownToken()))).statusCode).toBe(401);
    expect((await rest(two, '198.51.100.40', bearer(unknownToken()))).statusCode).toBe(401);
    expect((await rest(one, '::ffff:c633:6428', bearer(unknownToken()))).statusCode).toBe(401);
    expect((await rest(two, '::FFFF:198.51.100.40', bearer(unknownToken()))).statusCode).toBe(429);

    // Whatever a trusted proxy forwards is cut to a bounded length before it names a key.
    const forwarded = 'x'.repeat(5_000);
    expect((await rest(one, '127.0.0.1', { ...bearer(unknownToken()), 'x-forwarded-for': forwarded })).statusCode).toBe(401);

    expect(await keysUnder(redis.client, prefix)).toEqual(
      [`${prefix}af:2001:db8:aaaa:bbbb::/64`, `${prefix}af:2001:db8:aaaa:bbbc::/64`, `${prefix}af:198.51.100.40`, `${prefix}af:${'x'.repeat(64)}`].sort(),
    );
    expect(await entryOf(prefix, '2001:db8:aaaa:bbbb::/64')).toMatchObject({ n: 3, locked: true });
  });

  it('many failures at once at both instances: exactly the limit are looked up and answered 401, then 429s', async () => {
    const logs: [LogLine[], LogLine[]] = [[], []];
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 5, authLockoutSeconds: 300 }, { logs });
    const lookups = [vi.spyOn(one.auth, 'authenticate'), vi.spyOn(two.auth, 'authenticate')];

    const burst = await Promise.all(Array.from({ length: 40 }, (_, index) => rest([one, two][index % 2]!, '203.0.113.99', bearer(unknownToken()))));
    const statuses = burst.map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(35);
    expect(lookups.reduce((sum, lookup) => sum + lookup.mock.calls.length, 0)).toBe(5);
    for (const response of burst.filter((each) => each.statusCode === 429)) {
      expect(response.json().code).toBe('MNEMO_AUTH_LOCKED_OUT');
      // The attempts that found the budget taken waited for the five in flight, which failed: locked out.
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(295);
    }
    expect(await entryOf(prefix, '203.0.113.99')).toMatchObject({ n: 5, locked: true, reservations: 0 });
    // One instance started the lockout, once.
    expect([...logs[0], ...logs[1]].filter((line) => line.msg === 'too many failed authentications: address locked out')).toHaveLength(1);

    // Again, racing two instances and a fresh address, with a mix: never more than the limit of guesses.
    const mixed = await Promise.all(
      Array.from({ length: 30 }, (_, index) => rest([two, one][index % 2]!, '203.0.113.100', { authorization: index % 3 ? `Bearer ${unknownToken()}` : 'Basic Zm9vOmJhcg==' })),
    );
    expect(mixed.filter((response) => response.statusCode === 401)).toHaveLength(5);
    expect(mixed.filter((response) => response.statusCode === 429)).toHaveLength(25);
    expect(mixed.filter((response) => response.statusCode >= 500)).toEqual([]);
  });

  it('a burst of valid tokens from one address is slowed, not refused, by the reservations (and leaves no key)', async () => {
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 3 });
    const valid = (await one.auth.createKey({ role: 'integration', name: 'lms' }, null)).token;
    const burst = await Promise.all(Array.from({ length: 30 }, (_, index) => rest([one, two][index % 2]!, '192.0.2.50', bearer(valid))));
    expect(burst.map((response) => response.statusCode)).toEqual(Array(30).fill(200));
    await eventually(async () => (await keysUnder(redis.client, prefix)).length === 0, 'the reservations to be deleted');

    // Two failures in the window leave one attempt in flight at a time: still served, one after the other.
    expect(await inTurn([one, two], 2, (app) => rest(app, '192.0.2.50', bearer(unknownToken())))).toEqual([401, 401]);
    const after = await Promise.all(Array.from({ length: 10 }, (_, index) => rest([two, one][index % 2]!, '192.0.2.50', bearer(valid))));
    expect(after.map((response) => response.statusCode)).toEqual(Array(10).fill(200));
    await eventually(async () => (await entryOf(prefix, '192.0.2.50')).reservations === 0, 'the reservations to be deleted');
    expect(await entryOf(prefix, '192.0.2.50')).toMatchObject({ n: 2, locked: false });
  });

  it('Redis going away at runtime: each instance counts on its own, no 500 and no wait; shared again once it is back', async () => {
    const proxy = await startRedisProxy(redis.url);
    proxies.push(proxy);
    const logs: [LogLine[], LogLine[]] = [[], []];
    const { prefix, one, two } = await twoInstances({ authFailuresPerMinute: 3, authLockoutSeconds: 300 }, { logs, redis: { url: proxy.url } });
    const valid = (await one.auth.createKey({ role: 'admin', name: 'admin' }, null)).token;

    // Before: A is locked out through both (the lockout started on one); B has two failures, both on one.
    expect(await inTurn([one, two, one, one], 4, (app) => rest(app, '203.0.113.1', bearer(unknownToken())))).toEqual([401, 401, 401, 429]);
    expect(await inTurn([one], 2, (app) => rest(app, '203.0.113.2', bearer(unknownToken())))).toEqual([401, 401]);

    await proxy.stop();
    const unavailable = (line: LogLine) => line.msg.startsWith('Redis is unavailable');
    await waitFor(() => logs.every((lines) => lines.some(unavailable)), () => 'the warnings that Redis is unavailable', 10_000);
    const timed = async (app: FastifyInstance, address: string, headers: Record<string, string>) => {
      const started = performance.now();
      const response = await rest(app, address, headers);
      return { status: response.statusCode, ms: performance.now() - started };
    };
    const during: Array<{ status: number; ms: number }> = [];
    const record = async (app: FastifyInstance, address: string, headers: Record<string, string>) => {
      const result = await timed(app, address, headers);
      during.push(result);
      return result.status;
    };
    // A: one saw the lockout in Redis and keeps it; two only knows its own failure (one), so two more fit there.
    expect(await record(one, '203.0.113.1', bearer(valid))).toBe(429);
    expect([await record(two, '203.0.113.1', bearer(unknownToken())), await record(two, '203.0.113.1', bearer(unknownToken()))]).toEqual([401, 401]);
    expect(await record(two, '203.0.113.1', bearer(valid))).toBe(429);
    // B: one had both failures, so one more is over its limit; two starts afresh: the limit holds per instance.
    expect(await record(one, '203.0.113.2', bearer(unknownToken()))).toBe(401);
    expect(await record(one, '203.0.113.2', bearer(valid))).toBe(429);
    const onTwo: number[] = [];
    for (let index = 0; index < 4; index++) onTwo.push(await record(two, '203.0.113.2', bearer(unknownToken())));
    expect(onTwo).toEqual([401, 401, 401, 429]);
    // Other addresses are served; nothing waited for the dead connection, nothing failed.
    expect(await record(one, '203.0.113.3', bearer(valid))).toBe(200);
    expect(await record(two, '203.0.113.3', bearer(valid))).toBe(200);
    expect(during.filter(({ status }) => status >= 500)).toEqual([]);
    expect(Math.max(...during.map(({ ms }) => ms))).toBeLessThan(500);
    for (const lines of logs) {
      expect(lines.filter(unavailable)).toEqual([
        expect.objectContaining({ level: 40, msg: 'Redis is unavailable: failed authentications are counted per instance until it answers again' }),
      ]);
    }
    // The per-instance lockouts are logged as they are without Redis: B on both, A on two.
    const lockouts = logs.map((lines) => lines.filter((line) => line.msg === 'too many failed authentications: address locked out').map((line) => line.address));
    expect(lockouts).toEqual([
      ['203.0.113.1', '203.0.113.2'],
      ['203.0.113.1', '203.0.113.2'],
    ]);
    // Redis saw none of it.
    expect(await entryOf(prefix, '203.0.113.2')).toMatchObject({ n: 2, locked: false });

    await proxy.start();
    await waitFor(() => logs.every((lines) => lines.some((line) => line.msg.startsWith('Redis answers again'))), () => 'the clients to reconnect', 15_000);
    // Shared again: A's lockout (in Redis) holds on both; B continues from Redis's count of two.
    for (const app of [one, two]) expect((await rest(app, '203.0.113.1', bearer(valid))).statusCode).toBe(429);
    expect(await inTurn([two, one], 2, (app) => rest(app, '203.0.113.2', bearer(unknownToken())))).toEqual([401, 429]);
    expect(await entryOf(prefix, '203.0.113.2')).toMatchObject({ n: 3, locked: true });
    for (const lines of logs) expect(lines.filter(unavailable)).toHaveLength(1);
  });

  it('a Redis that stops answering costs one command timeout, then attempts count per instance without waiting', async () => {
    const proxy = await startRedisProxy(redis.url);
    proxies.push(proxy);
    const commandTimeoutMs = 1000;
    const logs: LogLine[] = [];
    const prefix = redis.newPrefix();
    const app = await instance(protectionWith({ authFailuresPerMinute: 2, redis: redis.config(prefix, { url: proxy.url, commandTimeoutMs }) }), { logs });
    const valid = (await app.auth.createKey({ role: 'admin', name: 'admin' }, null)).token;
    expect((await rest(app, '198.51.100.60', bearer(valid))).statusCode).toBe(200);

    proxy.hang();
    const timed: Array<{ status: number; ms: number }> = [];
    for (const token of [unknownToken(), unknownToken(), unknownToken(), valid]) {
      const started = performance.now();
      const response = await rest(app, '198.51.100.60', bearer(token));
      timed.push({ status: response.statusCode, ms: performance.now() - started });
    }
    expect(timed.map(({ status }) => status)).toEqual([401, 401, 429, 429]);
    // The first waited for its command to time out; the rest did not ask Redis (it is retried after 5 s).
    expect(timed[0]!.ms).toBeGreaterThanOrEqual(commandTimeoutMs - 50);
    expect(timed[0]!.ms).toBeLessThan(commandTimeoutMs + 2000);
    expect(Math.max(...timed.slice(1).map(({ ms }) => ms))).toBeLessThan(commandTimeoutMs / 2);
    expect(logs.filter((line) => line.level === 40)).toEqual([
      expect.objectContaining({ reason: 'Command timed out', msg: 'Redis is unavailable: failed authentications are counted per instance until it answers again' }),
      expect.objectContaining({ msg: 'too many failed authentications: address locked out', address: '198.51.100.60' }),
    ]);
  });
});

describe('REDIS_URL with the lockout only, or with nothing to share', () => {
  it('RATE_LIMIT_PER_MINUTE=0 with the lockout on: an unreachable REDIS_URL still stops startup', async () => {
    const port = await closedPort();
    const protection = protectionWith({ authFailuresPerMinute: 5, redis: redis.config('mnemo-test:unused:', { url: `redis://:s3cret@127.0.0.1:${port}` }) });
    const failure = await buildApp(testConfig({ protection })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RedisUrlError);
    expect((failure as Error).message).toBe(`REDIS_URL=redis://:***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('with rate limits and the lockout both off, Redis is not connected to, and the warning says why', async () => {
    const proxy = await startRedisProxy(redis.url);
    proxies.push(proxy);
    const logs: LogLine[] = [];
    await instance(protectionWith({ authFailuresPerMinute: 0, redis: redis.config(redis.newPrefix(), { url: proxy.url }) }), { logs });
    expect(logs.filter((line) => line.level === 40)).toEqual([
      expect.objectContaining({
        msg: 'REDIS_URL is set but RATE_LIMIT_PER_MINUTE=0 and AUTH_FAILURES_PER_MINUTE=0 turn off all it would share: Redis is not used',
      }),
    ]);
    expect(proxy.connections).toBe(0);
  });

  it('with both on, one connection serves rate limits and the lockout', async () => {
    const proxy = await startRedisProxy(redis.url);
    proxies.push(proxy);
    const logs: LogLine[] = [];
    const prefix = redis.newPrefix();
    const app = await instance(protectionWith({ authFailuresPerMinute: 2, rateLimitPerMinute: 100, redis: redis.config(prefix, { url: proxy.url }) }), { logs });
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'rate limits and failed authentications are shared across instances through Redis' }));
    expect(await inTurn([app], 3, (each) => rest(each, '192.0.2.77', bearer(unknownToken())))).toEqual([401, 401, 429]);
    // (A refused token ends the request in the auth hook, before the rate limit counts it; an anonymous one counts.)
    expect((await rest(app, '192.0.2.77')).statusCode).toBe(200);
    expect(proxy.connections).toBe(1);
    expect(await keysUnder(redis.client, prefix)).toEqual([`${prefix}af:192.0.2.77`, `${prefix}rl:ip:192.0.2.77`]);
    apps.splice(apps.indexOf(app), 1);
    await app.close();
    await waitFor(() => proxy.connections === 0, () => 'the app to close its Redis connection', 5_000);
  });
});

describe('two server processes', () => {
  it('share the lockout over HTTP (rate limits off): failures on both lock the address out on both, and they shut down cleanly', async () => {
    ensureBuilt();
    const prefix = redis.newPrefix();
    const databasePath = join(tempFolder(), 'shared.db');
    // The key both servers accept, in the database file they share.
    const setup = await buildTestApp({ config: { databasePath } });
    const valid = (await setup.auth.createKey({ role: 'admin', name: 'admin' }, null)).token;
    await setup.close();

    const env: Record<string, string> = {
      DATABASE_PATH: databasePath,
      SEED_ON_START: 'false',
      RATE_LIMIT_PER_MINUTE: '0',
      AUTH_FAILURES_PER_MINUTE: '4',
      AUTH_LOCKOUT_SECONDS: '120',
      MAX_EVENT_LOOP_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '2000',
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
    };
    const servers = await Promise.all([launchServer(env), launchServer(env)]);
    for (const server of servers) {
      const logs = server.logs.join('\n');
      expect(logs, 'dist/ predates the shared lockout: run `npm run build`').toContain('failed authentications are shared across instances through Redis');
      expect(logs).not.toContain('Redis is not used');
    }

    expect((await get(servers[1]!.baseUrl, valid)).status).toBe(200);
    const responses: Array<{ status: number; headers: IncomingHttpHeaders; body: string }> = [];
    for (let index = 0; index < 6; index++) responses.push(await get(servers[index % 2]!.baseUrl, unknownToken()));
    expect(responses.map((response) => response.status)).toEqual([401, 401, 401, 401, 429, 429]);
    expect(responses[4]!.headers['retry-after']).toBe('120');
    expect(JSON.parse(responses[5]!.body)).toMatchObject({ code: 'MNEMO_AUTH_LOCKED_OUT' });
    for (const server of servers) expect((await get(server.baseUrl, valid)).status).toBe(429);
    expect(await entryOf(prefix, '127.0.0.1')).toMatchObject({ n: 4, locked: true, reservations: 0 });
    // The lockout was logged by the process that started it, and only there.
    const lockoutLogs = servers.map((server) => server.logs.filter((line) => line.includes('address locked out')).length);
    expect(lockoutLogs.sort()).toEqual([0, 1]);

    for (const server of servers) server.child.kill('SIGTERM');
    expect(await Promise.all(servers.map((server) => server.exited))).toEqual([0, 0]);
  }, 60_000);
});

/** A GET /v1/modules with a bearer token, on a connection of its own (closed after the answer). */
function get(baseUrl: string, token: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${baseUrl}/v1/modules`, { agent: false, headers: bearer(token) }, (response) => {
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
