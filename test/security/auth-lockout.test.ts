import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { addressKey, createFailedAuthLimiter, defaultMaxAddresses, type FailedAuthCounter } from '../../src/auth/failed-auth-limiter.js';
import { testConfig, type ProtectionConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await app?.close();
  app = undefined;
});

async function appWith(protection: Partial<ProtectionConfig>) {
  const base = testConfig();
  app = await buildTestApp({ config: { protection: { ...base.protection, ...protection } } });
  return app;
}

const unknownToken = () => `mnemo_${randomBytes(32).toString('base64url')}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const adminToken = async () => (await app!.auth.createKey({ role: 'admin', name: 'admin' }, null)).token;

/** GET /v1/modules (open to anonymous callers) from `address`. */
const rest = (address: string, headers: Record<string, string> = {}, options: Partial<InjectOptions> = {}) =>
  app!.inject({ method: 'GET', url: '/v1/modules', remoteAddress: address, headers, ...options });
const graphql = (address: string, headers: Record<string, string> = {}) =>
  app!.inject({ method: 'POST', url: '/graphql', remoteAddress: address, headers, payload: { query: '{ apiVersion }' } });

async function statuses(count: number, send: () => ReturnType<typeof rest>): Promise<number[]> {
  const result: number[] = [];
  for (let index = 0; index < count; index++) result.push((await send()).statusCode);
  return result;
}

/** A clock for limiters installed by the tests: no sleeping. */
function fakeClock(start = Date.parse('2030-01-01T00:00:00Z')) {
  let time = start;
  return { now: () => time, advance: (ms: number) => void (time += ms) };
}

describe('failed authentications per client address', () => {
  it('answers 401 to the first N bad tokens from an address, then 429 MNEMO_AUTH_LOCKED_OUT with Retry-After', async () => {
    await appWith({ authFailuresPerMinute: 3, authLockoutSeconds: 300 });
    expect(await statuses(3, () => rest('203.0.113.7', bearer(unknownToken())))).toEqual([401, 401, 401]);

    const locked = await rest('203.0.113.7', bearer(unknownToken()));
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['content-type']).toContain('application/problem+json');
    expect(locked.headers['retry-after']).toBe('300');
    expect(locked.json()).toMatchObject({ status: 429, code: 'MNEMO_AUTH_LOCKED_OUT', title: 'Too many failed authentications' });
    expect(locked.headers['www-authenticate']).toBeUndefined();

    // Malformed headers and wrong schemes are failed authentications too; once locked, they get 429 as well.
    const malformed = await rest('203.0.113.7', { authorization: 'Basic Zm9vOmJhcg==' });
    expect(malformed.statusCode).toBe(429);
    expect(Number(malformed.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(malformed.headers['retry-after'])).toBeLessThanOrEqual(300);
  });

  it('counts malformed headers and wrong schemes as failures', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    expect((await rest('203.0.113.8', { authorization: 'Basic Zm9vOmJhcg==' })).statusCode).toBe(401);
    expect((await rest('203.0.113.8', { authorization: 'Bearer not-a-token' })).statusCode).toBe(401);
    expect((await rest('203.0.113.8', { authorization: '' })).statusCode).toBe(429);
  });

  it('refuses a locked-out address before the token is looked up: no database statement, even for a valid token', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    const valid = await adminToken();
    // While the address is not locked, an unknown token costs a lookup: the measure below can see it.
    let before = app!.store.stats.statements;
    expect((await rest('198.51.100.1', bearer(unknownToken()))).statusCode).toBe(401);
    expect(app!.store.stats.statements - before).toBe(1);
    expect((await rest('198.51.100.1', bearer(unknownToken()))).statusCode).toBe(401);

    const authenticate = vi.spyOn(app!.auth, 'authenticate');
    before = app!.store.stats.statements;
    const guesses = await statuses(5, () => rest('198.51.100.1', bearer(unknownToken())));
    const withValidToken = await rest('198.51.100.1', bearer(valid));
    const graphqlWithValidToken = await graphql('198.51.100.1', bearer(valid));
    expect(guesses).toEqual([429, 429, 429, 429, 429]);
    expect(withValidToken.statusCode).toBe(429);
    expect(withValidToken.json().code).toBe('MNEMO_AUTH_LOCKED_OUT');
    expect(graphqlWithValidToken.statusCode).toBe(429);
    expect(authenticate).not.toHaveBeenCalled();
    expect(app!.store.stats.statements - before).toBe(0);
  });

  it('counts per address: another address is unaffected, anonymous requests from the locked one are still served', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    const valid = await adminToken();
    await statuses(2, () => rest('192.0.2.10', bearer(unknownToken())));
    expect((await rest('192.0.2.10', bearer(unknownToken()))).statusCode).toBe(429);

    expect((await rest('192.0.2.11', bearer(unknownToken()))).statusCode).toBe(401);
    expect((await rest('192.0.2.11', bearer(valid))).statusCode).toBe(200);
    expect((await graphql('192.0.2.11', bearer(valid))).statusCode).toBe(200);

    const anonymous = await rest('192.0.2.10');
    expect(anonymous.statusCode).toBe(200);
    const anonymousGraphql = await graphql('192.0.2.10');
    expect(anonymousGraphql.statusCode).toBe(200);
    expect(anonymousGraphql.json()).toEqual({ data: { apiVersion: '1' } });
    // Routes that need a key still say so to an anonymous caller (401 MNEMO_AUTH_REQUIRED), and that is no failure.
    const keys = await app!.inject({ url: '/v1/keys', remoteAddress: '192.0.2.11' });
    expect(keys.json().code).toBe('MNEMO_AUTH_REQUIRED');
    expect((await rest('192.0.2.11', bearer(valid))).statusCode).toBe(200);
  });

  it('counts bad tokens sent to /graphql, and refuses a locked address there with a GraphQL error', async () => {
    await appWith({ authFailuresPerMinute: 3, authLockoutSeconds: 120 });
    const failures = [];
    for (let index = 0; index < 2; index++) {
      const response = await graphql('2001:db8::1', bearer(unknownToken()));
      failures.push({ status: response.statusCode, code: response.json().errors?.[0]?.extensions?.code });
    }
    expect(failures).toEqual([
      { status: 401, code: 'MNEMO_AUTH_INVALID_TOKEN' },
      { status: 401, code: 'MNEMO_AUTH_INVALID_TOKEN' },
    ]);
    // REST and GraphQL share the count.
    expect((await rest('2001:db8::1', bearer(unknownToken()))).statusCode).toBe(401);

    const locked = await graphql('2001:db8::1', bearer(unknownToken()));
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('120');
    expect(locked.json()).toMatchObject({ data: null, errors: [{ extensions: { code: 'MNEMO_AUTH_LOCKED_OUT' } }] });
    expect((await rest('2001:db8::1', bearer(unknownToken()))).statusCode).toBe(429);
  });

  it('counts per request.ip: X-Forwarded-For cannot escape the count unless TRUST_PROXY says to believe it', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    const spoofed = [];
    for (let index = 0; index < 3; index++) {
      spoofed.push((await rest('203.0.113.90', { ...bearer(unknownToken()), 'x-forwarded-for': `10.9.0.${index}` })).statusCode);
    }
    expect(spoofed).toEqual([401, 401, 429]);
    await app!.close();

    // Behind a trusted proxy every client shares the proxy's socket address: the forwarded one is what counts.
    await appWith({ authFailuresPerMinute: 2, trustProxy: '127.0.0.1' });
    const proxied = (client: string) => rest('127.0.0.1', { ...bearer(unknownToken()), 'x-forwarded-for': client });
    expect(await statuses(3, () => proxied('198.51.100.9'))).toEqual([401, 401, 429]);
    expect((await proxied('198.51.100.10')).statusCode).toBe(401);
  });

  it('AUTH_FAILURES_PER_MINUTE=0 turns the lockout off', async () => {
    await appWith({ authFailuresPerMinute: 0 });
    const bad = await statuses(50, () => rest('203.0.113.50', bearer(unknownToken())));
    expect(new Set(bad)).toEqual(new Set([401]));
    expect((await rest('203.0.113.50', bearer(await adminToken()))).statusCode).toBe(200);
  });

  it('costs requests without an Authorization header nothing but the header check', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    const lockedOutFor = vi.spyOn(app!.authFailures, 'lockedOutFor');
    const recordFailure = vi.spyOn(app!.authFailures, 'recordFailure');
    const authenticate = vi.spyOn(app!.auth, 'authenticate');
    expect((await rest('203.0.113.60')).statusCode).toBe(200);
    expect((await graphql('203.0.113.60')).statusCode).toBe(200);
    expect(lockedOutFor).not.toHaveBeenCalled();
    expect(recordFailure).not.toHaveBeenCalled();
    expect(authenticate).not.toHaveBeenCalled();

    // A valid token is checked against the lockout, and its success is not counted.
    expect((await rest('203.0.113.60', bearer(await adminToken()))).statusCode).toBe(200);
    expect(lockedOutFor).toHaveBeenCalledTimes(1);
    expect(recordFailure).not.toHaveBeenCalled();
  });

  it('ends the lockout after AUTH_LOCKOUT_SECONDS and forgets failures older than a minute (injected clock)', async () => {
    await appWith({ authFailuresPerMinute: 3, authLockoutSeconds: 300 });
    const clock = fakeClock();
    // The counter is the swappable part: install one with the same settings and a clock the test moves.
    app!.authFailures = createFailedAuthLimiter({ maxFailures: 3, lockoutMs: 300_000, now: clock.now });
    const valid = await adminToken();
    const address = '203.0.113.70';

    expect(await statuses(2, () => rest(address, bearer(unknownToken())))).toEqual([401, 401]);
    clock.advance(60_001);
    // The first two are more than a minute old: three more fit before the lockout.
    expect(await statuses(3, () => rest(address, bearer(unknownToken())))).toEqual([401, 401, 401]);
    clock.advance(59_000);
    const locked = await rest(address, bearer(unknownToken()));
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('300');

    clock.advance(299_500);
    const almost = await rest(address, bearer(valid));
    expect(almost.statusCode).toBe(429);
    expect(almost.headers['retry-after']).toBe('1');
    // Attempts during the lockout do not extend it.
    clock.advance(500);
    expect((await rest(address, bearer(valid))).statusCode).toBe(200);
    // After the lockout, the address starts with a fresh budget.
    expect(await statuses(3, () => rest(address, bearer(unknownToken())))).toEqual([401, 401, 401]);
    expect((await rest(address, bearer(valid))).statusCode).toBe(429);
  });

  it('works with a counter that answers asynchronously (as a shared store would)', async () => {
    await appWith({ authFailuresPerMinute: 0 });
    const inner = createFailedAuthLimiter({ maxFailures: 2, lockoutMs: 60_000 });
    const asynchronous: FailedAuthCounter = {
      lockedOutFor: async (address) => inner.lockedOutFor(address),
      recordFailure: async (address) => inner.recordFailure(address),
    };
    app!.authFailures = asynchronous;
    const valid = await adminToken();
    expect((await rest('203.0.113.80', bearer(valid))).statusCode).toBe(200);
    expect(await statuses(3, () => rest('203.0.113.80', bearer(unknownToken())))).toEqual([401, 401, 429]);
    expect((await graphql('203.0.113.80', bearer(valid))).statusCode).toBe(429);
    expect((await rest('203.0.113.80')).statusCode).toBe(200);

    // A failing store fails the request (500), it does not let the token through unchecked.
    app!.authFailures = { lockedOutFor: async () => Promise.reject(new Error('store down')), recordFailure: async () => undefined };
    const failed = await rest('203.0.113.81', bearer(valid));
    expect(failed.statusCode).toBe(500);
    expect(failed.json().code).toBe('MNEMO_INTERNAL');
  });

  it('keeps the address map bounded under many addresses, and groups IPv6 addresses by /64', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    const limiter = createFailedAuthLimiter({ maxFailures: 2, lockoutMs: 60_000, maxAddresses: 100 });
    app!.authFailures = limiter;
    for (let index = 0; index < 500; index++) {
      await rest(`10.${(index >> 8) & 255}.${index & 255}.1`, bearer(unknownToken()));
      await rest(`2001:db8:${index.toString(16)}::1`, bearer(unknownToken()));
    }
    expect(limiter.size).toBeLessThanOrEqual(100);

    // Rotating through the addresses of one /64 does not escape the count: it is one client.
    const rotating = [];
    for (let index = 1; index <= 3; index++) rotating.push((await rest(`2001:db8:aaaa:bbbb::${index.toString(16)}`, bearer(unknownToken()))).statusCode);
    expect(rotating).toEqual([401, 401, 429]);
    expect((await rest('2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff', bearer(unknownToken()))).statusCode).toBe(429);
    expect((await rest('2001:db8:aaaa:bbbc::1', bearer(unknownToken()))).statusCode).toBe(401);
  });

  it('is bounded by default too, and a locked address that keeps trying is not the one evicted', () => {
    const clock = fakeClock();
    const limiter = createFailedAuthLimiter({ maxFailures: 1, lockoutMs: 60_000, maxAddresses: 10, now: clock.now });
    limiter.recordFailure('192.0.2.1');
    expect(limiter.lockedOutFor('192.0.2.1')).toBe(60);
    for (let index = 0; index < 50; index++) {
      limiter.recordFailure(`198.51.100.${index}`);
      // The attacker keeps knocking, so its entry stays recent.
      expect(limiter.lockedOutFor('192.0.2.1')).toBe(60);
    }
    expect(limiter.size).toBe(10);

    const defaults = createFailedAuthLimiter({ maxFailures: 5, lockoutMs: 60_000 });
    for (let index = 0; index < defaultMaxAddresses + 5_000; index++) defaults.recordFailure(`2001:db8:${(index >> 16).toString(16)}:${(index & 0xffff).toString(16)}::1`);
    expect(defaults.size).toBe(defaultMaxAddresses);
    expect(defaultMaxAddresses).toBeLessThanOrEqual(100_000);
  });
});

describe('addressKey', () => {
  it('keeps IPv4 addresses, unwraps IPv4-mapped IPv6, and reduces IPv6 to its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::FFFF:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0DB8:0001:0002::ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });

  it('bounds whatever else it is given (a trusted proxy may forward anything)', () => {
    expect(addressKey('x'.repeat(10_000)).length).toBeLessThanOrEqual(64);
    expect(addressKey('unknown')).toBe('unknown');
  });
});
