import type { LrsConfig } from '../config.js';

/** What became of a batch sent to the LRS, by statement id. */
export interface DeliveryOutcome {
  /** The LRS has them (stored now, or known already: 409). */
  delivered: string[];
  /** Refused as invalid (400): kept aside with the LRS's reason, never sent again unless re-queued. */
  parked: { id: string; reason: string }[];
  /** Not delivered this time (network, timeout, 429, 5xx, a refused configuration): sent again later. */
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

const transient = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Sends statements to `<LRS_ENDPOINT>/statements` with the configured version header and Basic auth. A batch is one
 * POST. Some LRSs refuse a whole batch with 409 when one id is known, and a 400 names no statement, so either makes
 * the batch go again one statement at a time (PUT with its id): a known id (409) counts as delivered, a refused one
 * (400) is parked, and the rest are not held up by either.
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

  async function oneByOne(statements: readonly Sendable[], signal: AbortSignal): Promise<DeliveryOutcome> {
    const outcome: DeliveryOutcome = { delivered: [], parked: [], retry: undefined };
    for (const [index, statement] of statements.entries()) {
      const url = new URL(statementsUrl);
      url.searchParams.set('statementId', statement.id);
      let answer: Answer;
      try {
        answer = await send('PUT', url, statement, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        outcome.retry = { ids: statements.slice(index).map((rest) => rest.id), error: failure(error), retryAfterMs: undefined };
        return outcome;
      }
      if ((answer.status >= 200 && answer.status < 300) || answer.status === 409) outcome.delivered.push(statement.id);
      else if (answer.status === 400) outcome.parked.push({ id: statement.id, reason: `LRS refused the statement (400): ${answer.body}` });
      else {
        const ids = statements.slice(index).map((rest) => rest.id);
        outcome.retry = { ids, error: `LRS answered ${answer.status} to PUT: ${answer.body}`, retryAfterMs: answer.retryAfterMs };
        return outcome;
      }
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
      if (answer.status === 400 && statements.length === 1) {
        return { delivered: [], parked: [{ id: ids[0]!, reason: `LRS refused the statement (400): ${answer.body}` }], retry: undefined };
      }
      if (answer.status === 409 || answer.status === 400 || answer.status === 413) return oneByOne(statements, signal);
      const error = `LRS answered ${answer.status}${transient(answer.status) ? '' : ' (check LRS_ENDPOINT and its credentials)'}: ${answer.body}`;
      return { delivered: [], parked: [], retry: { ids, error, retryAfterMs: answer.retryAfterMs } };
    },
  };
}

export type LrsClient = ReturnType<typeof createLrsClient>;
