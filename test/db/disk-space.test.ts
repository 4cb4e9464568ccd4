import { describe, expect, it } from 'vitest';
import { diskProblem, diskSpaceProbe } from '../../src/db/disk-space.js';
import { createStorageHealth } from '../../src/db/storage-health.js';

describe('the disk space probe behind /readyz', () => {
  const full = { message: 'storage refuses writes (the disk is full or failing)', refuseWrites: false };

  it('clears the disk problem once the filesystem has room, looking no more often than its interval', () => {
    const storage = createStorageHealth();
    let clock = 0;
    let free = 1024;
    let looked = 0;
    const probe = diskSpaceProbe(storage, '/data', {
      minFreeBytes: 1_000_000,
      intervalMs: 5000,
      now: () => clock,
      freeBytes: (directory) => {
        expect(directory).toBe('/data');
        looked++;
        return free;
      },
    });
    probe();
    expect(looked).toBe(0); // nothing stands: nothing to look at

    storage.set(diskProblem, full);
    probe();
    clock = 4999;
    probe();
    expect(looked).toBe(0); // not sooner than the interval after the failure
    clock = 5000;
    probe();
    expect([looked, storage.has(diskProblem)]).toEqual([1, true]); // still full
    clock = 6000;
    free = 2_000_000;
    probe();
    expect(looked).toBe(1);
    clock = 10_000;
    probe();
    expect([looked, storage.has(diskProblem), storage.problems()]).toEqual([2, false, []]);
  });

  it('leaves other problems alone, and a failing statfs changes nothing', () => {
    const storage = createStorageHealth();
    storage.set('file-identity', { message: 'replaced', refuseWrites: true });
    storage.set(diskProblem, full);
    let clock = 0;
    const probe = diskSpaceProbe(storage, '/gone', {
      now: () => clock,
      freeBytes: () => {
        throw new Error('ENOENT');
      },
    });
    probe();
    clock = 60_000;
    probe();
    expect(storage.has(diskProblem)).toBe(true);
    expect(storage.writeRefusal()).toBe('replaced');
  });
});
