/**
 * A job's outcome in a batch: its value; the error it ended with while the batch's other jobs went on; or `alone`,
 * to run it again in a batch of its own (it would have held the others up, e.g. waiting for a lock held elsewhere).
 */
export type JobResult<R> = { value: R; error?: undefined; alone?: undefined } | { error: Error; value?: undefined; alone?: undefined } | { alone: true; value?: undefined; error?: undefined };

export interface GroupCommitOptions<J> {
  /** Batches in flight at once. */
  concurrency: number;
  /** Jobs in one batch, at most. */
  maxJobs: number;
  /** The summed weight of one batch's jobs, at most (a heavier job still runs, alone). */
  maxWeight: number;
  weight(job: J): number;
  /** Jobs of one key run in the order they came, one at a time: never two in one batch, nor in two batches at once. */
  key(job: J): string;
  /** Jobs waiting at most; a job beyond them is refused at once with `overloaded()`. */
  maxQueued: number;
  /** A job that waited longer than this for its batch is refused with `overloaded()` instead of run. */
  maxWaitMs: number;
  overloaded(): Error;
  /**
   * Whether a batch's failure may be one job's doing, so that its jobs may succeed alone. Otherwise (the database
   * busy, out of time or gone) every job of the batch fails with it at once, instead of each waiting as long again.
   */
  jobSpecific(error: unknown): boolean;
}

/**
 * Group commit: jobs that arrive while earlier batches are in flight wait and then run together as one batch (one
 * transaction), so a burst of small writes pays for one BEGIN/COMMIT, and on PostgreSQL their round trips, instead of
 * one each. Each job is settled only once its batch has committed. If the batch fails as a whole because of one of
 * its jobs (a statement failed), its jobs go back to the head of the queue to run alone, each in its own batch, so
 * one job's failure never fails the jobs that happened to share its batch. A job arriving when a batch slot is free
 * waits for the end of the event loop's turn, to meet the others parsed in the same turn. The queue is bounded in
 * length and in waiting time, so an overloaded database turns into 503s instead of a growing backlog.
 */
export function createGroupCommit<J, R>(runBatch: (jobs: J[]) => Promise<JobResult<R>[]>, options: GroupCommitOptions<J>): (job: J) => Promise<R> {
  interface Pending {
    job: J;
    key: string;
    weight: number;
    queuedAt: number;
    /** Runs in a batch of its own. */
    alone: boolean;
    resolve(value: R): void;
    reject(error: unknown): void;
  }
  let queue: Pending[] = [];
  const inFlightKeys = new Set<string>();
  let inFlight = 0;
  let scheduled = false;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };

  function drain(): void {
    scheduled = false;
    while (inFlight < options.concurrency && queue.length) {
      const batch = take();
      if (!batch.length) return;
      inFlight++;
      void run(batch)
        .catch((error: unknown) => {
          for (const pending of batch) pending.reject(error);
        })
        .finally(() => {
          inFlight--;
          for (const pending of batch) inFlightKeys.delete(pending.key);
          if (queue.length) schedule();
        });
    }
  }

  /**
   * The next batch, in arrival order, skipping (and keeping queued) the jobs whose key a batch holds; jobs that
   * waited too long are refused on the way.
   */
  function take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const taken = new Set<string>();
    // Keys with a job left in the queue: their later jobs stay there too, so none overtakes an earlier one.
    const held = new Set<string>();
    const expired = performance.now() - options.maxWaitMs;
    let weight = 0;
    for (const pending of queue) {
      if (pending.queuedAt < expired) {
        pending.reject(options.overloaded());
        continue;
      }
      const blocked = held.has(pending.key) || taken.has(pending.key) || inFlightKeys.has(pending.key);
      const full =
        batch.length >= options.maxJobs ||
        (batch.length > 0 && (pending.alone || batch[0]!.alone || weight + pending.weight > options.maxWeight));
      if (blocked || full) {
        rest.push(pending);
        held.add(pending.key);
        continue;
      }
      batch.push(pending);
      taken.add(pending.key);
      weight += pending.weight;
    }
    for (const key of taken) inFlightKeys.add(key);
    queue = rest;
    return batch;
  }

  /** Runs the jobs again alone, ahead of the jobs that came after them (their keys are released with this batch). */
  const again = (pendings: Pending[]) => {
    const now = performance.now();
    queue = [...pendings.map((pending) => ({ ...pending, alone: true, queuedAt: now })), ...queue];
  };

  async function run(batch: Pending[]): Promise<void> {
    let results: JobResult<R>[];
    try {
      results = await runBatch(batch.map((pending) => pending.job));
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} jobs gave ${results.length} results`);
    } catch (error) {
      if (batch.length > 1 && options.jobSpecific(error)) return again(batch);
      for (const pending of batch) pending.reject(error);
      return;
    }
    const alone: Pending[] = [];
    batch.forEach((pending, index) => {
      const result = results[index]!;
      // A job alone has no batch to hold up: answering `alone` again would loop for ever.
      if (result.alone && batch.length > 1) alone.push(pending);
      else if (result.alone) pending.reject(new Error('a job run alone asked to run alone'));
      else if (result.error) pending.reject(result.error);
      else pending.resolve(result.value as R);
    });
    if (alone.length) again(alone);
  }

  return (job) =>
    new Promise<R>((resolve, reject) => {
      if (queue.length >= options.maxQueued) return reject(options.overloaded());
      queue.push({ job, key: options.key(job), weight: options.weight(job), queuedAt: performance.now(), alone: false, resolve, reject });
      schedule();
    });
}
