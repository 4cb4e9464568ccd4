import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { nestingError } from '../lib/nesting.js';

/** Arrays and objects inside one another in a JSON body or a GraphQL `variables` value; real requests use 3 or 4. */
export const maxJsonDepth = 32;

/** The JSON nesting check, for JSON that arrives other than as a body (GraphQL variables over GET). */
export function assertJsonDepth(text: string, what: string): void {
  const deep = nestingError(text, maxJsonDepth);
  if (deep) throw new AppError('MNEMO_REQUEST_INVALID', `${what} is ${deep.message} (line ${deep.line})`);
}

type ParserDone = (error: Error | null, body?: unknown) => void;

/**
 * Fastify's JSON parser (prototype-poisoning checks, 400 for malformed JSON) behind a linear nesting check:
 * graphql-js and the validators walk parsed values recursively, and a body of 100,000 nested arrays overflowed
 * the stack into a 500.
 */
export function boundedJsonParser(app: FastifyInstance): (request: FastifyRequest, text: string, done: ParserDone) => void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  return (request, text, done) => {
    try {
      assertJsonDepth(text, 'the JSON body');
    } catch (error) {
      done(error as Error);
      return;
    }
    parseJson(request, text, done);
  };
}

/** Replaces the instance's JSON parser with the bounded one (at the root, for routes that bring their own schemas). */
export function useBoundedJson(app: FastifyInstance): void {
  const parse = boundedJsonParser(app);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => parse(request, body as string, done));
}
