/** A job's outcome in a batch: its value, or the error it ended with while the batch's other jobs went on. */
export type JobResult<R> = { value: R; error?: undefined } | { error: Error; value?: undefined };

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
}

/**
 * Group commit: jobs that arrive while earlier batches are in flight wait and then run together as one batch (one
 * transaction), so a burst of small writes pays for one BEGIN/COMMIT, and on PostgreSQL their round trips, instead of
 * one each. Each job is settled only once its batch has committed. If the batch fails as a whole (a statement
 * failed, the connection broke), its jobs run again alone, each in its own batch, so one job's failure never fails
 * the jobs that happened to share its batch. A job arriving when a batch slot is free waits for the end of the
 * event loop's turn, to meet the others parsed in the same turn.
 */
export function createGroupCommit<J, R>(runBatch: (jobs: J[]) => Promise<JobResult<R>[]>, options: GroupCommitOptions<J>): (job: J) => Promise<R> {
  interface Pending {
    job: J;
    key: string;
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
      void run(batch).finally(() => {
        inFlight--;
        for (const pending of batch) inFlightKeys.delete(pending.key);
        if (queue.length) schedule();
      });
    }
  }

  /** The next batch, in arrival order, skipping (and keeping queued) the jobs whose key a batch holds. */
  function take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const taken = new Set<string>();
    // Keys with a job left in the queue: their later jobs stay there too, so none overtakes an earlier one.
    const held = new Set<string>();
    let weight = 0;
    for (const pending of queue) {
      const blocked = held.has(pending.key) || taken.has(pending.key) || inFlightKeys.has(pending.key);
      const full = batch.length >= options.maxJobs || (batch.length > 0 && weight + options.weight(pending.job) > options.maxWeight);
      if (blocked || full) {
        rest.push(pending);
        held.add(pending.key);
        continue;
      }
      batch.push(pending);
      taken.add(pending.key);
      weight += options.weight(pending.job);
    }
    for (const key of taken) inFlightKeys.add(key);
    queue = rest;
    return batch;
  }

  async function run(batch: Pending[]): Promise<void> {
    let results: JobResult<R>[];
    try {
      results = await runBatch(batch.map((pending) => pending.job));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      for (const pending of batch) {
        try {
          settle(pending, (await runBatch([pending.job]))[0]!);
        } catch (alone) {
          pending.reject(alone);
        }
      }
      return;
    }
    batch.forEach((pending, index) => settle(pending, results[index]!));
  }

  const settle = (pending: Pending, result: JobResult<R>) => (result.error ? pending.reject(result.error) : pending.resolve(result.value as R));

  return (job) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ job, key: options.key(job), resolve, reject });
      schedule();
    });
}
