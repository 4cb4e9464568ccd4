import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';

type MaybePromise<T> = T | Promise<T>;

/**
 * Failed authentications per client address and the lockouts they lead to. The auth hook asks it before looking a
 * token up and tells it about every rejected Authorization header; requests without one never reach it.
 *
 * Per process (createFailedAuthLimiter below), or shared by every instance through Redis when REDIS_URL is set
 * (src/auth/failed-auth-redis.ts), which answers asynchronously: the auth hook accepts promises.
 */
export interface FailedAuthCounter {
  /**
   * Seconds the address stays locked out, or 0 when it may present a token. An address that has used up its
   * failures for the current window is locked out by this call (the attempt over the limit starts the lockout).
   */
  lockedOutFor(address: string): MaybePromise<number>;
  /** Counts one rejected Authorization header (unknown, revoked or malformed token, wrong scheme). */
  recordFailure(address: string): MaybePromise<void>;
  /**
   * Optional: the attempt that `lockedOutFor` let through ended in no failure (the token was accepted, or its lookup
   * failed for another reason, such as an unavailable database). A counter that reserves each attempt in
   * `lockedOutFor`, so that concurrent attempts cannot overshoot the limit (the shared one), releases it here. The
   * auth hook does not wait for it, and it must not throw.
   */
  recordNoFailure?(address: string): void;
}

/** The counter when AUTH_FAILURES_PER_MINUTE=0: nothing is counted, nobody is locked out. */
export const noFailedAuthLimit: FailedAuthCounter = {
  lockedOutFor: () => 0,
  recordFailure: () => undefined,
};

/** Addresses (IPv4, or IPv6 /64) tracked at once by default: about 200 bytes each, so some 10 MB at most. */
export const defaultMaxAddresses = 50_000;

export interface FailedAuthLimiterOptions {
  /** Failures an address may have within a window; the next attempt in that window starts the lockout. */
  maxFailures: number;
  lockoutMs: number;
  /** Starts at an address's first failure; default one minute. */
  windowMs?: number;
  /** Bound on the addresses tracked; beyond it the least recently seen is forgotten. */
  maxAddresses?: number;
  now?: () => number;
  /** Called once when an address is locked out (for logging). */
  onLockout?: (key: string, seconds: number) => void;
}

interface Entry {
  windowStart: number;
  failures: number;
  /** 0 while not locked out. */
  lockedUntil: number;
}

const maxKeyLength = 64;

/**
 * What failures are counted against: an IPv4 address as is; an IPv6 address by its /64 prefix, since one host or
 * subscriber usually holds a whole /64 and could otherwise rotate through its addresses to escape the count (and
 * fill the map); an IPv4-mapped IPv6 address as its IPv4 address. Anything else (a trusted proxy may forward any
 * string) is cut to a bounded length.
 */
export function addressKey(address: string): string {
  const plain = address.split('%')[0] ?? '';
  const kind = isIP(plain);
  if (kind === 4) return plain;
  if (kind !== 6) return address.slice(0, maxKeyLength);
  const groups = ipv6Groups(plain.toLowerCase());
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 part split in two). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  if (tail === undefined) return parse(head);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The per-process counter: a fixed window from an address's first failure, and a lockout of fixed length that
 * further attempts do not extend (they cost nothing while it lasts, and a shared address recovers on time). The
 * map is an LRU bounded by `maxAddresses`: only failures add entries, and an address that keeps trying while
 * locked out stays recent, so evicting it takes that many failing addresses.
 */
export function createFailedAuthLimiter(options: FailedAuthLimiterOptions): FailedAuthCounter & {
  readonly size: number;
  /**
   * Locks the address out for `ms` from now (unless it already is for longer), without `onLockout`: the shared
   * counter mirrors here the lockouts Redis reports, so that a Redis outage does not lift them.
   */
  lockOut(address: string, ms: number): void;
} {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const entries = new LRUCache<string, Entry>({ max: options.maxAddresses ?? defaultMaxAddresses });
  const secondsUntil = (time: number, until: number) => Math.max(1, Math.ceil((until - time) / 1000));
  // A window that has run out, or a lockout that has ended, leaves nothing to count on.
  const isStale = (entry: Entry, time: number) =>
    entry.lockedUntil === 0 ? time - entry.windowStart >= windowMs : entry.lockedUntil <= time;

  return {
    lockedOutFor(address) {
      const key = addressKey(address);
      const entry = entries.get(key);
      if (!entry) return 0;
      const time = now();
      if (entry.lockedUntil > time) return secondsUntil(time, entry.lockedUntil);
      if (isStale(entry, time) || entry.failures < options.maxFailures) return 0;
      entry.lockedUntil = time + options.lockoutMs;
      const seconds = secondsUntil(time, entry.lockedUntil);
      options.onLockout?.(key, seconds);
      return seconds;
    },

    recordFailure(address) {
      const key = addressKey(address);
      const time = now();
      const entry = entries.get(key);
      if (entry && !isStale(entry, time)) entry.failures++;
      else entries.set(key, { windowStart: time, failures: 1, lockedUntil: 0 });
    },

    lockOut(address, ms) {
      const key = addressKey(address);
      const time = now();
      const entry = entries.get(key);
      if (entry && entry.lockedUntil >= time + ms) return;
      if (entry) entry.lockedUntil = time + ms;
      else entries.set(key, { windowStart: time, failures: 0, lockedUntil: time + ms });
    },

    get size() {
      return entries.size;
    },
  };
}
