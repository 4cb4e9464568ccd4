import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLrsClient, retryAfterMs } from '../../src/xapi/lrs-client.js';
import { startTestLrs, type TestLrs } from '../helpers/test-lrs.js';

let lrs: TestLrs | undefined;
afterEach(async () => {
  await lrs?.close();
  lrs = undefined;
});

const statements = (count: number) => Array.from({ length: count }, (_, index) => ({ id: `00000000-0000-5000-8000-${String(index).padStart(12, '0')}`, result: { response: `r${index}` } }));
const config = (endpoint: string, version: '1.0.3' | '2.0.0' = '2.0.0') => ({ endpoint, username: 'u', password: 'p', version, batchSize: 50, timeoutMs: 1000 });

/** An LRS that answers every request with this status, headers and body. */
async function fixedLrs(status: number, headers: Record<string, string> = {}) {
  const server = createServer((request, response) => {
    request.resume();
    request.once('end', () => response.writeHead(status, headers).end('{"error":"no"}'));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/xapi`, close: () => server.close() };
}

describe('the LRS client', () => {
  it('sends the configured version and Basic credentials, to <endpoint>/statements with or without a trailing slash', async () => {
    lrs = await startTestLrs({ username: 'u', password: 'p' });
    const client = createLrsClient(config(lrs.endpoint.replace(/\/$/, '')));
    const outcome = await client.deliver(statements(3), new AbortController().signal);
    expect(outcome).toEqual({ delivered: statements(3).map((s) => s.id), parked: [], retry: undefined });
    expect(lrs.requests.map((request) => [request.method, request.url, request.version])).toEqual([['POST', '/xapi/statements', '2.0.0']]);
  });

  it('retries what the LRS fails as a whole, honouring Retry-After, and names a refused configuration', async () => {
    const busy = await fixedLrs(429, { 'retry-after': '7' });
    try {
      const outcome = await createLrsClient(config(busy.endpoint)).deliver(statements(2), new AbortController().signal);
      expect(outcome.retry).toMatchObject({ ids: statements(2).map((s) => s.id), retryAfterMs: 7000 });
    } finally {
      busy.close();
    }
    const denied = await fixedLrs(401);
    try {
      const outcome = await createLrsClient(config(denied.endpoint)).deliver(statements(2), new AbortController().signal);
      expect(outcome.retry?.error).toMatch(/401 \(check LRS_ENDPOINT and its credentials\)/);
      expect(outcome.parked).toEqual([]);
    } finally {
      denied.close();
    }
    const gone = await createLrsClient(config('http://127.0.0.1:1/xapi/')).deliver(statements(1), new AbortController().signal);
    expect(gone.retry?.error).toMatch(/^LRS unreachable/);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded to an hour', () => {
    expect(retryAfterMs('12')).toBe(12_000);
    expect(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(30_000);
    expect(retryAfterMs('999999')).toBe(3_600_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
