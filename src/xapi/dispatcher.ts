import { done, type Work } from '../db/work.js';
import type { LrsClient } from './lrs-client.js';
import type { XapiRepository } from './repository.js';
import { buildStatement, type StatementSettings } from './statement.js';

export interface DispatcherOptions {
  repository: XapiRepository;
  client: LrsClient;
  settings: StatementSettings;
  batchSize: number;
  /**
   * How long a claimed batch is ours: longer than a delivery can take (every request of it times out before), so a
   * batch is sent again only when its dispatcher died or gave up on it.
   */
  leaseMs: number;
  /** How often the outbox is looked at when nothing woke the dispatcher (another instance's answers). */
  pollMs?: number;
  /**
   * After a batch that was not full, the next one waits at least this long, woken or not: answers committing one
   * group after another would otherwise be sent a few at a time, each batch two more write transactions.
   */
  gatherMs?: number;
  /** Retry delays: the first, doubling per attempt up to the cap, each drawn between half and all of it (jitter). */
  backoff?: { firstMs: number; maxMs: number };
  onError: (error: unknown) => void;
  now?: () => number;
  random?: () => number;
}

/** A claimed batch: its rows and the lease they were claimed with. */
interface Batch {
  claims: { answerId: string; attempts: number }[];
  leaseUntil: string;
}

/**
 * Pushes the outbox to the LRS: claims a batch of due rows (a lease, so another instance or a restart after a crash
 * takes them only once it has run out), builds their statements, sends them, then deletes the delivered rows, parks
 * the refused ones and reschedules the rest with exponential backoff and jitter, no sooner than a Retry-After. One
 * batch in flight per process; answers committed here wake it, others' are found by polling. While a backlog lasts
 * (full batches), a batch's outcome is written in the transaction that claims the next one.
 * Delivery is at least once; the LRS keeps each statement once, by its id.
 */
export function createDispatcher(options: DispatcherOptions) {
  const { repository, client, settings, batchSize, leaseMs } = options;
  const pollMs = options.pollMs ?? 1000;
  const gatherMs = options.gatherMs ?? 200;
  const backoff = options.backoff ?? { firstMs: 1000, maxMs: 5 * 60_000 };
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const iso = (ms: number) => new Date(ms).toISOString();

  let stopping = false;
  let running: Promise<void> | undefined;
  let pausedUntil = 0;
  let wakeUp: (() => void) | undefined;
  let woken = false;
  const abort = new AbortController();

  /** Sleeps `ms`, or until woken (not before `atLeastMs` have passed). */
  function sleep(ms: number, atLeastMs = 0): Promise<void> {
    const started = now();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const finish = () => {
        clearTimeout(timer);
        wakeUp = undefined;
        woken = false;
        resolve();
      };
      const wake = () => {
        const left = started + atLeastMs - now();
        if (left <= 0 || stopping) finish();
        else {
          clearTimeout(timer);
          timer = setTimeout(finish, left);
        }
      };
      if (stopping) return finish();
      timer = setTimeout(finish, ms);
      wakeUp = wake;
      if (woken) wake();
    });
  }

  const delayFor = (attempts: number) => {
    const full = Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
    return full / 2 + (random() * full) / 2;
  };

  /** Writes `outcome` (if any) and claims the next due rows, in one transaction. */
  async function claim(outcome: (() => Work<void>) | undefined): Promise<Batch> {
    const claimedAt = now();
    const leaseUntil = iso(claimedAt + leaseMs);
    const claims = await repository.write(function* () {
      if (outcome) yield* outcome();
      return yield* repository.claimDue(iso(claimedAt), leaseUntil, batchSize);
    });
    return { claims, leaseUntil };
  }

  /**
   * Sends the batch; resolves to the write of what became of it (and whether it failed as a whole). On abort (the
   * dispatcher stopping), the batch is due again at once, for this process's successor or another instance.
   */
  async function deliver({ claims, leaseUntil }: Batch): Promise<{ outcome: () => Work<void>; failed: boolean }> {
    // One statement, outside a transaction: it needs no snapshot shared with another read.
    const sources = await repository.run(repository.sources(claims.map((claim) => claim.answerId)));
    const answerOf = new Map<string, string>();
    const statements = sources.map((source) => {
      const statement = buildStatement(source, settings);
      answerOf.set(statement.id, source.answerId);
      return statement;
    });
    if (!statements.length) return { outcome: () => done(undefined), failed: false };
    let result;
    try {
      result = await client.deliver(statements, abort.signal);
    } catch (error) {
      const released = iso(now());
      await repository.write(() => repository.retryLater(claims.map((claim) => claim.answerId), leaseUntil, released, null, released));
      throw error;
    }
    const at = now();
    const retry = result.retry;
    if (retry?.retryAfterMs) pausedUntil = Math.max(pausedUntil, at + retry.retryAfterMs);
    const answers = (ids: readonly string[]) => ids.flatMap((id) => answerOf.get(id) ?? []);
    // Each row waits by its own attempts (one draw of jitter per count): a statement that has failed often does not
    // hold back the ones claimed with it.
    const attemptsOf = new Map(claims.map((claim) => [claim.answerId, claim.attempts]));
    const retries = new Map<number, string[]>();
    for (const answerId of retry ? answers(retry.ids) : []) {
      const attempts = attemptsOf.get(answerId) ?? 1;
      const group = retries.get(attempts);
      if (group) group.push(answerId);
      else retries.set(attempts, [answerId]);
    }
    const delivered = answers(result.delivered);
    const outcome = function* (): Work<void> {
      yield* repository.delivered(delivered);
      for (const { id, reason } of result.parked) yield* repository.park(answerOf.get(id)!, leaseUntil, reason, iso(at));
      for (const [attempts, answerIds] of retries) {
        const nextAttempt = at + Math.max(delayFor(attempts), retry?.retryAfterMs ?? 0);
        yield* repository.retryLater(answerIds, leaseUntil, iso(nextAttempt), retry!.error, iso(at));
      }
    };
    return { outcome, failed: retry !== undefined };
  }

  async function loop(): Promise<void> {
    // The last batch's outcome, when it is to be written with the next claim.
    let carried: (() => Work<void>) | undefined;
    while (!stopping) {
      const paused = pausedUntil - now();
      if (paused > 0 && !carried) {
        await sleep(paused);
        continue;
      }
      let wait: { ms: number; atLeastMs: number } | undefined;
      try {
        const batch = await claim(carried);
        carried = undefined;
        if (!batch.claims.length) wait = { ms: pollMs, atLeastMs: 0 };
        else {
          const { outcome, failed } = await deliver(batch);
          if (batch.claims.length === batchSize && !failed && !stopping) carried = outcome;
          else {
            await repository.write(outcome);
            // A batch that did not go through is not followed at once by the next one: the LRS is failing.
            wait = failed ? { ms: pollMs, atLeastMs: 0 } : { ms: pollMs, atLeastMs: gatherMs };
          }
        }
      } catch (error) {
        carried = undefined;
        if (!stopping) options.onError(error);
        wait = { ms: pollMs, atLeastMs: 0 };
      }
      if (wait) await sleep(wait.ms, wait.atLeastMs);
    }
    if (carried) await repository.write(carried).catch(options.onError);
  }

  return {
    start(): void {
      running ??= loop();
    },
    /** Something was queued: look soon rather than at the next poll. */
    wake(): void {
      if (wakeUp) wakeUp();
      else woken = true;
    },
    /** Stops after the batch in flight (its request aborted, its rows due again at once). */
    async stop(): Promise<void> {
      stopping = true;
      abort.abort();
      wakeUp?.();
      await running;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
