import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

/** A minimal HTTP client for setup work and probes (not for load: autocannon does that). */

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
  timeoutMs?: number;
  /** Reuse connections (setup loops); off for startup polling, where each attempt is a fresh connection. */
  keepAlive?: boolean;
}

const keepAliveAgent = new Agent({ keepAlive: true, maxSockets: 8 });

/** Sends a request; no Accept-Encoding, so responses come uncompressed (as autocannon gets them). */
export function send(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: { ...(body ? { 'content-length': body.length } : {}), ...options.headers },
        agent: options.keepAlive === false ? false : keepAliveAgent,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${options.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends a request and parses a JSON body; fails on any status outside `expect` (200 by default). */
export async function sendJson<T>(url: string, options: HttpRequestOptions = {}, expect: number[] = [200]): Promise<T> {
  const response = await send(url, options);
  if (!expect.includes(response.status)) {
    throw new Error(`${options.method ?? 'GET'} ${url} answered ${response.status}: ${response.body.slice(0, 500)}`);
  }
  return JSON.parse(response.body) as T;
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
export async function mapConcurrent<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

/** Closes the idle keep-alive sockets so the process can exit and servers can stop promptly. */
export function closeIdleConnections(): void {
  keepAliveAgent.destroy();
}
