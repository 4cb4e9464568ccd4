import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { AnswerLedger, createActors, deckOf, firstFew, launchServer, newAnswer, serverEnv, verifyDatabase, waitFor, type LearnerActor, type RunningServer, useServerWorkspace } from '../helpers/reliability.js';

/*
 * SIGTERM while keep-alive clients stream requests (src/http/drain.ts). Each stream is one client with one pooled
 * connection (node:http Agent, keepAlive, maxSockets 1) sending answers (fresh clientAnswerIds) and reads back to
 * back; another client holds pooled connections it no longer uses, as a load balancer does. Before the drain,
 * Node's server.close() destroyed idle keep-alive connections at once, and a request the client had just written
 * on one died with ECONNRESET / "socket hang up". Now, in every round:
 *
 * - no request fails on a connection the server had accepted: each stream's connection ends with a complete
 *   response saying `Connection: close`, and its next request, on a new connection, is refused (ECONNREFUSED);
 * - every request sent once the server has logged the start of the drain is answered with `Connection: close`,
 *   among them one sent on purpose on a connection that was idle at the signal (served, not reset);
 * - the unused pooled connections are closed by the server once quiet, and the process exits 0 within the grace;
 * - every acknowledged answer is on disk (checked once after all rounds, on the one database file they share).
 *
 * Every stream has had responses on its connection before the signal, so none is left in the kernel's accept
 * queue when the listener closes (a connection there would be reset: the server never accepted it).
 */

const rounds = 4;
const streamsPerRound = 6;
const idlePooled = 3;
const graceMs = 4000;

const dir = useServerWorkspace('mnemo-drain-');

interface Exchange {
  round: number;
  stream: number;
  what: string;
  /** SIGTERM had been sent when the request was sent. */
  afterSignal: boolean;
  /** The server had logged the start of the drain when the request was sent. */
  afterDrain: boolean;
  /** The request went out on a pooled connection that had carried earlier requests. */
  reusedSocket: boolean;
  status?: number;
  connection?: string;
  contentType?: string;
  securityHeaders?: boolean;
  body?: string;
  error?: string;
}

type Outcome = Pick<Exchange, 'reusedSocket' | 'status' | 'connection' | 'contentType' | 'securityHeaders' | 'body' | 'error'>;

/** One request over `agent`; never rejects: a failure is an outcome with the error code ("socket hang up" is ECONNRESET). */
function exchange(port: number, agent: Agent, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Outcome> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
        },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.once('error', (error: NodeJS.ErrnoException) => resolve({ reusedSocket: request.reusedSocket, error: `${error.code ?? error.message} (mid-body)` }));
        response.once('end', () =>
          resolve({
            reusedSocket: request.reusedSocket,
            status: response.statusCode ?? 0,
            connection: response.headers.connection,
            contentType: response.headers['content-type'],
            securityHeaders: response.headers['x-content-type-options'] === 'nosniff' && response.headers['x-frame-options'] === 'DENY',
            body,
          }),
        );
      },
    );
    request.once('error', (error: NodeJS.ErrnoException) => resolve({ reusedSocket: request.reusedSocket, error: error.code ?? error.message }));
    request.end(payload);
  });
}

describe('SIGTERM with keep-alive clients streaming requests', () => {
  it(`never resets a request on an accepted connection, says Connection: close while draining, and exits 0 (${rounds} rounds)`, { timeout: 60_000 }, async () => {
    const databasePath = join(dir.path, 'drain.db');
    const env = serverEnv(databasePath, { SHUTDOWN_GRACE_MS: String(graceMs) });
    const ledger = new AnswerLedger();
    const exchanges: Exchange[] = [];
    const summaries: string[] = [];
    let learners: LearnerActor[] = [];
    let deck: string[] = [];

    for (let round = 1; round <= rounds; round++) {
      const server: RunningServer = await launchServer(env);
      const state = { signalled: false, drainLogged: false, drained: '' };
      createInterface({ input: server.child.stdout! }).on('line', (line) => {
        if (line.includes('draining: listener closed')) state.drainLogged = true;
        if (line.includes('drained: every connection closed')) state.drained = line;
      });
      const agents: Agent[] = [];
      try {
        if (round === 1) {
          learners = (await createActors(server.baseUrl, env, 3)).learners;
          deck = await deckOf(server.baseUrl, 'networking');
        }

        // Pooled connections nobody uses again: the server must close them itself, or the drain waits for the grace.
        const idleAgent = new Agent({ keepAlive: true, maxSockets: idlePooled });
        agents.push(idleAgent);
        const warmUp = await Promise.all(Array.from({ length: idlePooled }, () => exchange(server.port, idleAgent, 'GET', '/healthz')));
        expect(warmUp.map((outcome) => outcome.status)).toEqual(Array.from({ length: idlePooled }, () => 200));

        const responses = Array.from({ length: streamsPerRound }, () => 0);
        const stream = async (index: number) => {
          const learner = learners[index % learners.length]!;
          const agent = new Agent({ keepAlive: true, maxSockets: 1 });
          agents.push(agent);
          for (let n = 0; ; n++) {
            const answer = n % 2 === 0 ? newAnswer(learner.userId, deck) : undefined;
            const flags = { round, stream: index, afterSignal: state.signalled, afterDrain: state.drainLogged };
            let outcome: Outcome;
            if (answer) {
              ledger.sent.set(answer.clientAnswerId, answer);
              const { userId: _userId, ...body } = answer;
              outcome = await exchange(server.port, agent, 'POST', '/v1/me/answers', { token: learner.token, body });
            } else {
              outcome = await exchange(server.port, agent, 'GET', n % 4 === 1 ? '/v1/me/progress' : '/v1/modules/networking/flashcards', { token: learner.token });
            }
            exchanges.push({ ...flags, what: answer ? 'POST /v1/me/answers' : 'GET', ...outcome, body: outcome.status === 503 || (outcome.status ?? 0) >= 400 ? outcome.body : undefined });
            if (outcome.error !== undefined) {
              if (answer) ledger.unknown.set(answer.clientAnswerId, answer);
              return;
            }
            responses[index]! += 1;
            if (!answer) continue;
            if (outcome.status === 201 && JSON.parse(outcome.body!).clientAnswerId === answer.clientAnswerId) ledger.acknowledged.set(answer.clientAnswerId, answer);
            else ledger.unknown.set(answer.clientAnswerId, answer);
          }
        };
        const streams = Array.from({ length: streamsPerRound }, (_, index) => stream(index));

        // Every stream has been answered on its connection (so it was accepted), and there is load.
        await waitFor(
          () => responses.every((count) => count >= 5) && responses.reduce((sum, count) => sum + count, 0) >= 150,
          () => `every stream answered 5 times, 150 responses in all (${responses.join(', ')})`,
        );
        // A connection idle at the signal whose client sends its next request once the drain has begun: served.
        const lateAgent = new Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(lateAgent);
        expect((await exchange(server.port, lateAgent, 'GET', '/healthz')).status).toBe(200);

        const started = performance.now();
        state.signalled = true;
        server.child.kill('SIGTERM');
        await waitFor(() => state.drainLogged, () => 'the server to log the start of the drain');
        const lateAnswer = newAnswer(learners[0]!.userId, deck);
        ledger.sent.set(lateAnswer.clientAnswerId, lateAnswer);
        const { userId: _lateUserId, ...lateBody } = lateAnswer;
        const late = await exchange(server.port, lateAgent, 'POST', '/v1/me/answers', { token: learners[0]!.token, body: lateBody });
        exchanges.push({ round, stream: -1, what: 'POST /v1/me/answers (late)', afterSignal: true, afterDrain: true, ...late });
        expect({ reusedSocket: late.reusedSocket, status: late.status, connection: late.connection, error: late.error }, `round ${round}: ${late.body}`).toEqual({
          reusedSocket: true,
          status: 201,
          connection: 'close',
          error: undefined,
        });
        ledger.acknowledged.set(lateAnswer.clientAnswerId, lateAnswer);
        await Promise.all(streams);
        const code = await server.exited;
        const shutdownMs = Math.round(performance.now() - started);
        await server.closed;

        const mine = exchanges.filter((entry) => entry.round === round);
        const killedByTimeout = server.logs.some((line) => line.includes('killed by timeout'));
        expect({ code, withinGrace: shutdownMs < graceMs, killedByTimeout }, `round ${round}: exit ${code} after ${shutdownMs} ms`).toEqual({
          code: 0,
          withinGrace: true,
          killedByTimeout: false,
        });

        // No request died on a connection the server had accepted; the only failure is a refused new connection.
        expect(mine.filter((entry) => entry.error !== undefined && (entry.reusedSocket || entry.error !== 'ECONNREFUSED' || !entry.afterSignal))).toEqual([]);
        // Before the signal: 2xx only. After it: 2xx, or a 503 problem with a body; security headers on everything.
        expect(mine.filter((entry) => entry.status !== undefined && !entry.afterSignal && (entry.status < 200 || entry.status >= 300))).toEqual([]);
        expect(
          mine.filter(
            (entry) =>
              entry.status !== undefined &&
              ((entry.status >= 300 && entry.status !== 503) || (entry.status === 503 && !(entry.contentType?.startsWith('application/problem+json') && entry.body))),
          ),
        ).toEqual([]);
        expect(mine.filter((entry) => entry.status !== undefined && !entry.securityHeaders)).toEqual([]);
        // Requests sent once the drain had started were answered with Connection: close.
        expect(mine.filter((entry) => entry.afterDrain && entry.status !== undefined && entry.connection !== 'close')).toEqual([]);
        // Each stream: its connection ended with a complete Connection: close response, then a refused new connection.
        for (let index = 0; index < streamsPerRound; index++) {
          const own = mine.filter((entry) => entry.stream === index);
          expect(
            own.slice(-2).map((entry) => entry.error ?? `${entry.status} Connection: ${entry.connection}`),
            `round ${round}, stream ${index}`,
          ).toEqual([expect.stringMatching(/^2\d\d Connection: close$/), 'ECONNREFUSED']);
        }
        // The pooled connections nobody used again were closed by the server, not left for the grace period.
        const drained = JSON.parse(state.drained || '{}') as { closedQuiet?: number; requestsDuringDrain?: number };
        expect(drained.closedQuiet, `round ${round}: ${state.drained || 'no "drained" log line'}`).toBeGreaterThanOrEqual(idlePooled);

        const afterSignal = mine.filter((entry) => entry.afterSignal);
        const keptAlive = afterSignal.filter((entry) => entry.connection === 'keep-alive').length;
        const closing = afterSignal.filter((entry) => entry.connection === 'close').length;
        summaries.push(
          `round ${round}: exit 0 after ${shutdownMs} ms; ${mine.length - afterSignal.length} exchanges before SIGTERM; after it ${keptAlive} answered ` +
            `before the signal was handled (keep-alive), ${closing} with Connection: close, ${afterSignal.filter((entry) => entry.error).length} refused; ` +
            `server: ${drained.requestsDuringDrain} requests served while draining, ${drained.closedQuiet} quiet connections closed`,
        );
      } finally {
        for (const agent of agents) agent.destroy();
        server.child.kill('SIGKILL');
      }
    }

    const verification = verifyDatabase(databasePath, ledger);
    expect(verification.integrity).toBe('ok');
    expect(firstFew(verification.lost)).toEqual([]);
    expect(firstFew(verification.duplicates)).toEqual([]);
    expect(firstFew(verification.phantoms)).toEqual([]);
    expect(firstFew(verification.stateMismatches)).toEqual([]);
    console.log(`${summaries.join('\n')}\n${ledger.acknowledged.size} acknowledged answers, all on disk`);
  });
});
