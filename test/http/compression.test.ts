import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { decodedBody } from '../../src/http/compression.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true, config: { limits: { jsonBodyBytes: 64 * 1024, importBodyBytes: 1024 * 1024 } } });
  actors = await createActors(app);
  // A history page larger than the compression threshold.
  const answers = actors.deck.map((id, index) => answer(id, { answeredAt: new Date(Date.now() - (index + 1) * 60_000).toISOString(), response: 'x'.repeat(300) }));
  const batch = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers } });
  expect(batch.statusCode).toBe(200);
});
afterAll(() => app.close());

/** An answer POST with an encoded body. */
const post = (body: Buffer, encoding: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/me/answers',
    headers: { ...actors.learner.headers, 'content-type': 'application/json', 'content-encoding': encoding },
    payload: body,
  });

describe('response compression (routes without cached representations)', () => {
  it('sends gzip or brotli when accepted, the same JSON, with Vary: Accept-Encoding', async () => {
    const url = '/v1/me/answers?limit=50';
    const plain = await app.inject({ url, headers: actors.learner.headers });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(1024);
    const gzip = await app.inject({ url, headers: { ...actors.learner.headers, 'accept-encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.headers.vary).toMatch(/accept-encoding/i);
    expect(gunzipSync(gzip.rawPayload).toString()).toBe(plain.body);
    const br = await app.inject({ url, headers: { ...actors.learner.headers, 'accept-encoding': 'br;q=1, gzip;q=0.5' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(plain.body);
  });

  it('leaves small bodies and unaccepted encodings alone', async () => {
    const small = await app.inject({ url: '/healthz', headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers['content-encoding']).toBeUndefined();
    const refused = await app.inject({ url: '/v1/me/answers?limit=50', headers: { ...actors.learner.headers, 'accept-encoding': 'compress, zstd' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.json().items.length).toBeGreaterThan(0);
  });
});

describe('encoded request bodies', () => {
  it('accepts a gzip body', async () => {
    const response = await post(gzipSync(JSON.stringify(answer(actors.deck[0]!))), 'gzip');
    expect(response.statusCode, response.body).toBe(201);
  });

  it('refuses an unknown encoding with 415, a body that does not decode with 400, and a bomb with 413', async () => {
    const unknown = await post(Buffer.from(JSON.stringify(answer(actors.deck[0]!))), 'zstd');
    expect(unknown.statusCode).toBe(415);
    expect(unknown.headers['content-type']).toMatch(/problem\+json/);
    const corrupt = await post(Buffer.from('certainly not gzip'), 'gzip');
    expect(corrupt.statusCode).toBe(400);
    expect(corrupt.headers['content-type']).toMatch(/problem\+json/);
    // 8 MiB of spaces compress to a few KiB: the limit counts what it decodes to.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"clientAnswerId":"'), Buffer.alloc(8 * 1024 * 1024, 0x20), Buffer.from('"}')]));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const refused = await post(bomb, 'gzip');
    expect(refused.statusCode).toBe(413);
    expect(refused.headers['content-type']).toMatch(/problem\+json/);
  });
});

describe('decoding edge cases (attack review)', () => {
  it('refuses encodings named like object properties with 415, and takes identity in any spelling', async () => {
    for (const encoding of ['__proto__', 'constructor', 'toString']) {
      const response = await post(Buffer.from('{}'), encoding);
      expect(response.statusCode, encoding).toBe(415);
    }
    const identity = await post(Buffer.from(JSON.stringify(answer(actors.deck[1]!))), ' IDENTITY ');
    expect(identity.statusCode, identity.body).toBe(201);
    const noBody = await app.inject({ url: '/healthz', headers: { 'content-encoding': 'bogus' } });
    expect(noBody.statusCode).toBe(200);
  });

  it('stops decoding a bomb once it passes the limit, and tears the decoder down', async () => {
    const bomb = brotliCompressSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
    const source = Readable.from([bomb]);
    const body = decodedBody(source, 'br', 64 * 1024);
    let decoded = 0;
    const failure = await new Promise<Error>((resolve) => {
      body.on('data', (chunk: Buffer) => (decoded += chunk.length));
      body.on('error', resolve);
    });
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).status).toBe(413);
    expect(decoded).toBeLessThanOrEqual(64 * 1024);
    expect(body.destroyed).toBe(true);
  });

  it('does not pick an encoding the client refuses by name', async () => {
    const refused = await app.inject({ url: '/v1/me/answers?limit=50', headers: { ...actors.learner.headers, 'accept-encoding': 'br;q=0, *' } });
    expect(refused.statusCode).toBe(200);
    expect(refused.headers['content-encoding']).not.toBe('br');
    const head = await app.inject({ method: 'HEAD', url: '/v1/me/answers?limit=50', headers: { ...actors.learner.headers, 'accept-encoding': 'gzip' } });
    expect(head.headers['content-encoding']).toBeUndefined();
  });
});
