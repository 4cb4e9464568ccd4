import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type Agent } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { compareAnswers, createScheduler, type StoredCard } from '../../src/learning/scheduler.js';
import { repoRoot } from './app.js';
import { ensureBuilt, runCli, type ServerProcess } from './server-process.js';

/*
 * Shared machinery of the real-process reliability tests (test/reliability): tracked server and CLI processes
 * (always killed at the end), plain-fetch learners that remember which answers were acknowledged, and a
 * read-only check of the database file against those acknowledgements.
 */

// ---------------------------------------------------------------------------------------------------------------
// Processes

const children = new Set<ChildProcess>();

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** SIGKILLs every server or CLI process these helpers started that is still running (afterAll / finally). */
export function killChildren(): void {
  for (const child of children) {
    if (alive(child)) child.kill('SIGKILL');
  }
  children.clear();
}

export interface RunningServer extends ServerProcess {
  port: number;
  /** Resolves once the process has exited and its stdout/stderr are fully read (so `logs` is complete). */
  closed: Promise<void>;
}

/**
 * The env every reliability server runs with: no rate limit, lockout or load shedding, and no per-card answer
 * cap (crash rounds pile answers on few cards), on the given database: a SQLite file, or `{ url }` for PostgreSQL
 * (DATABASE_URL; several servers may share it).
 */
export const serverEnv = (database: string | { url: string }, extra: Record<string, string> = {}): Record<string, string> => ({
  ...(typeof database === 'string' ? { DATABASE_PATH: database } : { DATABASE_URL: database.url }),
  RATE_LIMIT_PER_MINUTE: '0',
  AUTH_FAILURES_PER_MINUTE: '0',
  MAX_ANSWERS_PER_CARD: '1000000',
  MAX_EVENT_LOOP_DELAY_MS: '0',
  ...extra,
});

/**
 * Starts `node dist/main.js` like startServer (test/helpers/server-process.ts), but tracks the child from the
 * moment it is spawned (so killChildren() also reaps a server that never got to listen), gives up after
 * `timeoutMs`, and adds the port and a `closed` promise. The server must log at info or lower: readiness is its
 * "Server listening at" line.
 */
export function launchServer(env: Record<string, string>, timeoutMs = 20_000): Promise<RunningServer> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: repoRoot,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not listen within ${timeoutMs} ms:\n${logs.join('\n')}`));
    }, timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      const match = /Server listening at (http:\/\/127\.0\.0\.1:(\d+))/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, baseUrl: match[1]!, port: Number(match[2]), logs, exited, closed });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${logs.join('\n')}`));
    });
  });
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * `node dist/cli/main.js ...` without blocking this process's event loop (runCli uses execFileSync, which would
 * freeze the concurrent clients of the test). Killed after `timeoutMs`.
 */
export function runCliAsync(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, ['dist/cli/main.js', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Polls `condition` every few milliseconds; fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await delay(5);
  }
}

/** Resolves once nothing accepts TCP connections on the port any more (the server stopped listening). */
export async function waitUntilRefused(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections after ${timeoutMs} ms`);
    await delay(10);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Temp dirs

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * What a test file that starts server processes needs around its tests: `dist/` built first, a temp dir of its
 * own, and afterwards every child killed and the dir removed. `path` is readable once the tests run.
 */
export function useServerWorkspace(prefix: string): { readonly path: string } {
  let dir: ReturnType<typeof tempDir> | undefined;
  beforeAll(() => {
    ensureBuilt();
    dir = tempDir(prefix);
  });
  afterAll(() => {
    killChildren();
    dir?.remove();
  });
  return {
    get path() {
      if (!dir) throw new Error('the workspace exists only while the tests run');
      return dir.path;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
}

export interface HttpOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /**
   * The client's own keep-alive connection (node:http) instead of fetch's process-wide pool. A shared pool keeps
   * connections no client is using; one of them can sit quiet long enough for a draining server to close it just
   * as the pool hands it a request, a race HTTP/1.1 leaves to idle connections. A client that owns its one
   * connection keeps it busy, as the drain tests assume.
   */
  agent?: Agent;
}

/** One JSON request with plain fetch (or `agent`); rejects on network errors (connection refused, reset, timeout). */
export async function http(baseUrl: string, method: string, path: string, options: HttpOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const payload = options.body !== undefined ? JSON.stringify(options.body) : undefined;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const { status, text, responseHeaders } = options.agent
    ? await viaAgent(`${baseUrl}${path}`, method, headers, payload, options.agent, timeoutMs)
    : await fetch(`${baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}), signal: AbortSignal.timeout(timeoutMs) }).then(
        async (response) => ({ status: response.status, text: await response.text(), responseHeaders: response.headers }),
      );
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status, body, headers: responseHeaders };
}

/** node:http's side of `http`: errors carry their code as `cause`, as fetch's do. */
function viaAgent(url: string, method: string, headers: Record<string, string>, payload: string | undefined, agent: Agent, timeoutMs: number) {
  return new Promise<{ status: number; text: string; responseHeaders: Headers }>((resolve, reject) => {
    const request = httpRequest(url, { method, agent, headers: payload !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(payload)) } : headers, timeout: timeoutMs });
    request.once('timeout', () => request.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    request.once('error', (error) => reject(new Error(`${method} ${url} failed`, { cause: error })));
    request.once('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.once('error', (error) => reject(new Error(`${method} ${url} failed`, { cause: error })));
      response.once('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        resolve({ status: response.statusCode ?? 0, text, responseHeaders });
      });
    });
    request.end(payload);
  });
}

export interface LearnerActor {
  userId: string;
  token: string;
}

export interface Actors {
  adminToken: string;
  integrationToken: string;
  learners: LearnerActor[];
}

/** An admin key (CLI), an integration key and `count` learners with learner keys (REST), as an LMS would. */
export async function createActors(baseUrl: string, env: Record<string, string>, count: number): Promise<Actors> {
  const created = runCli(['keys', 'create', '--role', 'admin', '--name', 'reliability', '--json'], env);
  if (created.status !== 0) throw new Error(`keys create failed: ${created.stderr}`);
  const adminToken = (JSON.parse(created.stdout.trim()) as { token: string }).token;
  const integration = await http(baseUrl, 'POST', '/v1/keys', { token: adminToken, body: { role: 'integration', name: 'lms' } });
  if (integration.status !== 201) throw new Error(`POST /v1/keys: ${integration.status} ${JSON.stringify(integration.body)}`);
  const integrationToken = integration.body.token as string;
  const learners: LearnerActor[] = [];
  for (let index = 0; index < count; index++) {
    const user = await http(baseUrl, 'POST', '/v1/users', { token: integrationToken, body: { externalId: `learner-${index}-${randomUUID()}` } });
    if (user.status !== 201) throw new Error(`POST /v1/users: ${user.status} ${JSON.stringify(user.body)}`);
    const key = await http(baseUrl, 'POST', `/v1/users/${user.body.id}/keys`, { token: integrationToken, body: { name: 'phone' } });
    if (key.status !== 201) throw new Error(`POST /v1/users/:id/keys: ${key.status} ${JSON.stringify(key.body)}`);
    learners.push({ userId: user.body.id as string, token: key.body.token as string });
  }
  return { adminToken, integrationToken, learners };
}

/** Live flashcard ids of a module, in deck order. */
export async function deckOf(baseUrl: string, slug: string): Promise<string[]> {
  const response = await http(baseUrl, 'GET', `/v1/modules/${slug}/flashcards`);
  if (response.status !== 200) throw new Error(`GET /v1/modules/${slug}/flashcards: ${response.status}`);
  return (response.body.items as { id: string }[]).map((card) => card.id);
}

export interface HeldRequest {
  /** Resolves when the server answered `100 Continue`: it has parsed the headers and routed the request. */
  continued: Promise<void>;
  /** Sends the body and resolves with the response. */
  finish(): Promise<{ status: number; body: string; connection: string | undefined }>;
}

/**
 * A request the server has started (headers parsed, route matched) but cannot finish until `finish()` sends the
 * body: `Expect: 100-continue` makes "in flight" an observable, deterministic state. node:http, because fetch
 * has no 100-continue. `agent` decides keep-alive (default: none, the request closes its connection).
 */
export function holdRequest(baseUrl: string, path: string, options: { token?: string; body: unknown; agent?: Agent | false }): HeldRequest {
  const payload = JSON.stringify(options.body);
  const request = httpRequest(`${baseUrl}${path}`, {
    method: 'POST',
    agent: options.agent ?? false,
    headers: {
      expect: '100-continue',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
  });
  const response = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      res.once('error', reject);
    });
  });
  const continued = new Promise<void>((resolve, reject) => {
    request.once('continue', () => resolve());
    request.once('error', reject);
  });
  // Keeps an early failure from being an unhandled rejection; finish() still reports it.
  response.catch(() => undefined);
  request.flushHeaders();
  return {
    continued,
    finish: () => {
      request.end(payload);
      return response;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Answers and the client-side ledger

export interface SentAnswer {
  userId: string;
  clientAnswerId: string;
  flashcardId: string;
  rating: number;
  answeredAt: string;
}

export const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** A fresh answer on a random card of `deck`, answered up to `pastDays` days ago (late answers force replays). */
export function newAnswer(userId: string, deck: readonly string[], pastDays = 30): SentAnswer {
  return {
    userId,
    clientAnswerId: randomUUID(),
    flashcardId: pick(deck),
    rating: 1 + Math.floor(Math.random() * 4),
    answeredAt: new Date(Date.now() - Math.floor(Math.random() * pastDays * 86_400_000)).toISOString(),
  };
}

/** The request body of an answer (POST .../answers, or an item of a batch). */
export const wire = ({ clientAnswerId, flashcardId, rating, answeredAt }: SentAnswer) => ({ clientAnswerId, flashcardId, rating, answeredAt });

/**
 * Why fetch got no response: the system error code of its cause (ECONNREFUSED: no connection; ECONNRESET, EPIPE,
 * undici's UND_ERR_SOCKET "other side closed": the connection went away under the request), or the error's name
 * (TimeoutError).
 */
function networkErrorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'unknown';
}

export interface AnswerRequest {
  kind: 'single' | 'batch';
  answers: SentAnswer[];
}

/**
 * acknowledged: 2xx and every answer created (or, for a retry, duplicate); network-error: no response, outcome
 * unknown; unavailable: 503, outcome unknown (retry later); rejected: anything else (recorded in `unexpected`).
 */
export type SendOutcome = 'acknowledged' | 'network-error' | 'unavailable' | 'rejected';

/**
 * What the clients know: every answer sent, the ones acknowledged (2xx and, in a batch, created/duplicate),
 * the ones whose request failed (no response, or 503: outcome unknown until retried), and unexpected responses.
 */
export class AnswerLedger {
  readonly sent = new Map<string, SentAnswer>();
  readonly acknowledged = new Map<string, SentAnswer>();
  readonly unknown = new Map<string, SentAnswer>();
  readonly unexpected: string[] = [];
  /** Responses by status code (a batch counts once). */
  readonly statuses = new Map<number, number>();
  networkErrors = 0;
  /** Requests sent and not yet settled (a response, or a network error), by request number. */
  readonly inFlight = new Set<number>();
  /**
   * Requests that ended without a response on a connection the server had accepted (reset or closed under them:
   * cut in flight), by request number, with the error code; `refused` counts those that never got a connection.
   */
  readonly cut = new Map<number, string>();
  refused = 0;
  private requests = 0;
  /** The slowest answer request that got a response (ms): a writer waiting on another process's lock shows here. */
  maxLatencyMs = 0;
  /** Retries of answers whose earlier request failed: stored before (200 / duplicate) or not (201 / created). */
  retriedDuplicate = 0;
  retriedCreated = 0;

  count(status: number): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  statusSummary(): string {
    return [...this.statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status}:${n}`)
      .join(' ');
  }

  /** Sends one request (single or batch) and records what came back. */
  async send(baseUrl: string, token: string, request: AnswerRequest, agent?: Agent): Promise<{ outcome: SendOutcome; status?: number }> {
    const retry = request.answers.some((answer) => this.unknown.has(answer.clientAnswerId));
    for (const answer of request.answers) this.sent.set(answer.clientAnswerId, answer);
    let response: HttpResult;
    const started = performance.now();
    const number = ++this.requests;
    this.inFlight.add(number);
    try {
      response =
        request.kind === 'single'
          ? await http(baseUrl, 'POST', '/v1/me/answers', { token, body: wire(request.answers[0]!), ...(agent ? { agent } : {}) })
          : await http(baseUrl, 'POST', '/v1/me/answers/batch', { token, body: { answers: request.answers.map(wire) }, ...(agent ? { agent } : {}) });
    } catch (error) {
      this.networkErrors += 1;
      const code = networkErrorCode(error);
      if (code === 'ECONNREFUSED') this.refused += 1;
      else this.cut.set(number, code);
      for (const answer of request.answers) this.unknown.set(answer.clientAnswerId, answer);
      return { outcome: 'network-error' };
    } finally {
      this.inFlight.delete(number);
    }
    this.maxLatencyMs = Math.max(this.maxLatencyMs, Math.round(performance.now() - started));
    const status = response.status;
    if (status === 503) {
      this.count(status);
      for (const answer of request.answers) this.unknown.set(answer.clientAnswerId, answer);
      return { outcome: 'unavailable', status };
    }
    this.count(response.status);
    const statuses: string[] = [];
    if (request.kind === 'single') {
      const answer = request.answers[0]!;
      const ok = (response.status === 201 || (response.status === 200 && retry)) && response.body?.clientAnswerId === answer.clientAnswerId;
      if (!ok) {
        this.unexpected.push(`POST /v1/me/answers ${answer.clientAnswerId}${retry ? ' (retry)' : ''}: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
        return { outcome: 'rejected', status };
      }
      statuses.push(response.status === 201 ? 'created' : 'duplicate');
    } else {
      const results = response.status === 200 ? (response.body?.results as { clientAnswerId: string; status: string }[] | undefined) : undefined;
      if (!results || results.length !== request.answers.length) {
        this.unexpected.push(`POST /v1/me/answers/batch: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
        return { outcome: 'rejected', status };
      }
      results.forEach((result, index) => statuses.push(result.clientAnswerId === request.answers[index]!.clientAnswerId ? result.status : 'mismatched'));
    }
    let outcome: SendOutcome = 'acknowledged';
    request.answers.forEach((answer, index) => {
      const status = statuses[index];
      const wasUnknown = this.unknown.has(answer.clientAnswerId);
      if (status === 'created' || (status === 'duplicate' && wasUnknown)) {
        if (wasUnknown) {
          if (status === 'created') this.retriedCreated += 1;
          else this.retriedDuplicate += 1;
        }
        this.unknown.delete(answer.clientAnswerId);
        this.acknowledged.set(answer.clientAnswerId, answer);
      } else {
        this.unexpected.push(`answer ${answer.clientAnswerId}${wasUnknown ? ' (retry)' : ''}: batch status ${status}`);
        outcome = 'rejected';
      }
    });
    return { outcome, status };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The database file, checked after the fact

const stateFields = [
  'state',
  'due',
  'stability',
  'difficulty',
  'elapsedDays',
  'scheduledDays',
  'learningSteps',
  'reps',
  'lapses',
  'lastReview',
  'lastAnsweredAt',
  'lastClientAnswerId',
] as const satisfies readonly (keyof StoredCard)[];

export interface Verification {
  integrity: string;
  /** Answer rows in the file. */
  stored: number;
  acknowledged: number;
  /** Acknowledged answers missing from the file, or stored with other content. */
  lost: string[];
  /** (user, clientAnswerId) pairs stored more than once. */
  duplicates: string[];
  /** Rows no client ever sent. */
  phantoms: string[];
  /** Answers whose request failed on the network and that are nevertheless stored (committed before the failure). */
  unknownStored: number;
  /** card_states rows that differ from a fresh replay of the answers, or that are missing / have no answers. */
  stateMismatches: string[];
  cardStates: number;
  /**
   * card_state_snapshots rows that differ from a replay of their card's answers up to the snapshot's key (checked
   * where the snapshots were read: verifyPostgresDatabase), and how many were checked.
   */
  snapshotMismatches: string[];
  snapshots: number;
}

interface AnswerRowLite {
  user_id: string;
  client_answer_id: string;
  flashcard_id: string;
  rating: number;
  answered_at: string;
}

interface FsrsColumnsLite {
  state: number;
  due: string;
  stability: number;
  difficulty: number;
  elapsed_days: number;
  scheduled_days: number;
  learning_steps: number;
  reps: number;
  lapses: number;
  last_review: string | null;
}

interface CardStateRowLite extends FsrsColumnsLite {
  user_id: string;
  flashcard_id: string;
  last_answered_at: string;
  last_client_answer_id: string;
}

/** A snapshot: the card's state right after the answer (answered_at, client_answer_id). */
interface SnapshotRowLite extends FsrsColumnsLite {
  user_id: string;
  flashcard_id: string;
  answered_at: string;
  client_answer_id: string;
}

const scheduler = createScheduler({ desiredRetention: 0.9, maximumIntervalDays: 36_500 });

/** What verifyDatabase needs from a ledger: the answers sent, those that must be stored, those that may be. */
export type LedgerView = Pick<AnswerLedger, 'sent' | 'acknowledged' | 'unknown'>;

const answerColumnsSql = 'user_id, client_answer_id, flashcard_id, rating, answered_at';
const fsrsColumnsSql = 'state, due, stability, difficulty, elapsed_days, scheduled_days, learning_steps, reps, lapses, last_review';
const cardStateColumnsSql = `user_id, flashcard_id, ${fsrsColumnsSql}, last_answered_at, last_client_answer_id`;

/**
 * Opens the database file read-only (the server must be stopped or may still run: WAL readers do not block) and
 * checks it against the ledger: every acknowledged answer exactly once with its content, nothing nobody sent,
 * every card state equal to a replay of that learner's answers on that card, and PRAGMA integrity_check.
 */
export function verifyDatabase(databasePath: string, ledger: LedgerView): Verification {
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const integrity = String(db.pragma('integrity_check', { simple: true }));
    const rows = db.prepare(`SELECT ${answerColumnsSql} FROM answers`).all() as AnswerRowLite[];
    const states = db.prepare(`SELECT ${cardStateColumnsSql} FROM card_states`).all() as CardStateRowLite[];
    return check(integrity, rows, states, ledger);
  } finally {
    db.close();
  }
}

/**
 * verifyDatabase for a PostgreSQL database (DATABASE_URL; servers may still run): the same checks against the
 * ledger, on the rows of the learners in `userIds` only (other tests' learners may share the database), plus every
 * card-state snapshot of theirs against a replay of the card's answers up to the snapshot's key. PostgreSQL has no
 * integrity_check: `integrity` says so, and the unique and foreign-key constraints hold what it would check here.
 */
export async function verifyPostgresDatabase(url: string, ledger: LedgerView, userIds: readonly string[]): Promise<Verification> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // One snapshot for the three reads, so they agree with each other while servers keep writing.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const ids = [...userIds];
    const rows = (await client.query<AnswerRowLite>(`SELECT ${answerColumnsSql} FROM answers WHERE user_id = ANY($1::text[])`, [ids])).rows;
    const states = (
      await client.query<CardStateRowLite>(
        `SELECT ${cardStateColumnsSql} FROM card_states WHERE user_id = ANY($1::text[])`,
        [ids],
      )
    ).rows;
    const snapshots = (
      await client.query<SnapshotRowLite>(
        `SELECT user_id, flashcard_id, answered_at, client_answer_id, ${fsrsColumnsSql} FROM card_state_snapshots WHERE user_id = ANY($1::text[])`,
        [ids],
      )
    ).rows;
    await client.query('COMMIT');
    return check('not checked (PostgreSQL has no integrity_check)', rows, states, ledger, snapshots);
  } finally {
    await client.end();
  }
}

const storedCard = (row: FsrsColumnsLite, lastAnsweredAt: string, lastClientAnswerId: string): StoredCard => ({
  state: row.state,
  due: row.due,
  stability: row.stability,
  difficulty: row.difficulty,
  elapsedDays: row.elapsed_days,
  scheduledDays: row.scheduled_days,
  learningSteps: row.learning_steps,
  reps: row.reps,
  lapses: row.lapses,
  lastReview: row.last_review,
  lastAnsweredAt,
  lastClientAnswerId,
});

/** The fields of `actual` that differ from `expected`, as a readable list (empty when they agree). */
const differences = (actual: StoredCard, expected: StoredCard) =>
  stateFields
    .filter((field) => actual[field] !== expected[field])
    .map((field) => `${field} stored ${JSON.stringify(actual[field])} replayed ${JSON.stringify(expected[field])}`)
    .join(', ');

const scheduled = (row: AnswerRowLite) => ({ answeredAt: row.answered_at, clientAnswerId: row.client_answer_id, rating: row.rating });

function check(integrity: string, rows: AnswerRowLite[], states: CardStateRowLite[], ledger: LedgerView, snapshots: SnapshotRowLite[] = []): Verification {
  const byKey = new Map<string, AnswerRowLite>();
  const duplicates: string[] = [];
  const phantoms: string[] = [];
  const cards = new Map<string, AnswerRowLite[]>();
  let unknownStored = 0;
  for (const row of rows) {
    const key = `${row.user_id}/${row.client_answer_id}`;
    if (byKey.has(key)) duplicates.push(key);
    byKey.set(key, row);
    const sent = ledger.sent.get(row.client_answer_id);
    if (!sent || sent.userId !== row.user_id) phantoms.push(key);
    if (ledger.unknown.has(row.client_answer_id)) unknownStored += 1;
    const card = `${row.user_id}/${row.flashcard_id}`;
    const list = cards.get(card);
    if (list) list.push(row);
    else cards.set(card, [row]);
  }
  const lost: string[] = [];
  for (const answer of ledger.acknowledged.values()) {
    const row = byKey.get(`${answer.userId}/${answer.clientAnswerId}`);
    if (!row) lost.push(`${answer.clientAnswerId} (missing)`);
    else if (row.flashcard_id !== answer.flashcardId || row.rating !== answer.rating || row.answered_at !== answer.answeredAt) {
      lost.push(`${answer.clientAnswerId} (stored with other content: ${JSON.stringify(row)})`);
    }
  }
  const stateMismatches: string[] = [];
  const seen = new Set<string>();
  for (const stored of states) {
    const card = `${stored.user_id}/${stored.flashcard_id}`;
    seen.add(card);
    const answers = cards.get(card);
    if (!answers) {
      stateMismatches.push(`${card}: card state without answers`);
      continue;
    }
    const expected = scheduler.replay(answers.map(scheduled));
    const differing = differences(storedCard(stored, stored.last_answered_at, stored.last_client_answer_id), expected);
    if (differing) stateMismatches.push(`${card} (${answers.length} answers): ${differing}`);
  }
  for (const card of cards.keys()) if (!seen.has(card)) stateMismatches.push(`${card}: answers without a card state`);
  const snapshotMismatches: string[] = [];
  for (const snapshot of snapshots) {
    const card = `${snapshot.user_id}/${snapshot.flashcard_id}`;
    const key = { answeredAt: snapshot.answered_at, clientAnswerId: snapshot.client_answer_id, rating: 0 };
    const upTo = (cards.get(card) ?? []).map(scheduled).filter((answer) => compareAnswers(answer, key) <= 0);
    if (!upTo.some((answer) => compareAnswers(answer, key) === 0)) {
      snapshotMismatches.push(`${card} snapshot at ${snapshot.answered_at}/${snapshot.client_answer_id}: no such answer`);
      continue;
    }
    const differing = differences(storedCard(snapshot, snapshot.answered_at, snapshot.client_answer_id), scheduler.replay(upTo));
    if (differing) snapshotMismatches.push(`${card} snapshot after ${upTo.length} answers: ${differing}`);
  }
  return {
    integrity,
    stored: rows.length,
    acknowledged: ledger.acknowledged.size,
    lost,
    duplicates,
    phantoms,
    unknownStored,
    stateMismatches,
    cardStates: states.length,
    snapshotMismatches,
    snapshots: snapshots.length,
  };
}

/** The first few entries of a list, for assertion messages that stay readable. */
export const firstFew = (items: readonly string[], n = 5) => (items.length > n ? [...items.slice(0, n), `... and ${items.length - n} more`] : [...items]);
