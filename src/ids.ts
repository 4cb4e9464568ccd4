import { randomBytes } from 'node:crypto';

const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * An opaque id such as `fc_3kq7x2mbw4tz9jcd`: a type prefix for humans reading logs, then 80 random bits in
 * base32. Ids are generated once and stored, so they are stable across restarts and re-imports.
 */
export function newId(prefix: string): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `${prefix}_${out}`;
}
