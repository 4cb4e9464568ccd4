import type { FastifyRequest } from 'fastify';
import { requireAuthenticated } from './principal.js';

/**
 * The one order every route follows: the caller is authenticated in the global onRequest hook (auth plugin),
 * authorised in its route's preValidation hook (this, or `allow(...roles)`), and only then is its input validated.
 * So an anonymous caller of a route that needs a key gets 401 whatever its input, never a 400 that describes the
 * input the route expects.
 */
export const requireKey = async (request: FastifyRequest): Promise<void> => void requireAuthenticated(request.principal);
