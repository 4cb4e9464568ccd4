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
  /** Retry delays: the first, doubling per attempt up to the cap, each drawn between half and all of it (jitter). */
  backoff?: { firstMs: number; maxMs: number };
  onError: (error: unknown) => void;
  now?: () => number;
  random?: () => number;
}

/**
 * Pushes the outbox to the LRS: claims a batch of due rows (a lease, so another instance or a restart after a crash
 * takes them only once it has run out), builds their statements, sends them, then deletes the delivered rows, parks
 * the refused ones and reschedules the rest with exponential backoff and jitter, no sooner than a Retry-After. One
 * batch in flight per process; answers committed here wake it at once, others' are found by polling.
 * Delivery is at least once; the LRS keeps each statement once, by its id.
 */
export function createDispatcher(options: DispatcherOptions) {
  const { repository, client, settings, batchSize, leaseMs } = options;
  const pollMs = options.pollMs ?? 1000;
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

  function sleep(ms: number): Promise<void> {
    if (woken || stopping) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        woken = false;
        resolve();
      }
      wakeUp = done;
    });
  }

  const delayFor = (attempts: number) => {
    const full = Math.min(backoff.maxMs, backoff.firstMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
    return full / 2 + (random() * full) / 2;
  };

  /** One batch: false when none was due. */
  async function round(): Promise<boolean> {
    const claimedAt = now();
    const leaseUntil = iso(claimedAt + leaseMs);
    const claims = await repository.write(() => repository.claimDue(iso(claimedAt), leaseUntil, batchSize));
    if (!claims.length) return false;
    const sources = await repository.read(() => repository.sources(claims.map((claim) => claim.answerId)));
    const answerOf = new Map<string, string>();
    const statements = sources.map((source) => {
      const statement = buildStatement(source, settings);
      answerOf.set(statement.id, source.answerId);
      return statement;
    });
    let outcome;
    try {
      outcome = statements.length ? await client.deliver(statements, abort.signal) : undefined;
    } catch (error) {
      // Stopping: the batch is due again at once, for this process's successor or another instance.
      const released = iso(now());
      await repository.write(() => repository.retryLater(claims.map((claim) => claim.answerId), leaseUntil, released, null, released));
      if (stopping) return true;
      throw error;
    }
    if (!outcome) return true;
    const at = now();
    const retry = outcome.retry;
    if (retry?.retryAfterMs) pausedUntil = Math.max(pausedUntil, at + retry.retryAfterMs);
    const answers = (ids: readonly string[]) => ids.flatMap((id) => answerOf.get(id) ?? []);
    // Each row waits by its own attempts (one draw of jitter per count): a statement that has failed often does not
    // hold back the ones claimed with it.
    const attemptsOf = new Map(claims.map((claim) => [claim.answerId, claim.attempts]));
    const retries = new Map<number, string[]>();
    for (const answerId of retry ? answers(retry.ids) : []) {
      const attempts = attemptsOf.get(answerId) ?? 1;
      retries.set(attempts, [...(retries.get(attempts) ?? []), answerId]);
    }
    await repository.write(function* () {
      yield* repository.delivered(answers(outcome.delivered));
      for (const { id, reason } of outcome.parked) yield* repository.park(answerOf.get(id)!, leaseUntil, reason, iso(at));
      for (const [attempts, answerIds] of retries) {
        const nextAttempt = at + Math.max(delayFor(attempts), retry?.retryAfterMs ?? 0);
        yield* repository.retryLater(answerIds, leaseUntil, iso(nextAttempt), retry!.error, iso(at));
      }
    });
    // A batch that did not go through is not followed at once by the next one: the LRS is failing.
    return !retry;
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      const paused = pausedUntil - now();
      if (paused > 0) {
        await sleep(paused);
        continue;
      }
      let more = false;
      try {
        more = await round();
      } catch (error) {
        if (!stopping) options.onError(error);
      }
      if (!more) await sleep(pollMs);
    }
  }

  return {
    start(): void {
      running ??= loop();
    },
    /** Something was queued: look now rather than at the next poll. */
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
