import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const prefix = 'mnemo_';

/** A bearer token: 256 random bits, recognisable by its prefix in logs and secret scanners. */
export const generateToken = () => `${prefix}${randomBytes(32).toString('base64url')}`;

/** Tokens are stored only as this hash; a leaked database does not leak usable tokens. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Shape check before any lookup, so junk never reaches the database. */
export const looksLikeToken = (token: string) => /^mnemo_[A-Za-z0-9_-]{43}$/.test(token);

export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
