import { Agent } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnswerLedger, createActors, deckOf, firstFew, holdRequest, http, launchServer, newAnswer, pick, serverEnv, verifyDatabase, waitFor, waitUntilRefused, type AnswerRequest, type LearnerActor, useServerWorkspace } from '../helpers/reliability.js';

/*
 * SIGTERM while clients stream answers and reads. The server must stop accepting connections, let every request it
 * has started finish, serve requests that still arrive on open connections with `Connection: close` (or 503),
 * never reset a request on a connection it had accepted (src/http/drain.ts), close the database and exit 0 within
 * SHUTDOWN_GRACE_MS. A request "in flight" at the signal is made deterministic with Expect: 100-continue: the
 * server has routed it (it sent 100 Continue) but cannot complete it before the test sends the body, which it
 * does only once the listener is closed.
 */

const graceMs = 5000;

const dir = useServerWorkspace('mnemo-shutdown-');

interface Observation {
  what: string;
  /** Whether SIGTERM had been sent when the response (or the failure) arrived. */
  afterSignal: boolean;
  status?: number;
  error?: string;
}

const describeError = (error: unknown) => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String(error);
};

describe('SIGTERM under load', () => {
  it('finishes in-flight requests, never answers 500, keeps every acknowledged answer, and exits 0 within the grace period', { timeout: 60_000 }, async () => {
    const databasePath = join(dir.path, 'shutdown.db');
    const env = serverEnv(databasePath, { SHUTDOWN_GRACE_MS: String(graceMs) });
    const server = await launchServer(env);
    const agents: Agent[] = [];
    try {
      const { learners } = await createActors(server.baseUrl, env, 4);
      const deck = await deckOf(server.baseUrl, 'networking');
      const ledger = new AnswerLedger();
      const observations: Observation[] = [];
      const signal = { sent: false };
      let reads = 0;
      /** Clients answered at least once: their pooled connections were accepted (none left in the accept queue). */
      const answered = new Set<string>();

      // Each client on its own keep-alive connection (see HttpOptions.agent).
      const ownConnection = () => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(agent);
        return agent;
      };
      const writer = async (learner: LearnerActor) => {
        const agent = ownConnection();
        for (;;) {
          const size = Math.random() < 0.6 ? 1 : 2 + Math.floor(Math.random() * 5);
          const request: AnswerRequest = { kind: size === 1 ? 'single' : 'batch', answers: Array.from({ length: size }, () => newAnswer(learner.userId, deck)) };
          const { outcome, status } = await ledger.send(server.baseUrl, learner.token, request, agent);
          if (status !== undefined) answered.add(learner.userId);
          observations.push({ what: `POST answers (${request.kind})`, afterSignal: signal.sent, ...(status !== undefined ? { status } : { error: outcome }) });
          if (outcome === 'network-error') return;
        }
      };
      const reader = async (learner: LearnerActor, name: string) => {
        const paths = ['/v1/modules/networking', '/v1/modules/networking/flashcards', '/v1/me/cards', '/v1/me/answers?limit=20', '/v1/me/progress', 'graphql'];
        const agent = ownConnection();
        for (;;) {
          const path = pick(paths);
          try {
            const response =
              path === 'graphql'
                ? await http(server.baseUrl, 'POST', '/graphql', { body: { query: '{ module(slug: "networking") { slug version flashcards { id question } } }' }, agent })
                : await http(server.baseUrl, 'GET', path, { token: learner.token, agent });
            observations.push({ what: `GET ${path}`, afterSignal: signal.sent, status: response.status });
            answered.add(`reader ${name}`);
            if (response.status === 200) reads += 1;
          } catch (error) {
            observations.push({ what: `GET ${path}`, afterSignal: signal.sent, error: describeError(error) });
            return;
          }
        }
      };
      const clients = [...learners.map(writer), reader(learners[0]!, 'a'), reader(learners[1]!, 'b')];

      // Load first; the condition, not a timer, decides when the signal goes.
      await waitFor(
        () => ledger.acknowledged.size >= 300 && reads >= 50 && answered.size === clients.length,
        () => `300 acknowledged answers, 50 reads, every client answered (${ledger.statusSummary()}; ${ledger.unexpected[0] ?? ''})`,
      );

      const heldAnswer = newAnswer(learners[2]!.userId, deck);
      const { userId: _userId, ...heldBody } = heldAnswer;
      const held = holdRequest(server.baseUrl, '/v1/me/answers', { token: learners[2]!.token, body: heldBody });
      ledger.sent.set(heldAnswer.clientAnswerId, heldAnswer);
      await held.continued;

      const started = performance.now();
      signal.sent = true;
      server.child.kill('SIGTERM');
      await waitUntilRefused(server.port);
      const heldResponse = await held.finish();
      expect(heldResponse.status, heldResponse.body).toBe(201);
      ledger.acknowledged.set(heldAnswer.clientAnswerId, heldAnswer);

      const code = await server.exited;
      const shutdownMs = Math.round(performance.now() - started);
      await Promise.all(clients);
      await server.closed;

      const beforeSignal = observations.filter((observation) => !observation.afterSignal);
      const afterSignal = observations.filter((observation) => observation.afterSignal);
      const fine = (observation: Observation) => observation.status !== undefined && observation.status >= 200 && observation.status < 300;
      // Before the signal: only 2xx. After: 2xx (in flight), 503 (reached a closing server), or no connection.
      expect(beforeSignal.filter((observation) => !fine(observation))).toEqual([]);
      expect(afterSignal.filter((observation) => !fine(observation) && observation.status !== 503 && observation.status !== undefined)).toEqual([]);
      expect(observations.filter((observation) => observation.status !== undefined && observation.status >= 500 && observation.status !== 503)).toEqual([]);
      expect(firstFew(ledger.unexpected)).toEqual([]);
      // No request died on a connection the server had accepted (ECONNRESET, "other side closed"): only refusals.
      expect(Object.fromEntries(ledger.cut), 'answer requests cut on an accepted connection').toEqual({});
      expect(afterSignal.filter((observation) => observation.what.startsWith('GET') && observation.error !== undefined && observation.error !== 'ECONNREFUSED')).toEqual([]);

      const killedByTimeout = server.logs.some((line) => line.includes('killed by timeout'));
      expect(
        { code, withinGrace: shutdownMs < graceMs, killedByTimeout },
        `exit ${code} after ${shutdownMs} ms: close-with-grace gave up when a connection was still open (a pooled keep-alive connection ` +
          `whose in-flight request was answered with "Connection: keep-alive" after SIGTERM, then left idle by its client)`,
      ).toEqual({ code: 0, withinGrace: true, killedByTimeout: false });

      const verification = verifyDatabase(databasePath, ledger);
      expect(verification.integrity).toBe('ok');
      expect(firstFew(verification.lost)).toEqual([]);
      expect(firstFew(verification.duplicates)).toEqual([]);
      expect(firstFew(verification.phantoms)).toEqual([]);
      expect(firstFew(verification.stateMismatches)).toEqual([]);

      const count = (predicate: (observation: Observation) => boolean) => afterSignal.filter(predicate).length;
      console.log(
        `shutdown: exit ${code} ${shutdownMs} ms after SIGTERM (grace ${graceMs} ms); ${observations.length} responses/failures, ` +
          `${ledger.acknowledged.size} acknowledged answers all on disk; after the signal: ${count(fine)} 2xx, ` +
          `${count((observation) => observation.status === 503)} 503, ${count((observation) => observation.error !== undefined)} connection failures, ${ledger.cut.size} cut ` +
          `(${[...new Set(afterSignal.flatMap((observation) => (observation.error ? [observation.error] : [])))].join(', ')})`,
      );
    } finally {
      server.child.kill('SIGKILL');
      for (const agent of agents) agent.destroy();
    }
  });

  it('does not let a keep-alive connection whose request was in flight at SIGTERM hold the process until the grace period ends', { timeout: 30_000 }, async () => {
    const shortGraceMs = 3000;
    const databasePath = join(dir.path, 'keep-alive.db');
    const env = serverEnv(databasePath, { SHUTDOWN_GRACE_MS: String(shortGraceMs) });
    const server = await launchServer(env);
    // A pooling client (a proxy, a browser, undici): it keeps the connection after the response and sends nothing more.
    const agent = new Agent({ keepAlive: true });
    try {
      const { learners } = await createActors(server.baseUrl, env, 1);
      const deck = await deckOf(server.baseUrl, 'networking');
      const ledger = new AnswerLedger();
      const answer = newAnswer(learners[0]!.userId, deck);
      const { userId: _userId, ...body } = answer;
      const held = holdRequest(server.baseUrl, '/v1/me/answers', { token: learners[0]!.token, body, agent });
      ledger.sent.set(answer.clientAnswerId, answer);
      await held.continued;

      const started = performance.now();
      server.child.kill('SIGTERM');
      await waitUntilRefused(server.port);
      const response = await held.finish();
      expect(response.status, response.body).toBe(201);
      ledger.acknowledged.set(answer.clientAnswerId, answer);

      const code = await server.exited;
      const shutdownMs = Math.round(performance.now() - started);
      await server.closed;
      console.log(`shutdown (idle keep-alive client): exit ${code} after ${shutdownMs} ms (grace ${shortGraceMs} ms), in-flight response Connection: ${response.connection}`);
      expect(
        { code, withinGrace: shutdownMs < shortGraceMs, killedByTimeout: server.logs.some((line) => line.includes('killed by timeout')) },
        `the response to the in-flight request said "Connection: ${response.connection}" and the server then waited for the idle connection`,
      ).toEqual({ code: 0, withinGrace: true, killedByTimeout: false });

      const verification = verifyDatabase(databasePath, ledger);
      expect(verification.integrity).toBe('ok');
      expect(verification.lost).toEqual([]);
    } finally {
      agent.destroy();
      server.child.kill('SIGKILL');
    }
  });
});
