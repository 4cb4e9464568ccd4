import { statfsSync } from 'node:fs';
import type { StorageHealth } from './storage-health.js';

/** The problem a write failing for lack of space sets (db/transactions.ts) and free space clears. */
export const diskProblem = 'disk';

export interface DiskSpaceProbeOptions {
  /** Free space at which writes are expected to succeed again. */
  minFreeBytes?: number;
  /** How long after a failure, and between checks, before free space is looked at. */
  intervalMs?: number;
  now?: () => number;
  freeBytes?: (directory: string) => number;
}

const statfsFreeBytes = (directory: string) => {
  const stats = statfsSync(directory);
  return stats.bavail * stats.bsize;
};

/**
 * Clears the disk problem once the filesystem has room again. A successful write clears it too, but while
 * `/readyz` is 503 a load balancer sends no writes, so readiness itself looks at free space (at most every
 * `intervalMs`, and never sooner than that after the failure: the space a failed write lacked is not known).
 */
export function diskSpaceProbe(storage: StorageHealth, directory: string, options: DiskSpaceProbeOptions = {}): () => void {
  const { minFreeBytes = 4 * 1024 * 1024, intervalMs = 5000, now = Date.now, freeBytes = statfsFreeBytes } = options;
  let nextCheck: number | undefined;
  return () => {
    if (!storage.has(diskProblem)) {
      nextCheck = undefined;
      return;
    }
    const at = now();
    nextCheck ??= at + intervalMs;
    if (at < nextCheck) return;
    nextCheck = at + intervalMs;
    try {
      if (freeBytes(directory) >= minFreeBytes) storage.set(diskProblem, undefined);
    } catch {
      // Not knowing is not recovering: the problem stands until a write succeeds.
    }
  };
}
