import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { generatedModule } from '../helpers/modules.js';
import { AnswerLedger, createActors, deckOf, firstFew, holdRequest, launchServer, newAnswer, serverEnv, verifyDatabase, waitFor, type AnswerRequest, type LearnerActor, type Verification, useServerWorkspace } from '../helpers/reliability.js';
import { runCli } from '../helpers/server-process.js';

/*
 * kill -9 under write load. Several learners post answers (single and small batches, answeredAt spread over the
 * past month so most answers arrive "late" and force a replay of the card), the server is SIGKILLed at a random
 * moment once it is taking writes, restarted on the same file, and the file is checked after every round: every
 * acknowledged answer is stored exactly once, nothing else is, every card state equals a fresh replay, and
 * integrity_check is ok. Every round must cut requests in flight, or it would prove nothing: an answer request
 * the server has accepted and routed but whose body is held back (Expect: 100-continue) is cut in every round by
 * construction, and the writers' own requests in flight at the kill are counted (sent before it, never answered,
 * their connection gone under them), in most rounds several. Requests cut by the kill are retried after the
 * restart with the same clientAnswerId (200 or 201, never a 409).
 *
 * CRASH_ROUNDS overrides the number of rounds (npm run test:crash runs 100).
 */

const rounds = Math.max(1, Number(process.env.CRASH_ROUNDS ?? 20));
const learnerCount = 4;
const writersPerLearner = 2;
const maxKillDelayMs = 600;
/** A round kills only once this many answers were acknowledged in it: the server is up and taking writes. */
const ackedBeforeKill = 3;

const dir = useServerWorkspace('mnemo-crash-');

interface Stop {
  stopped: boolean;
}

/**
 * One client loop: first the learner's requests that failed in an earlier round (same ids, same content), then
 * fresh answers until the round stops. A request cut by the kill goes back on the learner's queue.
 */
async function writer(
  baseUrl: string,
  learner: LearnerActor,
  queue: AnswerRequest[],
  ledger: AnswerLedger,
  deck: readonly string[],
  stop: Stop,
  retriesOnly = false,
): Promise<void> {
  while (!stop.stopped) {
    let request = queue.shift();
    if (!request) {
      if (retriesOnly) return;
      const size = Math.random() < 0.6 ? 1 : 2 + Math.floor(Math.random() * 5);
      request = { kind: size === 1 ? 'single' : 'batch', answers: Array.from({ length: size }, () => newAnswer(learner.userId, deck)) };
    }
    const { outcome } = await ledger.send(baseUrl, learner.token, request);
    if (outcome === 'network-error' || outcome === 'unavailable') {
      queue.push(request);
      if (!stop.stopped) ledger.unexpected.push(`${outcome} while the server was running (${request.kind} of ${request.answers.length})`);
      return;
    }
  }
}

function expectConsistent(verification: Verification, ledger: AnswerLedger, when: string): void {
  const context = `${when}: ${JSON.stringify({ ...verification, lost: firstFew(verification.lost), stateMismatches: firstFew(verification.stateMismatches) })}`;
  expect(verification.integrity, context).toBe('ok');
  expect(firstFew(ledger.unexpected), context).toEqual([]);
  expect(firstFew(verification.lost), context).toEqual([]);
  expect(firstFew(verification.duplicates), context).toEqual([]);
  expect(firstFew(verification.phantoms), context).toEqual([]);
  expect(firstFew(verification.stateMismatches), context).toEqual([]);
}

describe('kill -9 while learners are writing', () => {
  it(`loses no acknowledged answer and keeps card states equal to a replay, over ${rounds} rounds`, { timeout: 60_000 + rounds * 6_000 }, async () => {
    const databasePath = join(dir.path, 'crash.db');
    const env = serverEnv(databasePath);
    const ledger = new AnswerLedger();

    let server = await launchServer(env);
    let learners: LearnerActor[];
    let deck: string[];
    try {
      // A second module, so answers spread over 20 cards rather than the seed's 5.
      const extra = join(dir.path, 'crash-deck.json');
      writeFileSync(extra, JSON.stringify(generatedModule('crash-deck', 15)));
      expect(runCli(['import', extra], env).status).toBe(0);
      learners = (await createActors(server.baseUrl, env, learnerCount)).learners;
      deck = [...(await deckOf(server.baseUrl, 'networking')), ...(await deckOf(server.baseUrl, 'crash-deck'))];
      expect(deck).toHaveLength(20);
    } catch (error) {
      server.child.kill('SIGKILL');
      throw error;
    }
    const queues = new Map(learners.map((learner) => [learner.userId, [] as AnswerRequest[]]));
    let verification: Verification | undefined;
    const cutPerRound: number[] = [];

    for (let round = 1; round <= rounds; round++) {
      if (round > 1) server = await launchServer(env);
      const stop: Stop = { stopped: false };
      const ackedAtStart = ledger.acknowledged.size;
      const loops = learners.flatMap((learner) =>
        Array.from({ length: writersPerLearner }, () => writer(server.baseUrl, learner, queues.get(learner.userId)!, ledger, deck, stop)),
      );
      // The random moment: once the server is taking writes, anywhere up to a few hundred answers later, at an
      // instant when answer requests are in flight.
      await waitFor(() => ledger.acknowledged.size - ackedAtStart >= ackedBeforeKill, () => `${ackedBeforeKill} acknowledged answers in round ${round} (${ledger.statusSummary()}; ${ledger.unexpected[0] ?? ''})`);
      await delay(Math.floor(Math.random() * maxKillDelayMs));
      // An answer the server is in the middle of: headers parsed and routed, body not sent, so never answered.
      const heldLearner = learners[round % learners.length]!;
      const heldAnswer = newAnswer(heldLearner.userId, deck);
      const { userId: _userId, ...heldBody } = heldAnswer;
      ledger.sent.set(heldAnswer.clientAnswerId, heldAnswer);
      const held = holdRequest(server.baseUrl, '/v1/me/answers', { token: heldLearner.token, body: heldBody });
      await held.continued;
      await waitFor(() => ledger.inFlight.size > 0, () => `an answer request in flight in round ${round}`);
      const inFlightAtKill = [...ledger.inFlight];
      server.child.kill('SIGKILL');
      stop.stopped = true;
      await Promise.all(loops);
      expect(await server.exited).toBeNull();
      await server.closed;

      // The kill cut requests in flight: the held one, and writers' requests sent before it and never answered.
      const heldOutcome = await held.finish().then(
        (response) => `answered ${response.status}`,
        (error: NodeJS.ErrnoException) => `cut (${error.code ?? error.message})`,
      );
      ledger.unknown.set(heldAnswer.clientAnswerId, heldAnswer);
      queues.get(heldLearner.userId)!.push({ kind: 'single', answers: [heldAnswer] });
      const cut = inFlightAtKill.filter((request) => ledger.cut.has(request));
      const context = `round ${round}: held request ${heldOutcome}; writers had ${inFlightAtKill.length} in flight at the kill, ${cut.length} cut (${cut.map((request) => ledger.cut.get(request)).join(', ')})`;
      expect(heldOutcome, context).toMatch(/^cut/);
      expect(inFlightAtKill.length, context).toBeGreaterThan(0);
      cutPerRound.push(cut.length);

      verification = verifyDatabase(databasePath, ledger);
      expectConsistent(verification, ledger, `after kill ${round}`);
    }

    // Writers' requests, not only the held ones, were cut: in nearly every round (a round can miss when every
    // request in flight had been answered by the time the process died).
    expect(cutPerRound.filter((count) => count > 0).length, `writers' requests cut per round: ${cutPerRound.join(' ')}`).toBeGreaterThanOrEqual(Math.ceil(rounds / 2));

    // Last start: retry every request the kills cut, then stop cleanly; nothing may stay unknown.
    server = await launchServer(env);
    const stop: Stop = { stopped: false };
    await Promise.all(learners.map((learner) => writer(server.baseUrl, learner, queues.get(learner.userId)!, ledger, deck, stop, true)));
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    await server.closed;
    verification = verifyDatabase(databasePath, ledger);
    expectConsistent(verification, ledger, 'after the final retries');
    expect([...queues.values()].flat()).toEqual([]);
    expect(ledger.unknown.size).toBe(0);

    console.log(
      `crash-safety: ${rounds} kill -9 rounds, each cutting a held request and ${Math.min(...cutPerRound)} to ${Math.max(...cutPerRound)} ` +
        `writer requests in flight, ${ledger.acknowledged.size} acknowledged answers, ${verification.lost.length} lost, ` +
        `${verification.duplicates.length} duplicated; ${ledger.networkErrors} requests cut by a kill, their answers retried: ` +
        `${ledger.retriedDuplicate} had been stored (200/duplicate), ${ledger.retriedCreated} had not (201/created); ` +
        `${verification.stored} rows, ${verification.cardStates} card states equal to a replay; responses ${ledger.statusSummary()}`,
    );
  });
});
