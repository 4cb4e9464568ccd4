import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { documentSecurityHeaders, securityHeaders } from '../../src/http/security-headers.js';
import { testConfig, type ProtectionConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await app?.close();
  app = undefined;
});

async function appWith(protection: Partial<ProtectionConfig> = {}, other: Parameters<typeof testConfig>[0] = {}) {
  const base = testConfig();
  app = await buildTestApp({ seed: true, config: { ...other, protection: { ...base.protection, ...protection } } });
  return app;
}

async function listen(instance: FastifyInstance): Promise<number> {
  await instance.listen({ host: '127.0.0.1', port: 0 });
  const address = instance.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** A raw HTTP request, for what app.inject cannot exercise (the HTTP parser, socket timeouts). */
function raw(port: number, lines: string): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(headerLines.map((line) => [line.split(':')[0]!.toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), body, headers });
    });
    socket.on('error', reject);
    socket.write(lines);
  });
}

describe('rate limiting', () => {
  it('answers 429 problem+json with Retry-After after the per-minute limit, per key, per IP when anonymous', async () => {
    await appWith({ rateLimitPerMinute: 3, rateLimitStaffMultiplier: 2 });
    const statuses = async (headers: Record<string, string>, count: number) => {
      const result: number[] = [];
      for (let index = 0; index < count; index++) result.push((await app!.inject({ url: '/v1/modules', headers })).statusCode);
      return result;
    };
    expect(await statuses({}, 4)).toEqual([200, 200, 200, 429]);
    const limited = await app!.inject({ url: '/v1/modules' });
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(limited.json()).toMatchObject({ status: 429, code: 'MNEMO_RATE_LIMITED' });
    // Keys are created by an admin key made directly, so the anonymous bucket is not involved.
    const actors = await createActors(app!, { deckFrom: 'service' });
    // Each key has its own bucket; staff keys get the multiple (3 x 2).
    expect(await statuses(actors.learner.headers, 4)).toEqual([200, 200, 200, 429]);
    const integration = { authorization: `Bearer ${(await app!.auth.createKey({ role: 'integration', name: 'fresh' }, null)).token}` };
    expect(await statuses(integration, 7)).toEqual([200, 200, 200, 200, 200, 200, 429]);
  });

  it('cannot be bypassed with X-Forwarded-For unless trustProxy is configured', async () => {
    await appWith({ rateLimitPerMinute: 2 });
    const spoofed = [];
    for (let index = 0; index < 3; index++) {
      spoofed.push((await app!.inject({ url: '/v1/modules', headers: { 'x-forwarded-for': `10.0.0.${index}` } })).statusCode);
    }
    expect(spoofed).toEqual([200, 200, 429]);
    await app!.close();

    await appWith({ rateLimitPerMinute: 2, trustProxy: true }, {});
    const viaProxy = [];
    for (let index = 0; index < 3; index++) {
      viaProxy.push((await app!.inject({ url: '/v1/modules', headers: { 'x-forwarded-for': `10.0.0.${index}` } })).statusCode);
    }
    expect(viaProxy).toEqual([200, 200, 200]);
  });

  it('counts anonymous IPv6 callers per /64, so rotating addresses within it gets no fresh budget', async () => {
    await appWith({ rateLimitPerMinute: 3 });
    const statuses = [];
    for (let index = 1; index <= 5; index++) {
      statuses.push((await app!.inject({ url: '/v1/modules', remoteAddress: `2001:db8:1:2::${index.toString(16)}` })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect((await app!.inject({ url: '/v1/modules', remoteAddress: '2001:db8:1:3::1' })).statusCode).toBe(200);
  });
});

describe('headers', () => {
  it('sets security headers on JSON, docs and GraphiQL pages', async () => {
    await appWith({}, { graphql: { ...testConfig().graphql, graphiql: true } });
    // Every response, 304s and problems included, carries the whole block.
    const etag = (await app!.inject('/v1/modules')).headers.etag as string;
    const requests = [
      { url: '/v1/modules' },
      { url: '/v1/modules', headers: { 'if-none-match': etag } },
      { url: '/v1/modules/nothing-here' },
      { url: '/docs/' },
      // Percent-encoded, the path still reaches the docs: the headers follow the route, not the raw URL.
      { url: '/%64ocs/' },
      { url: '/graphiql' },
      { url: '/graphql', method: 'POST' as const, payload: { query: '{ apiVersion }' } },
    ];
    for (const request of requests) {
      const response = await app!.inject(request);
      expect(response.headers['x-content-type-options'], request.url).toBe('nosniff');
      expect(response.headers['x-frame-options'], request.url).toBe('DENY');
      expect(response.headers['strict-transport-security'], request.url).toBe('max-age=31536000; includeSubDomains');
      // Pages a browser renders get the document headers too (and a CSP of their own); JSON responses only what an
      // API needs.
      const document = request.url.startsWith('/docs') || request.url.startsWith('/%64ocs') || request.url === '/graphiql';
      if (!document) expect(response.headers['content-security-policy'], request.url).toBe("frame-ancestors 'none'");
      // Content says what may be cached; everything else (problems, GraphQL, learner data) is not stored.
      const content = request.url.startsWith('/v1/modules') && !request.url.includes('nothing-here');
      if (!document) expect(response.headers['cache-control'], request.url).toBe(content ? 'public, no-cache' : 'no-store');
      const expected = document ? documentSecurityHeaders : securityHeaders;
      expect(Object.keys(response.headers).filter((name) => name in documentSecurityHeaders).sort(), request.url).toEqual(Object.keys(expected).sort());
      if (document) expect(response.headers['referrer-policy'], request.url).toBe('no-referrer');
    }
  });

  it('sets them on responses ended before routing or by an early hook: bad tokens, lockouts, malformed URLs and requests', async () => {
    await appWith({ authFailuresPerMinute: 2 });
    const hasBlock = (headers: Record<string, unknown>, what: string) => {
      for (const [name, value] of Object.entries(securityHeaders)) expect(headers[name], `${what}: ${name}`).toBe(value);
    };
    const badToken = { authorization: 'Bearer mnemo_nope' };
    const refused = await app!.inject({ url: '/v1/modules/networking', headers: badToken });
    expect(refused.statusCode).toBe(401);
    hasBlock(refused.headers, '401 REST');
    const graphql = await app!.inject({ url: '/graphql', method: 'POST', headers: badToken, payload: { query: '{ apiVersion }' } });
    hasBlock(graphql.headers, '401 GraphQL');
    await app!.inject({ url: '/v1/me/answers', headers: badToken });
    const locked = await app!.inject({ url: '/v1/me/answers', headers: badToken });
    expect(locked.statusCode).toBe(429);
    hasBlock(locked.headers, '429 lockout');
    const badUrl = await app!.inject({ url: '/v1/modules/%E0%A4%A' });
    expect(badUrl.statusCode).toBe(400);
    hasBlock(badUrl.headers, '400 malformed URL');
    // Malformed at the HTTP level: answered straight on the socket, with the same block.
    const port = await listen(app!);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1.1 431/);
    for (const [name, value] of Object.entries(securityHeaders)) expect(raw.toLowerCase()).toContain(`${name}: ${value}`.toLowerCase());
  });

  it('keeps CORS closed by default and opens it only to configured origins', async () => {
    await appWith();
    const closed = await app!.inject({ url: '/v1/modules', headers: { origin: 'https://evil.example' } });
    expect(closed.headers['access-control-allow-origin']).toBeUndefined();
    await app!.close();

    await appWith({ corsOrigins: ['https://lms.example'] });
    const allowed = await app!.inject({ url: '/v1/modules', headers: { origin: 'https://lms.example' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://lms.example');
    const other = await app!.inject({ url: '/v1/modules', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await app!.inject({ method: 'OPTIONS', url: '/v1/me/answers', headers: { origin: 'https://lms.example', 'access-control-request-method': 'POST' } });
    expect(preflight.statusCode).toBe(204);
  });
});

describe('overload', () => {
  it('sheds load with 503 and Retry-After when the event loop falls behind', async () => {
    await appWith({ maxEventLoopDelayMs: 50 });
    expect((await app!.inject('/v1/modules')).statusCode).toBe(200);
    // Stall the event loop in 200 ms bursts for longer than two of under-pressure's one-second windows, as a
    // CPU-bound load would. One long block is not enough: the window's mean delay would average it with however
    // many short samples happened to come before it in the same window.
    const until = Date.now() + 2200;
    while (Date.now() < until) {
      const burst = Date.now() + 200;
      while (Date.now() < burst) {
        /* busy */
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await vi.waitFor(
      async () => {
        const response = await app!.inject('/v1/modules');
        expect(response.statusCode).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(response.json()).toMatchObject({ code: 'MNEMO_OVERLOADED' });
        // Probes with response schemas of their own get the same problem, not a serialisation error.
        const ready = await app!.inject('/readyz');
        expect(ready.statusCode).toBe(503);
        expect(ready.json().code).toBe('MNEMO_OVERLOADED');
      },
      { timeout: 3000, interval: 20 },
    );
  });
});

describe('internal failures', () => {
  it('a throwing repository gives a generic 500 with the request id and no internals', async () => {
    await appWith();
    vi.spyOn(app!.content, 'getModuleContent').mockImplementation(() => {
      throw Object.assign(new Error('SQLITE_ERROR: no such table: modules (SELECT * FROM modules) at /work/main/src/content/repository.ts:10'), { code: 'SQLITE_ERROR' });
    });
    const response = await app!.inject('/v1/modules/networking');
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 'MNEMO_INTERNAL', requestId: response.headers['x-request-id'] });
    expect(response.body).not.toMatch(/SQLITE|SELECT|\/work\/|repository|at /);
  });

});

describe('limits, just under and just over', () => {
  it('JSON bodies: the answer routes take up to JSON_BODY_LIMIT_BYTES', async () => {
    await appWith({}, { limits: { jsonBodyBytes: 8 * 1024, importBodyBytes: 64 * 1024 } });
    const actors = await createActors(app!);
    const sized = (bytes: number) => {
      const base = Buffer.byteLength(JSON.stringify({ answers: [answer(actors.deck[0]!, { response: '' })] }));
      return JSON.stringify({ answers: [answer(actors.deck[0]!, { response: 'x'.repeat(bytes - base) })] });
    };
    const post = (payload: string) =>
      app!.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: { ...actors.learner.headers, 'content-type': 'application/json' }, payload });
    expect((await post(sized(8 * 1024))).statusCode).toBe(200);
    const over = await post(sized(8 * 1024 + 1));
    expect(over.statusCode).toBe(413);
    expect(over.json().code).toBe('MNEMO_REQUEST_TOO_LARGE');
  });

  it('imports take up to IMPORT_BODY_LIMIT_BYTES, more than other routes', async () => {
    await appWith({}, { limits: { jsonBodyBytes: 8 * 1024, importBodyBytes: 64 * 1024 } });
    const actors = await createActors(app!);
    const module = generatedModule('sized', 2);
    const sized = (bytes: number) => {
      const padded = { ...module, summary: '' };
      padded.summary = 'y'.repeat(bytes - Buffer.byteLength(JSON.stringify(padded)));
      return JSON.stringify(padded);
    };
    const post = (payload: string) =>
      app!.inject({ method: 'POST', url: '/v1/admin/modules', headers: { ...actors.admin, 'content-type': 'application/json' }, payload });
    // Under the byte limit the source is read, and its own 5,000-character summary limit applies.
    const under = await post(sized(64 * 1024));
    expect(under.statusCode).toBe(400);
    expect(under.json().errors).toEqual([{ path: 'summary', message: 'summary must be at most 5000 characters' }]);
    expect((await post(sized(64 * 1024 + 1))).statusCode).toBe(413);
  });

  it('strings: externalId 200, key names 100, answer responses 10,000, search queries 200', async () => {
    await appWith();
    const actors = await createActors(app!);
    const user = (externalId: string) => app!.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId } });
    expect((await user('e'.repeat(200))).statusCode).toBe(201);
    expect((await user('e'.repeat(201))).statusCode).toBe(400);
    const key = (name: string) => app!.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name } });
    expect((await key('n'.repeat(100))).statusCode).toBe(201);
    expect((await key('n'.repeat(101))).statusCode).toBe(400);
    const respond = (response: string) => app!.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!, { response }) });
    expect((await respond('r'.repeat(10_000))).statusCode).toBe(201);
    expect((await respond('r'.repeat(10_001))).statusCode).toBe(400);
    expect((await app!.inject(`/v1/search?q=${'q'.repeat(200)}`)).statusCode).toBe(200);
    expect((await app!.inject(`/v1/search?q=${'q'.repeat(201)}`)).statusCode).toBe(400);
  });

  it('page sizes: each list accepts its maximum and refuses one more', async () => {
    await appWith();
    const actors = await createActors(app!);
    const pages: [string, number, Record<string, string>][] = [
      ['/v1/modules?limit=', 100, {}],
      ['/v1/changes?limit=', 1000, {}],
      ['/v1/search?q=ingress&limit=', 50, {}],
      ['/v1/me/answers?limit=', 100, actors.learner.headers],
      ['/v1/me/cards?limit=', 500, actors.learner.headers],
      ['/v1/me/study?limit=', 100, actors.learner.headers],
      [`/v1/users/${actors.learner.userId}/answers?limit=`, 100, actors.integration],
    ];
    for (const [url, max, headers] of pages) {
      expect((await app!.inject({ url: `${url}${max}`, headers })).statusCode, url).toBe(200);
      const over = await app!.inject({ url: `${url}${max + 1}`, headers });
      expect(over.statusCode, url).toBe(400);
      expect(over.json().code).toBe('MNEMO_REQUEST_INVALID');
    }
  });

  it('headers: up to Node’s 16 KiB header limit, then 431 problem+json', async () => {
    await appWith();
    const port = await listen(app!);
    const get = (size: number) => raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'h'.repeat(size)}\r\nConnection: close\r\n\r\n`);
    expect((await get(15 * 1024)).status).toBe(200);
    const over = await get(17 * 1024);
    expect(over.status).toBe(431);
    expect(over.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(over.body)).toMatchObject({ status: 431, code: 'MNEMO_REQUEST_INVALID' });
  });

  it('malformed HTTP gets a 400 problem+json and the connection closes', async () => {
    await appWith();
    const port = await listen(app!);
    const response = await raw(port, 'NOT-HTTP\r\n\r\n');
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
  });

  it('a request that does not arrive within REQUEST_TIMEOUT_MS is cut off', async () => {
    await appWith({}, { requestTimeoutMs: 300 });
    const port = await listen(app!);
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      const request = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/me/answers', headers: { 'content-type': 'application/json', 'content-length': '100' } }, (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      request.write('{"clientAnswerId":');
      // The rest of the body never comes: a slow-loris client must not hold the connection.
    });
    expect(['ECONNRESET', 'status 408']).toContain(outcome);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
