import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { repositoriesOf } from '../../src/db/repositories.js';
import type { UserRow } from '../../src/db/schema.js';
import { learnersOf, type AnswersRepository } from '../../src/learning/answers-repository.js';
import { createAnswersService } from '../../src/learning/answers-service.js';
import { createGroupCommit, type JobResult } from '../../src/learning/group-commit.js';
import { createScheduler } from '../../src/learning/scheduler.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, createLearner, queryRows, type Actors } from '../helpers/learners.js';

/**
 * Answer writes that arrive while others are in flight share one transaction (group commit). Each call is settled
 * only after its transaction commits; one learner's calls keep their order and never run in two transactions at
 * once; a call that fails does not fail the calls it shared a transaction with.
 */

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

interface Job {
  key: string;
  name: string;
  weight?: number;
  fails?: boolean;
  /** Asks to run alone while in a batch with others. */
  alone?: boolean;
}

/** A group commit whose batches are recorded and finish only when the test releases them. */
function controlled(options: { concurrency?: number; maxJobs?: number; maxWeight?: number; maxQueued?: number; maxWaitMs?: number } = {}) {
  const batches: { names: string[]; release: Deferred<void> }[] = [];
  const started: Deferred<void>[] = [deferred()];
  const submit = createGroupCommit<Job, string>(
    async (jobs) => {
      const release = deferred<void>();
      batches.push({ names: jobs.map((job) => job.name), release });
      started.at(-1)!.resolve();
      started.push(deferred());
      await release.promise;
      if (jobs.length > 1 && jobs.some((job) => job.name.startsWith('poison'))) throw new Error('the batch failed');
      if (jobs.some((job) => job.name.startsWith('down'))) throw new Error('the database is gone');
      return jobs.map((job): JobResult<string> => {
        if (job.alone && jobs.length > 1) return { alone: true };
        return job.fails ? { error: new Error(`${job.name} failed`) } : { value: `${job.name} done` };
      });
    },
    {
      concurrency: options.concurrency ?? 1,
      maxJobs: options.maxJobs ?? 64,
      maxWeight: options.maxWeight ?? 500,
      weight: (job) => job.weight ?? 1,
      key: (job) => job.key,
      maxQueued: options.maxQueued ?? 1000,
      maxWaitMs: options.maxWaitMs ?? 60_000,
      overloaded: () => new Error('overloaded'),
      jobSpecific: (error) => (error as Error).message !== 'the database is gone',
    },
  );
  /** Resolves once the next batch (counting from the batches seen so far) has started. */
  const nextBatch = () => started.at(-1)!.promise;
  return { submit, batches, nextBatch };
}

describe('group commit', () => {
  it('runs the jobs of one turn as one batch and settles each with its own result', async () => {
    const { submit, batches, nextBatch } = controlled();
    const started = nextBatch();
    const results = Promise.all(['a', 'b', 'c'].map((name) => submit({ key: name, name })));
    await started;
    expect(batches.map((batch) => batch.names)).toEqual([['a', 'b', 'c']]);
    batches[0]!.release.resolve();
    expect(await results).toEqual(['a done', 'b done', 'c done']);
  });

  it('queues jobs that arrive while the batches in flight run, and runs them together next', async () => {
    const { submit, batches, nextBatch } = controlled();
    let started = nextBatch();
    const first = submit({ key: 'a', name: 'a1' });
    await started;
    let settled = false;
    void first.then(() => (settled = true));
    const later = ['b', 'c', 'd'].map((name) => submit({ key: name, name }));
    await new Promise((resolve) => setImmediate(resolve));
    // Not settled before its batch ends; nothing else starts while the one slot is taken.
    expect(settled).toBe(false);
    expect(batches).toHaveLength(1);
    started = nextBatch();
    batches[0]!.release.resolve();
    await started;
    expect(batches.map((batch) => batch.names)).toEqual([['a1'], ['b', 'c', 'd']]);
    batches[1]!.release.resolve();
    expect(await Promise.all([first, ...later])).toEqual(['a1 done', 'b done', 'c done', 'd done']);
  });

  it("runs one key's jobs one at a time and in order, never two in one batch or in two batches at once", async () => {
    const { submit, batches, nextBatch } = controlled({ concurrency: 2 });
    let started = nextBatch();
    const a1 = submit({ key: 'a', name: 'a1' });
    await started;
    // A second slot is free: b1 and c1 take it; a's later jobs wait for a1's batch, then go one by one.
    started = nextBatch();
    const rest = [submit({ key: 'a', name: 'a2' }), submit({ key: 'b', name: 'b1' }), submit({ key: 'a', name: 'a3' }), submit({ key: 'c', name: 'c1' })];
    await started;
    expect(batches.map((batch) => batch.names)).toEqual([['a1'], ['b1', 'c1']]);
    started = nextBatch();
    batches[0]!.release.resolve();
    await started;
    expect(batches[2]!.names).toEqual(['a2']);
    started = nextBatch();
    batches[2]!.release.resolve();
    await started;
    expect(batches[3]!.names).toEqual(['a3']);
    batches[1]!.release.resolve();
    batches[3]!.release.resolve();
    expect(await Promise.all([a1, ...rest])).toEqual(['a1 done', 'a2 done', 'b1 done', 'a3 done', 'c1 done']);
  });

  it('bounds a batch by its number of jobs and by their weight; a heavier job runs alone', async () => {
    const { submit, batches } = controlled({ maxJobs: 2, maxWeight: 10, concurrency: 8 });
    const jobs = [
      submit({ key: 'a', name: 'a', weight: 4 }),
      submit({ key: 'b', name: 'b', weight: 4 }),
      submit({ key: 'c', name: 'c', weight: 4 }),
      submit({ key: 'd', name: 'd', weight: 7 }),
      submit({ key: 'e', name: 'e', weight: 50 }),
    ];
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((batch) => batch.names)).toEqual([['a', 'b'], ['c'], ['d'], ['e']]);
    for (const batch of batches) batch.release.resolve();
    expect(await Promise.all(jobs)).toHaveLength(5);
  });

  it('fails only the failing job: a job ending in error leaves the others, a failed batch runs its jobs alone', async () => {
    const { submit, batches, nextBatch } = controlled();
    const started = nextBatch();
    const outcomes = Promise.allSettled([
      submit({ key: 'a', name: 'a' }),
      submit({ key: 'b', name: 'b', fails: true }),
      submit({ key: 'p', name: 'poison' }),
      submit({ key: 'c', name: 'c' }),
    ]);
    await started;
    // The whole batch throws (the poison job's doing): each job then runs alone, in order.
    for (let index = 0; index < 5; index++) {
      const next = nextBatch();
      batches[index]!.release.resolve();
      if (index < 4) await next;
    }
    expect(batches.map((batch) => batch.names)).toEqual([['a', 'b', 'poison', 'c'], ['a'], ['b'], ['poison'], ['c']]);
    const settled = await outcomes;
    expect(settled.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as Error).message))).toEqual([
      'a done',
      'b failed',
      'poison done',
      'c done',
    ]);
  });
});

describe('group commit under failure and overload', () => {
  const reasons = (settled: PromiseSettledResult<string>[]) =>
    settled.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as Error).message));

  it("fails every job of a batch at once when the failure is not one job's doing", async () => {
    const { submit, batches, nextBatch } = controlled();
    const started = nextBatch();
    const outcomes = Promise.allSettled([submit({ key: 'a', name: 'a' }), submit({ key: 'd', name: 'down' }), submit({ key: 'b', name: 'b' })]);
    await started;
    batches[0]!.release.resolve();
    expect(reasons(await outcomes)).toEqual(['the database is gone', 'the database is gone', 'the database is gone']);
    expect(batches).toHaveLength(1);
  });

  it('runs a job that asks to run alone in a batch of its own, after its batch', async () => {
    const { submit, batches, nextBatch } = controlled();
    let started = nextBatch();
    const outcomes = Promise.all([submit({ key: 'a', name: 'a' }), submit({ key: 'l', name: 'locked', alone: true }), submit({ key: 'b', name: 'b' })]);
    await started;
    started = nextBatch();
    batches[0]!.release.resolve();
    await started;
    batches[1]!.release.resolve();
    expect(await outcomes).toEqual(['a done', 'locked done', 'b done']);
    expect(batches.map((batch) => batch.names)).toEqual([['a', 'locked', 'b'], ['locked']]);
  });

  it('refuses jobs beyond the queue bound at once, and jobs that waited too long instead of running them', async () => {
    const { submit, batches, nextBatch } = controlled({ maxQueued: 2, maxWaitMs: 5 });
    const started = nextBatch();
    const first = submit({ key: 'a', name: 'a' });
    await started;
    const waiting = [submit({ key: 'b', name: 'b' }), submit({ key: 'c', name: 'c' })];
    await expect(submit({ key: 'd', name: 'd' })).rejects.toThrow('overloaded');
    // b and c wait longer than 5 ms for the one slot: refused when it frees, never run.
    await new Promise((resolve) => setTimeout(resolve, 20));
    batches[0]!.release.resolve();
    expect(await first).toBe('a done');
    expect(reasons(await Promise.allSettled(waiting))).toEqual(['overloaded', 'overloaded']);
    expect(batches).toHaveLength(1);
  });
});

describe('answer writes in shared transactions', () => {
  let app: FastifyInstance;
  let actors: Actors;
  let repository: AnswersRepository;
  const scheduler = createScheduler(testConfig().fsrs);

  beforeAll(async () => {
    app = await buildTestApp({ seed: true });
    actors = await createActors(app, { deckFrom: 'service' });
    repository = repositoriesOf(app.store).learning.answers;
  });
  afterAll(() => app.close());

  /** A service over the app's database counting its write transactions, `writeAnswers` failing with `poisoned`'s rows. */
  function countingService(poisoned?: string) {
    const counts = { writes: 0 };
    const counting: AnswersRepository = {
      ...repository,
      write: (body) => {
        counts.writes++;
        return repository.write(body);
      },
      writeAnswers: (writes) => {
        if (poisoned !== undefined && learnersOf(writes).has(poisoned)) throw new Error('a statement failed');
        return repository.writeAnswers(writes);
      },
    };
    return { service: createAnswersService(counting, app.content, scheduler, { maxAnswersPerCard: 1000 }), counts };
  }

  async function newUsers(count: number): Promise<UserRow[]> {
    const users: UserRow[] = [];
    for (let index = 0; index < count; index++) {
      const learner = await createLearner(app, actors.integration, `group-${randomUUID()}`);
      users.push((await app.learning.users.findUser(learner.userId))!);
    }
    return users;
  }

  const storedIds = async (userId: string) =>
    (await queryRows<{ client_answer_id: string }>(app, 'SELECT client_answer_id FROM answers WHERE user_id = ? ORDER BY client_answer_id', userId)).map(
      (row) => row.client_answer_id,
    );

  it('stores concurrent learners in fewer transactions than calls, each state a replay of its answers', async () => {
    const users = await newUsers(30);
    const { service, counts } = countingService();
    const card = actors.deck[0]!;
    const results = await Promise.all(
      users.flatMap((user) => [
        service.recordOne(user, answer(card, { clientAnswerId: randomUUID(), answeredAt: '2026-11-01T10:00:00.000Z', rating: 3 })),
        // The same learner again in the same turn, and a late answer: kept in order, replayed.
        service.recordOne(user, answer(card, { clientAnswerId: randomUUID(), answeredAt: '2026-11-01T09:00:00.000Z', rating: 1 })),
      ]),
    );
    expect(results.every((result) => result.created)).toBe(true);
    expect(counts.writes).toBeLessThan(users.length);
    for (const user of users) {
      expect(await storedIds(user.id)).toHaveLength(2);
      const history = await repository.run(repository.answersOfCard(user.id, card));
      const state = await repository.run(repository.findState(user.id, card));
      expect(state).toMatchObject(scheduler.run(null, history, 16).state);
    }
  });

  it('keeps a retry a duplicate when both copies arrive in one turn', async () => {
    const [user] = await newUsers(1);
    const { service } = countingService();
    const item = answer(actors.deck[1]!, { clientAnswerId: randomUUID(), answeredAt: '2026-11-01T10:00:00.000Z' });
    const [first, second] = await Promise.all([service.recordOne(user!, item), service.recordOne(user!, item)]);
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.answer).toEqual(first.answer);
  });

  it('refuses text it cannot store as that item alone (a lone surrogate, U+0000), never failing the others', async () => {
    const users = await newUsers(2);
    const { service } = countingService();
    const card = actors.deck[3]!;
    const [bad, good] = await Promise.all([
      service.recordBatch(users[0]!, [
        answer('\ud800', { clientAnswerId: randomUUID() }),
        answer(card, { clientAnswerId: randomUUID(), response: 'a\u0000b' }),
        answer(card, { clientAnswerId: randomUUID(), response: 'pairs are fine: \ud83d\ude00' }),
      ]),
      service.recordOne(users[1]!, answer(card, { clientAnswerId: randomUUID() })),
    ]);
    expect(bad.map((outcome) => [outcome.status, outcome.error?.code])).toEqual([
      ['invalid', 'MNEMO_REQUEST_INVALID'],
      ['invalid', 'MNEMO_REQUEST_INVALID'],
      ['created', undefined],
    ]);
    expect(good.created).toBe(true);
  });

  it('fails only the call whose learner is gone or whose statement fails; the others commit', async () => {
    const users = await newUsers(4);
    const gone: UserRow = { ...users[0]!, id: `usr_${randomUUID()}` };
    const poisoned = users[1]!;
    const { service } = countingService(poisoned.id);
    const card = actors.deck[2]!;
    const item = () => answer(card, { clientAnswerId: randomUUID(), answeredAt: '2026-11-01T10:00:00.000Z' });
    const settled = await Promise.allSettled([gone, poisoned, users[2]!, users[3]!].map((user) => service.recordOne(user, item())));
    expect(settled.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect(((settled[0] as PromiseRejectedResult).reason as { code?: string }).code).toBe('MNEMO_LEARNING_USER_NOT_FOUND');
    expect(((settled[1] as PromiseRejectedResult).reason as Error).message).toBe('a statement failed');
    expect(await storedIds(poisoned.id)).toEqual([]);
    expect(await storedIds(users[2]!.id)).toHaveLength(1);
    expect(await storedIds(users[3]!.id)).toHaveLength(1);
  });
});
