import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort, spawnServer, type ServerProcess } from './process.js';

/**
 * The baseline every scenario is compared with: a bare node:http server in its own process answering a small
 * JSON object, driven with the same connection settings. A ratio of 1.0 would mean "as fast as Node can answer
 * anything at all on this machine, with this load generator".
 *
 * Run directly (node --import tsx bench/baseline.ts) it serves on $PORT; imported, it offers startBaseline().
 */

const body = Buffer.from(JSON.stringify({ ok: true }));

function serve(port: number): void {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    response.end(body);
  });
  server.keepAliveTimeout = 72_000;
  server.listen(port, '127.0.0.1');
  const close = () => server.close(() => process.exit(0));
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
}

const thisFile = fileURLToPath(import.meta.url);

/** Starts the baseline server as a child process on a free port. */
export async function startBaseline(): Promise<ServerProcess> {
  const port = await freePort();
  return spawnServer({
    name: 'baseline',
    args: ['--import', 'tsx', thisFile],
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    port,
    readyPath: '/',
  });
}

if (process.argv[1] === thisFile) serve(Number(process.env.PORT ?? 0));
