import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestLrsOptions {
  /** Deliveries (requests) answered 503 before any is accepted. */
  failFirst?: number;
  /** Every request is answered after this long. */
  delayMs?: number;
  /** A statement whose result.response is this is refused with 400. */
  rejectResponse?: string;
  /** A batch holding an id already stored is refused as a whole with 409 (as some LRSs do). */
  batchConflicts?: boolean;
  /** A request body larger than this is refused with 413. */
  maxBodyBytes?: number;
  /** Basic credentials the LRS requires. */
  username?: string;
  password?: string;
}

interface StatementLike {
  id: string;
  result?: { response?: string };
}

/**
 * A Learning Record Store on loopback for tests: stores statements by id (a known id is a 409 for a PUT, and ignored in
 * a POST unless `batchConflicts`), fails the first deliveries, answers slowly or refuses a crafted statement.
 */
export async function startTestLrs(options: TestLrsOptions = {}) {
  const stored = new Map<string, StatementLike>();
  /** Every time the LRS was sent each id (a redelivery counts again; the LRS keeps the statement once). */
  const receipts = new Map<string, number>();
  let arrived = 0;
  const events = new EventEmitter();
  const requests: { method: string; url: string; status: number; version: string | undefined; count: number }[] = [];
  let failuresLeft = options.failFirst ?? 0;
  let rejectResponse = options.rejectResponse;

  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  const server: Server = createServer((request, response) => {
    arrived++;
    events.emit('request');
    void (async () => {
      const body = await readBody(request);
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      const answer = (status: number, payload: unknown = '', count = 0) => {
        requests.push({ method: request.method!, url: request.url!, status, version: request.headers['x-experience-api-version'] as string | undefined, count });
        response.writeHead(status, { 'content-type': 'application/json' }).end(payload === '' ? '' : JSON.stringify(payload));
        events.emit('request');
      };
      const expected = options.username === undefined ? undefined : `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
      if (expected !== undefined && request.headers.authorization !== expected) return answer(401, { error: 'bad credentials' });
      if (failuresLeft > 0) {
        failuresLeft--;
        return answer(503, { error: 'try later' });
      }
      if (options.maxBodyBytes !== undefined && Buffer.byteLength(body) > options.maxBodyBytes) return answer(413, { error: 'too large' });
      const url = new URL(request.url!, 'http://lrs');
      if (url.pathname !== '/xapi/statements') return answer(404);
      const parsed = JSON.parse(body) as StatementLike | StatementLike[];
      const batch = Array.isArray(parsed) ? parsed : [parsed];
      for (const statement of batch) receipts.set(statement.id, (receipts.get(statement.id) ?? 0) + 1);
      if (batch.some((statement) => rejectResponse !== undefined && statement.result?.response === rejectResponse)) {
        return answer(400, { error: 'statement refused' }, batch.length);
      }
      if (request.method === 'PUT') {
        const statement = batch[0]!;
        if (url.searchParams.get('statementId') !== statement.id) return answer(400, { error: 'statementId does not match' }, 1);
        if (stored.has(statement.id)) return answer(409, { error: 'known id' }, 1);
        stored.set(statement.id, statement);
        events.emit('stored');
        return answer(204, '', 1);
      }
      if (options.batchConflicts && batch.some((statement) => stored.has(statement.id))) return answer(409, { error: 'known id in batch' }, batch.length);
      for (const statement of batch) if (!stored.has(statement.id)) stored.set(statement.id, statement);
      events.emit('stored');
      return answer(200, batch.map((statement) => statement.id), batch.length);
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}/xapi/`,
    stored,
    receipts,
    /** Requests that have arrived, answered or not. */
    arrived: () => arrived,
    requests,
    /** Stop refusing the crafted statement (it is accepted from now on). */
    acceptAll(): void {
      rejectResponse = undefined;
    },
    /** Resolves once `predicate` holds, checked as every request arrives and is answered; fails after `timeoutMs`. */
    async until(predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
      if (predicate()) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off('request', check);
          reject(new Error(`the test LRS did not see the expected deliveries within ${timeoutMs} ms (${stored.size} stored, ${requests.length} requests)`));
        }, timeoutMs);
        function check() {
          if (!predicate()) return;
          clearTimeout(timer);
          events.off('request', check);
          resolve();
        }
        events.on('request', check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export type TestLrs = Awaited<ReturnType<typeof startTestLrs>>;
