import type { FastifyRequest } from 'fastify';
import { contentVisibility, type Principal } from '../auth/principal.js';
import { AppError } from '../errors.js';

const callerDependent = Symbol('graphqlCallerDependent');

type Marked = FastifyRequest & { [callerDependent]?: true };

/** Whether any resolver of this request read the caller (see `buildGraphqlContext`). */
export const dependedOnCaller = (request: FastifyRequest): boolean => (request as Marked)[callerDependent] === true;

/**
 * What content resolvers may know of the caller without the answer becoming caller-dependent: the visibility
 * class, which is part of every response-cache key.
 */
export type ContentAccess = ReturnType<typeof contentVisibility>;

/**
 * The text a response may still carry. Text resolvers spend from it as they resolve, so an oversized answer is
 * stopped while it is being built rather than after it has been serialised.
 */
export class ResponseBudget {
  constructor(private remaining: number) {}

  spend<T extends string | null>(text: T): T {
    if (text === null) return text;
    this.remaining -= text.length;
    if (this.remaining < 0) throw responseTooLarge();
    return text;
  }
}

export const responseTooLarge = () =>
  new AppError(
    'MNEMO_GRAPHQL_RESPONSE_TOO_LARGE',
    'the response would exceed the size limit; ask for fewer items per page, fewer aliases or fewer text fields',
  );

/** The part of a request's GraphQL context mnemo defines; mercurius adds reply, app and its own fields. */
export interface GraphqlCallerContext {
  requestId: string;
  contentAccess: ContentAccess;
  responseBudget: ResponseBudget;
  /** The caller. Reading it marks the request as caller-dependent, so its response is never cached. */
  readonly principal: Principal | null;
}

/**
 * Builds the context mercurius hands to every resolver and loader. The principal sits behind a getter so that
 * the response cache learns from the resolution itself, not from a list of field names, whether an answer
 * depended on who asked: a new learner field cannot forget to opt out of caching. (With `CONTENT_REQUIRES_AUTH`,
 * the route's preValidation hook has refused anonymous callers before this runs; it must not throw, as mercurius
 * also builds a context to format errors.)
 */
export function buildGraphqlContext(request: FastifyRequest, options: { maxResponseBytes: number }): GraphqlCallerContext {
  return {
    requestId: String(request.id),
    contentAccess: contentVisibility(request.principal),
    responseBudget: new ResponseBudget(options.maxResponseBytes),
    get principal() {
      (request as Marked)[callerDependent] = true;
      return request.principal;
    },
  };
}
