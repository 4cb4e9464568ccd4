import type { LrsConfig } from '../config.js';

/** What became of a batch sent to the LRS, by statement id. */
export interface DeliveryOutcome {
  /** The LRS has them (stored now, or known already: 409). */
  delivered: string[];
  /** Refused (400, 413, ...): kept aside with the LRS's reason, never sent again unless re-queued. */
  parked: { id: string; reason: string }[];
  /** Not delivered this time (network, timeout, 408, 429, 5xx, refused credentials, no such endpoint): sent again later. */
  retry: { ids: string[]; error: string; retryAfterMs: number | undefined } | undefined;
}

interface Answer {
  status: number;
  body: string;
  retryAfterMs: number | undefined;
}

/** A statement to send: anything with an id (the dispatcher sends built statements). */
export interface Sendable {
  id: string;
}

/** The LRS's Retry-After (seconds, or an HTTP date), at most an hour; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const seconds = /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(Math.max(seconds, 0), 3_600_000);
}

/** A short, printable excerpt of what the LRS said, for the outbox's last error and the admin status. */
const excerpt = (text: string) =>
  [...text.slice(0, 1000)]
    .map((character) => (character < ' ' || character === '\u007f' ? ' ' : character))
    .join('')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, 500);

/**
 * A status about the LRS or the way to it (unavailable, overloaded, timing out, refusing our credentials, no such
 * endpoint), not about one statement: every statement of the batch waits and is tried again. Any other refusal
 * (400, 413, 422, ...) is about what was sent.
 */
const lrsWide = (status: number) => status === 408 || status === 429 || status >= 500 || status === 401 || status === 403 || status === 404 || status === 405;

/**
 * Sends statements to `<LRS_ENDPOINT>/statements` with the configured version header and Basic auth. A batch is one
 * POST. Some LRSs refuse a whole batch with 409 when one id is known, and a 400 or 413 names no statement, so a
 * refused batch goes again one statement at a time (PUT with its id): a known id (409) counts as delivered, a
 * refused statement (400, 413, ...) is parked, and the rest are not held up by it.
 */
export function createLrsClient(config: LrsConfig, fetchImpl: typeof fetch = fetch) {
  const base = config.endpoint.endsWith('/') ? config.endpoint : `${config.endpoint}/`;
  const statementsUrl = new URL('statements', base);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-experience-api-version': config.version };
  if (config.username !== undefined && config.password !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`;
  }

  async function send(method: 'POST' | 'PUT', url: URL, body: unknown, signal: AbortSignal): Promise<Answer> {
    const response = await fetchImpl(url, {
      method,
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, AbortSignal.timeout(config.timeoutMs)]),
      redirect: 'error',
    });
    const text = await response.text();
    return { status: response.status, body: excerpt(text), retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
  }

  const failure = (error: unknown) =>
    `LRS unreachable: ${excerpt(error instanceof Error ? `${error.name}: ${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error))}`;

  const refusal = (answer: Answer) => `LRS refused the statement (${answer.status}): ${answer.body}`;

  /**
   * Each statement on its own (PUT with its id): a known id (409) is delivered; a statement the LRS refuses is parked
   * and the rest go on; a failure of the LRS itself stops here, and the rest wait with the statement that met it.
   */
  async function oneByOne(statements: readonly Sendable[], signal: AbortSignal): Promise<DeliveryOutcome> {
    const outcome: DeliveryOutcome = { delivered: [], parked: [], retry: undefined };
    for (const [index, statement] of statements.entries()) {
      const url = new URL(statementsUrl);
      url.searchParams.set('statementId', statement.id);
      const rest = () => statements.slice(index).map((pending) => pending.id);
      let answer: Answer;
      try {
        answer = await send('PUT', url, statement, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        outcome.retry = { ids: rest(), error: failure(error), retryAfterMs: undefined };
        return outcome;
      }
      if ((answer.status >= 200 && answer.status < 300) || answer.status === 409) outcome.delivered.push(statement.id);
      else if (lrsWide(answer.status)) {
        outcome.retry = { ids: rest(), error: `LRS answered ${answer.status} to PUT: ${answer.body}`, retryAfterMs: answer.retryAfterMs };
        return outcome;
      } else outcome.parked.push({ id: statement.id, reason: refusal(answer) });
    }
    return outcome;
  }

  return {
    /** Delivers the batch: every statement ends delivered, parked or to be retried. */
    async deliver(statements: readonly Sendable[], signal: AbortSignal): Promise<DeliveryOutcome> {
      const ids = statements.map((statement) => statement.id);
      let answer: Answer;
      try {
        answer = await send('POST', statementsUrl, statements, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        return { delivered: [], parked: [], retry: { ids, error: failure(error), retryAfterMs: undefined } };
      }
      if (answer.status >= 200 && answer.status < 300) return { delivered: ids, parked: [], retry: undefined };
      if (lrsWide(answer.status)) {
        const error = `LRS answered ${answer.status}${answer.status < 500 && answer.status !== 408 && answer.status !== 429 ? ' (check LRS_ENDPOINT and its credentials)' : ''}: ${answer.body}`;
        return { delivered: [], parked: [], retry: { ids, error, retryAfterMs: answer.retryAfterMs } };
      }
      if (statements.length === 1) {
        return answer.status === 409 ? { delivered: ids, parked: [], retry: undefined } : { delivered: [], parked: [{ id: ids[0]!, reason: refusal(answer) }], retry: undefined };
      }
      // 409 (a known id: some LRSs refuse the whole batch), 400, 413 and the like name no statement: one at a time.
      return oneByOne(statements, signal);
    },
  };
}

export type LrsClient = ReturnType<typeof createLrsClient>;
