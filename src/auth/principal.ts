import { includingArchived, liveOnly, type Visibility } from '../content/visibility.js';
import type { Role } from '../db/schema.js';
import { AppError } from '../errors.js';

/** Who is calling: resolved once per request from the bearer token. */
export type Principal =
  | { keyId: string; name: string; role: 'admin' }
  | { keyId: string; name: string; role: 'integration' }
  | { keyId: string; name: string; role: 'learner'; userId: string };

export type { Role };

export function requireAuthenticated(principal: Principal | null): Principal {
  if (!principal) throw new AppError('MNEMO_AUTH_REQUIRED', 'send an API key as "Authorization: Bearer <token>"');
  return principal;
}

/** Forbidden functions answer 403: the caller is known, the operation is not theirs to call. */
export function requireRole<R extends Role>(principal: Principal | null, ...roles: R[]): Extract<Principal, { role: R }> {
  const known = requireAuthenticated(principal);
  if (!(roles as Role[]).includes(known.role)) {
    throw new AppError('MNEMO_AUTH_FORBIDDEN', `this operation needs a ${roles.join(' or ')} key`);
  }
  return known as Extract<Principal, { role: R }>;
}

/**
 * A route hook that checks the caller's role before the request is validated, so an anonymous caller gets 401
 * (and a wrong role 403) without learning what input the route expects. Services check again on their own.
 */
export const allow =
  (...roles: Role[]) =>
  async (request: { principal: Principal | null }): Promise<void> => {
    requireRole(request.principal, ...roles);
  };

/**
 * The content a caller may address: archived modules are visible to admins only (everyone else gets a 404, as if
 * they did not exist). The rule that applies it is `isVisible` in content/visibility.ts.
 */
export const contentVisibility = (principal: Principal | null): Visibility => (principal?.role === 'admin' ? includingArchived : liveOnly);
