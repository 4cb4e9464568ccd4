import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort, spawnServer, type ServerProcess } from './process.js';

/**
 * The baselines scenarios are compared with: a bare node:http server in its own process, driven with the same
 * connection settings. A ratio of 1.0 would mean "as fast as Node can answer this on this machine, with this load
 * generator". Three kinds:
 * - `tiny`: `/` answers a small JSON object;
 * - `same-bytes`: a replica of the module responses ($BASELINE_RESPONSES_FILE: body, ETag and headers captured
 *   from the server for each path), driven with the scenario's own requests;
 * - `not-modified`: the same replica answering a matching If-None-Match with a 304.
 * The replica also answers a scenario's own captured responses (`replica` scenarios, by method, path and body): the
 * most a server sending those bytes reaches with this load generator, for scenarios scored against `tiny`.
 * It is also the LRS of `--lrs` runs: a POST to /xapi/statements is read to its end and answered 200 with no ids
 * (mnemo does not read them).
 *
 * Run directly (node --import tsx bench/baseline.ts) it serves on $PORT; imported, it offers startBaseline().
 */

export type BaselineKind = 'tiny' | 'same-bytes' | 'not-modified';

/** Captured responses by `replicaKey`, which the replica sends back byte for byte. */
export type CapturedResponses = Record<string, { body: string; headers: Record<string, string> }>;

/** What a captured response is found by: the request's method, path and body. */
export const replicaKey = (method: string, path: string, body = '') => `${method} ${path}\n${body}`;

const tiny = Buffer.from(JSON.stringify({ ok: true }));

type Replica = CapturedResponses[string] & { bytes: Buffer };

function serve(port: number): void {
  const file = process.env.BASELINE_RESPONSES_FILE;
  const captured = file ? (JSON.parse(readFileSync(file, 'utf8')) as CapturedResponses) : {};
  const replica = new Map<string, Replica>(Object.entries(captured).map(([key, response]) => [key, { ...response, bytes: Buffer.from(response.body) }]));
  const server = createServer((request, response) => {
    const answer = (found: Replica | undefined): void => {
      const bytes = found?.bytes ?? tiny;
      response.writeHead(200, { ...(found?.headers ?? { 'content-type': 'application/json; charset=utf-8' }), 'content-length': bytes.length });
      response.end(bytes);
    };
    if (request.method === 'POST' && request.url === '/xapi/statements') {
      request.resume();
      request.once('end', () => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
        response.end('[]');
      });
      return;
    }
    if (request.method === 'POST') {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.once('end', () => answer(replica.get(replicaKey('POST', request.url ?? '', Buffer.concat(chunks).toString()))));
      return;
    }
    const known = replica.get(replicaKey(request.method ?? 'GET', request.url ?? ''));
    const etag = known?.headers.etag;
    if (etag && request.headers['if-none-match'] === etag) {
      response.writeHead(304, { etag, 'cache-control': known.headers['cache-control'] ?? '', vary: known.headers.vary ?? '' });
      response.end();
      return;
    }
    answer(known);
  });
  server.keepAliveTimeout = 72_000;
  server.listen(port, '127.0.0.1');
  const close = () => server.close(() => process.exit(0));
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
}

const thisFile = fileURLToPath(import.meta.url);

/** Starts the baseline server as a child process on a free port (with a replica of captured responses if given). */
export async function startBaseline(responsesFile?: string): Promise<ServerProcess> {
  const port = await freePort();
  return spawnServer({
    name: 'baseline',
    args: ['--import', 'tsx', thisFile],
    env: { PATH: process.env.PATH ?? '', PORT: String(port), ...(responsesFile ? { BASELINE_RESPONSES_FILE: responsesFile } : {}) },
    port,
    readyPath: '/',
  });
}

if (process.argv[1] === thisFile) serve(Number(process.env.PORT ?? 0));
