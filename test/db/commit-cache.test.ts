import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { createCommitCache } from '../../src/db/commit-cache.js';
import { done, runNow } from '../../src/db/work.js';

// The bounds that keep one client from filling memory through a cache keyed on what it asks for.
let database: DatabaseHandle;

beforeAll(() => {
  database = openDatabase({ path: ':memory:', synchronous: 'NORMAL', busyTimeoutMs: 100 });
});
afterAll(() => database.close());

function counted() {
  let loads = 0;
  return {
    loads: () => loads,
    load: (bytes: number) => () => {
      loads += 1;
      return done({ bytes });
    },
  };
}

describe('commit cache bounds', () => {
  it('keeps at most maxPerGroup entries of one group, dropping its oldest, and leaves other groups alone', async () => {
    const cache = createCommitCache<{ bytes: number }>(database.db, { max: 1000, cacheMisses: false, maxPerGroup: 4 });
    const loads = counted();
    runNow(cache.get('other:a', loads.load(1), 'other'));
    for (let index = 0; index < 6; index++) runNow(cache.get(`greedy:${index}`, loads.load(1), 'greedy'));
    expect(loads.loads()).toBe(7);
    await Promise.resolve();
    // The two oldest of the greedy group are gone, the newest four and the other group's entry are kept.
    for (const key of ['greedy:2', 'greedy:3', 'greedy:4', 'greedy:5']) runNow(cache.get(key, loads.load(1), 'greedy'));
    runNow(cache.get('other:a', loads.load(1), 'other'));
    expect(loads.loads()).toBe(7);
    runNow(cache.get('greedy:0', loads.load(1), 'greedy'));
    expect(loads.loads()).toBe(8);
  });

  it('bounds the total by the sizes values report, and forgets a whole group at once', () => {
    const cache = createCommitCache<{ bytes: number }>(database.db, { max: 1000, cacheMisses: false, size: { max: 1000, of: (value) => value.bytes } });
    const loads = counted();
    for (let index = 0; index < 5; index++) runNow(cache.get(`big:${index}`, loads.load(400), `learner-${index % 2}`));
    // 2,000 bytes asked for, 1,000 allowed: only the two newest fit.
    runNow(cache.get('big:4', loads.load(400), 'learner-0'));
    runNow(cache.get('big:3', loads.load(400), 'learner-1'));
    expect(loads.loads()).toBe(5);
    runNow(cache.get('big:0', loads.load(400), 'learner-0'));
    expect(loads.loads()).toBe(6);
    cache.forget('learner-1');
    runNow(cache.get('big:3', loads.load(400), 'learner-1'));
    expect(loads.loads()).toBe(7);
  });
});
