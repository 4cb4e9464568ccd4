import { randomFillSync } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

function base32(value: bigint, length: number): string {
  let out = '';
  for (let index = 0; index < length; index++) {
    out = alphabet[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

// Random bytes drawn 4 KiB at a time: one call per id cost about 6 us each, most of a batch of answers' id work.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomWord(): bigint {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const word = pool.readBigUInt64BE(offset);
  offset += 8;
  return word;
}

/**
 * The smallest id `newId(prefix)` gives at time `ms`: ids sort by creation time, so `id >= idFloor(...)` seeks the
 * ids created from then on.
 */
export const idFloor = (prefix: string, ms: number): string => `${prefix}_${base32(BigInt(Math.max(0, Math.floor(ms))), 10)}`;

/**
 * An opaque id such as `ans_01jdx9k2m4qbw7c3ze8t`: a type prefix for humans reading logs, then the creation time
 * in milliseconds and 50 random bits, in base32. Time first keeps new rows at the end of their indexes (a batch
 * of answers touches a few pages, not hundreds); ids are generated once and stored, so they are stable across
 * restarts and re-imports.
 */
export function newId(prefix: string): string {
  const time = base32(BigInt(Date.now()), 10);
  const random = base32(randomWord() >> 14n, 10);
  return `${prefix}_${time}${random}`;
}
