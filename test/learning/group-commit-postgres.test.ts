import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { repositoriesOf } from '../../src/db/repositories.js';
import { createAnswersService } from '../../src/learning/answers-service.js';
import { createScheduler } from '../../src/learning/scheduler.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, createLearner, type Actors } from '../helpers/learners.js';

/**
 * On PostgreSQL a group of answer calls only tries its learners' locks: a learner whose lock another transaction
 * holds (another instance's write, an erasure) runs alone afterwards, waiting for it, instead of holding up every
 * call of its group.
 */

/** The first key of the learners' advisory locks (answers-repository-postgres.ts). */
const learnerLockSpace = 0x6d6e6c72;

let app: FastifyInstance;
let actors: Actors;
beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app, { deckFrom: 'service' });
});
afterAll(() => app.close());

describe('a group of answer calls on PostgreSQL', () => {
  it('runs a learner whose lock another transaction holds alone, without holding up the rest of its group', async () => {
    if (app.store.engine !== 'postgres') throw new Error('this file runs in the postgres project only');
    const service = createAnswersService(repositoriesOf(app.store).learning.answers, app.content, createScheduler(testConfig().fsrs), { maxAnswersPerCard: 1000 });
    const users = await Promise.all(
      Array.from({ length: 4 }, async () => (await app.learning.users.findUser((await createLearner(app, actors.integration, `lock-${randomUUID()}`)).userId))!),
    );
    const item = () => answer(actors.deck[0]!, { clientAnswerId: randomUUID(), answeredAt: '2026-11-01T10:00:00.000Z' });

    const holder = await app.store.postgres.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2))', [learnerLockSpace, users[0]!.id]);
      let lockedSettled = false;
      const locked = service.recordOne(users[0]!, item()).finally(() => (lockedSettled = true));
      // The same turn: one group. Its other learners commit while the lock is still held.
      const others = await Promise.all(users.slice(1).map((user) => service.recordOne(user, item())));
      expect(others.map((result) => result.created)).toEqual([true, true, true]);
      expect(lockedSettled).toBe(false);
      await holder.query('COMMIT');
      expect((await locked).created).toBe(true);
    } finally {
      holder.release();
    }
  });
});
