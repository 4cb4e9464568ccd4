import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { SharedRedis } from '../http/rate-limit-redis.js';
import { addressKey, createFailedAuthLimiter, type FailedAuthCounter, type FailedAuthLimiterOptions } from './failed-auth-limiter.js';

/*
 * The failed-authentication lockout shared by every instance through Redis (REDIS_URL), with the semantics of the
 * per-process counter (createFailedAuthLimiter), which it mirrors field for field in one hash per address,
 * `<REDIS_KEY_PREFIX>af:<addressKey>`:
 *
 *   ws, n, lu   the window's start, the failures in it, the end of the lockout (0 while none): the in-process
 *               Entry, read and written only by the Lua scripts below, on Redis's clock (TIME), so that instances
 *               with different clocks agree;
 *   r:<id>      one field per attempt in flight (a reservation), valued at its expiry.
 *
 * Why reservations. The auth hook asks `lockedOutFor` before it looks the token up and reports a failure after: a
 * plain "read the count, count the failure" would let every attempt of a burst (fired at once, at one instance or
 * several) read the same count before any failure is counted, and so have all of its tokens looked up, however
 * many. Instead the check, atomically in one script, counts the attempts in flight with the failures: an attempt
 * proceeds (and reserves its place) only while failures + reservations are under the limit, so no more than the
 * limit of tokens are ever looked up per window, across every instance. A failure turns its reservation into a
 * failure (one script); any other outcome deletes it (HDEL, not awaited); a reservation whose outcome never
 * arrives (an instance that died, a reply lost with the connection) expires after `reservationMs`. An attempt that
 * finds the budget taken by attempts in flight waits for them (polling every 5, 10, then 20 ms, for at most the
 * command timeout): they either fail, and then this attempt starts the lockout as the one over the limit, or
 * succeed and free their place. So a client bursting valid tokens from one address (or many clients behind one NAT
 * or untrusted proxy) is slowed by a few milliseconds once more than the limit of its attempts are in flight at
 * once, not refused; only if they are still undecided after that (a reservation left by a dead instance) is the
 * attempt refused with Retry-After: 1.
 *
 * Cost on the success path (a valid token): one round trip awaited before the lookup (the check script, which
 * reserves), and one command not awaited after it (the HDEL). The round trip cannot be avoided without weakening
 * the lockout: a valid token from a locked-out address must be refused by every instance (or guessing could go on
 * through instances that have not heard of the lockout), so every instance must ask Redis for every attempt; a
 * local "this address never failed here" shortcut would let each instance evaluate tokens from an address another
 * instance has locked out. Measured with inject on a loopback Redis (sequential requests with a valid token, rate
 * limits off): median latency 0.02 -> 0.12 ms, this process's CPU about +0.13 ms per request (the rate limiter's
 * Redis store, one awaited script, adds about +0.09 ms). The HDEL is what exactness under concurrency costs;
 * nothing waits for it.
 *
 * Outages: as the rate limiter (src/http/rate-limit-redis.ts, one connection and one circuit breaker for both),
 * a failed or timed-out command falls back to this process's own counter, never to "no limit" and never to a
 * 500. That counter sees every failure this instance has had (it counts them even while Redis answers) and every
 * lockout Redis has reported here, so an outage does not give an address a fresh budget on this instance.
 */

/** Milliseconds an attempt's reservation lasts when its outcome never arrives (longer than any token lookup). */
export const RESERVATION_MS = 10_000;

export interface SharedFailedAuthOptions extends Omit<FailedAuthLimiterOptions, 'now'> {
  /** See RESERVATION_MS. */
  reservationMs?: number;
}

/*
 * Common to both scripts: the address's entry, Redis's clock in milliseconds, and the key's expiry. The key lives
 * until its entry ends (window or lockout) or its last reservation expires, whichever is later: `keep(ms)` makes it
 * live at least `ms` more (for a reservation), `ends(at)` sets it to the entry's end unless reservations are left
 * (they are the fields beyond ws, n and lu), so a key never outlives what it counts by more than a reservation.
 */
const prelude = `
-- Redis 4 refuses writes after TIME unless the script is replicated by its effects (the default since Redis 5).
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function keep(ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local function ends(at)
  if redis.call('HLEN', key) > 3 then keep(at - now) else redis.call('PEXPIRE', key, at - now) end
end
local entry = redis.call('HMGET', key, 'ws', 'n', 'lu')
local ws, n, lu = tonumber(entry[1]), tonumber(entry[2]) or 0, tonumber(entry[3]) or 0
`;

/**
 * ARGV: max failures, lockout ms, window ms, reservation id, reservation ms. Returns {ms, started}: ms 0 when the
 * attempt may go on (reserved), > 0 while locked out (started 1 when this call started the lockout), -1 when the
 * budget is taken by attempts in flight.
 */
const checkScript = `${prelude}
local max, lockout, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counting = false
if ws then
  if lu > 0 then
    if lu > now then return {lu - now, 0} end
  else
    counting = now - ws < window
  end
end
if counting and n >= max then
  redis.call('HSET', key, 'lu', now + lockout)
  ends(now + lockout)
  return {lockout, 1}
end
local failures = counting and n or 0
local reserved = redis.call('HLEN', key) - (ws and 3 or 0)
if failures + reserved >= max then
  reserved = 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'r:' then
      if tonumber(fields[i + 1]) <= now then redis.call('HDEL', key, fields[i]) else reserved = reserved + 1 end
    end
  end
  if failures + reserved >= max then return {-1, 0} end
end
redis.call('HSET', key, 'r:' .. ARGV[4], now + tonumber(ARGV[5]))
keep(tonumber(ARGV[5]))
return {0, 0}
`;

/** ARGV: window ms, reservation id ('' when the check was not made in Redis). Counts one failure. */
const failScript = `${prelude}
local window = tonumber(ARGV[1])
if ARGV[2] ~= '' then redis.call('HDEL', key, 'r:' .. ARGV[2]) end
local live = false
if ws then
  if lu > 0 then live = lu > now else live = now - ws < window end
end
if live then
  redis.call('HINCRBY', key, 'n', 1)
else
  ws, lu = now, 0
  redis.call('HSET', key, 'ws', ws, 'n', 1, 'lu', lu)
end
if lu > 0 then ends(lu) else ends(ws + window) end
return 1
`;

interface Commands {
  mnemoFailedAuthCheck(key: string, maxFailures: number, lockoutMs: number, windowMs: number, id: string, reservationMs: number): Promise<[number, number]>;
  mnemoFailedAuthFail(key: string, windowMs: number, id: string): Promise<number>;
}

function defineCommands(client: Redis): Commands {
  const commands = client as unknown as Partial<Commands>;
  // EVALSHA, with EVAL when the server does not have the script (yet, or any more after a restart).
  if (!commands.mnemoFailedAuthCheck) client.defineCommand('mnemoFailedAuthCheck', { numberOfKeys: 1, lua: checkScript });
  if (!commands.mnemoFailedAuthFail) client.defineCommand('mnemoFailedAuthFail', { numberOfKeys: 1, lua: failScript });
  return client as unknown as Commands;
}

/**
 * The FailedAuthCounter installed when REDIS_URL is set (src/http/protection.ts): counts in Redis, through the
 * connection the rate limiter uses, and in `createFailedAuthLimiter(options)` while Redis is unavailable.
 */
export function createSharedFailedAuthCounter(redis: SharedRedis, options: SharedFailedAuthOptions): FailedAuthCounter {
  const windowMs = options.windowMs ?? 60_000;
  const reservationMs = options.reservationMs ?? RESERVATION_MS;
  const local = createFailedAuthLimiter(options);
  const commands = defineCommands(redis.client);
  const redisKey = (key: string) => `${redis.keyPrefix}af:${key}`;

  // Reservation ids are unique across instances; this process remembers its own per address key, first in first
  // out (any of them does for an outcome: they differ only in when they would expire).
  const instance = randomBytes(6).toString('hex');
  let sequence = 0;
  const held = new Map<string, string[]>();
  const hold = (key: string, id: string) => {
    const ids = held.get(key);
    if (ids) ids.push(id);
    else held.set(key, [id]);
  };
  const take = (key: string): string | undefined => {
    const ids = held.get(key);
    if (!ids) return undefined;
    const id = ids.shift();
    if (!ids.length) held.delete(key);
    return id;
  };
  const failed = (error: unknown) => redis.trip(error instanceof Error ? error.message : String(error));

  const check = async (address: string, key: string): Promise<number> => {
    const id = `${instance}:${(sequence++).toString(36)}`;
    let waited = 0;
    for (let delay = 5; ; delay = Math.min(delay * 2, 20)) {
      const [ms, started] = await commands.mnemoFailedAuthCheck(redisKey(key), options.maxFailures, options.lockoutMs, windowMs, id, reservationMs);
      redis.recover();
      if (ms === 0) {
        hold(key, id);
        return 0;
      }
      if (ms > 0) {
        const seconds = Math.max(1, Math.ceil(ms / 1000));
        // Kept here too, for as long as Redis says: an outage does not lift it on this instance.
        local.lockOut(address, ms);
        if (started === 1) options.onLockout?.(key, seconds);
        return seconds;
      }
      // The budget is taken by attempts in flight: wait for their outcome, within the command timeout.
      if (waited + delay > redis.commandTimeoutMs) return 1;
      await sleep(delay);
      waited += delay;
      if (!redis.useRedis()) return local.lockedOutFor(address);
    }
  };

  return {
    lockedOutFor(address) {
      if (!redis.useRedis()) return local.lockedOutFor(address);
      return check(address, addressKey(address)).catch((error: unknown) => {
        failed(error);
        return local.lockedOutFor(address);
      });
    },

    recordFailure(address) {
      // Counted here as well, whatever Redis does: the fallback starts from what this instance has seen.
      local.recordFailure(address);
      const key = addressKey(address);
      const id = take(key);
      if (!redis.useRedis()) return;
      // Awaited (the 401 leaves once the failure is counted), but never rejected: a failed command only trips.
      return commands.mnemoFailedAuthFail(redisKey(key), windowMs, id ?? '').then(() => redis.recover(), failed);
    },

    recordNoFailure(address) {
      const key = addressKey(address);
      const id = take(key);
      if (id === undefined || !redis.useRedis()) return;
      void redis.client.hdel(redisKey(key), `r:${id}`).then(() => redis.recover(), failed);
    },
  };
}
