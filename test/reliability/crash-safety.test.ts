import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedModule } from '../helpers/modules.js';
import {
  AnswerLedger,
  createActors,
  deckOf,
  firstFew,
  killChildren,
  launchServer,
  newAnswer,
  serverEnv,
  tempDir,
  verifyDatabase,
  type AnswerRequest,
  type LearnerActor,
  type Verification,
} from '../helpers/reliability.js';
import { ensureBuilt, runCli } from '../helpers/server-process.js';

/*
 * kill -9 under write load. Several learners post answers (single and small batches, answeredAt spread over the
 * past month so most answers arrive "late" and force a replay of the card), the server is SIGKILLed at a random
 * moment, restarted on the same file, and the file is checked after every round: every acknowledged answer is
 * stored exactly once, nothing else is, every card state equals a fresh replay, and integrity_check is ok.
 * Requests cut by the kill are retried after the restart with the same clientAnswerId (200 or 201, never a 409).
 *
 * CRASH_ROUNDS overrides the number of rounds (npm run test:crash runs 100).
 */

const rounds = Math.max(1, Number(process.env.CRASH_ROUNDS ?? 20));
const learnerCount = 4;
const writersPerLearner = 2;
const maxKillDelayMs = 600;

let dir: ReturnType<typeof tempDir>;
beforeAll(() => {
  ensureBuilt();
  dir = tempDir('mnemo-crash-');
});
afterAll(() => {
  killChildren();
  dir.remove();
});

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

    for (let round = 1; round <= rounds; round++) {
      if (round > 1) server = await launchServer(env);
      const stop: Stop = { stopped: false };
      const loops = learners.flatMap((learner) =>
        Array.from({ length: writersPerLearner }, () => writer(server.baseUrl, learner, queues.get(learner.userId)!, ledger, deck, stop)),
      );
      // The random moment: anywhere from before the first request to a few hundred answers in.
      await delay(Math.floor(Math.random() * maxKillDelayMs));
      server.child.kill('SIGKILL');
      stop.stopped = true;
      await Promise.all(loops);
      expect(await server.exited).toBeNull();
      await server.closed;

      verification = verifyDatabase(databasePath, ledger);
      expectConsistent(verification, ledger, `after kill ${round}`);
    }

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
      `crash-safety: ${rounds} kill -9 rounds, ${ledger.acknowledged.size} acknowledged answers, ${verification.lost.length} lost, ` +
        `${verification.duplicates.length} duplicated; ${ledger.networkErrors} requests cut by a kill, their answers retried: ` +
        `${ledger.retriedDuplicate} had been stored (200/duplicate), ${ledger.retriedCreated} had not (201/created); ` +
        `${verification.stored} rows, ${verification.cardStates} card states equal to a replay; responses ${ledger.statusSummary()}`,
    );
  });
});
