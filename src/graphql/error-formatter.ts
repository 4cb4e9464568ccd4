import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ExecutionResult, GraphQLError, GraphQLFormattedError } from 'graphql';
import { AppError, isAppError, type ErrorCode } from '../errors.js';
import { normalizeError } from '../http/problem.js';

interface FormatterContext {
  reply?: FastifyReply;
}

interface MercuriusLikeError extends Error {
  code?: string;
  statusCode?: number;
  errors?: (GraphQLError | Error)[];
}

const persistedQueryCodes: Record<string, string> = {
  // Apollo clients recognise these codes and re-send the full query.
  MER_ERR_GQL_PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  MER_ERR_GQL_PERSISTED_QUERY_NOT_SUPPORTED: 'PERSISTED_QUERY_NOT_SUPPORTED',
  MER_ERR_GQL_PERSISTED_QUERY_MISMATCH: 'MNEMO_GRAPHQL_BAD_REQUEST',
};

/** Which code a GraphQL-level error (syntax, validation, variables) gets, from what graphql-js reports. */
function graphqlCode(error: GraphQLError | Error): string {
  const code = (error as GraphQLError).extensions?.code;
  if (typeof code === 'string') return code;
  const message = error.message;
  if (message.includes('tokens. Parsing aborted')) return 'MNEMO_GRAPHQL_TOO_MANY_TOKENS';
  if (message.startsWith('Syntax Error')) return 'MNEMO_GRAPHQL_SYNTAX';
  if (message.startsWith('Variable "')) return 'MNEMO_GRAPHQL_BAD_VARIABLES';
  return 'MNEMO_GRAPHQL_VALIDATION' satisfies ErrorCode;
}

export interface ErrorFormatterOptions {
  suggestions: boolean;
}

/**
 * Every GraphQL error leaves with `extensions.code`. Expected errors (AppError, validation, limits) keep their
 * message; anything else is logged with the request id and replaced by a generic message, so no SQL, stack or path
 * reaches the client. Field suggestions are removed when configured off, as they map out the schema.
 */
export function createErrorFormatter(options: ErrorFormatterOptions) {
  const clean = (message: string) => (options.suggestions ? message : message.replace(/ ?Did you mean .*\?$/s, ''));

  return function errorFormatter(execution: ExecutionResult & { statusCode?: number }, context: FormatterContext) {
    const request = context.reply?.request as FastifyRequest | undefined;
    let statusCode = execution.data ? 200 : (execution.statusCode ?? 200);
    const errors: GraphQLFormattedError[] = [];

    for (const error of execution.errors ?? []) {
      const original = error.originalError as MercuriusLikeError | undefined;
      // Mercurius wraps parse, validation and variable errors: report each of them.
      if (original && !isAppError(original) && Array.isArray(original.errors)) {
        if (!execution.data) statusCode = original.statusCode ?? 400;
        for (const inner of original.errors) {
          errors.push({
            message: clean(inner.message),
            ...('locations' in inner && inner.locations ? { locations: inner.locations } : {}),
            extensions: { code: graphqlCode(inner) },
          });
        }
        continue;
      }
      if (!original) {
        errors.push({ ...error.toJSON(), message: clean(error.message), extensions: { code: graphqlCode(error) } });
        if (!execution.data) statusCode = 400;
        continue;
      }
      const persisted = original.code && persistedQueryCodes[original.code];
      const appError: AppError | null = persisted
        ? null
        : isAppError(original)
          ? original
          : request
            ? normalizeError(original, request)
            : new AppError('MNEMO_INTERNAL');
      // An error while executing a field is part of a GraphQL result (200); a request-level failure (auth,
      // persisted query lookup) has no path and keeps its HTTP status.
      if (!execution.data) statusCode = persisted || error.path ? 200 : appError!.status;
      errors.push({
        message: persisted ? original.message : appError!.message,
        ...(error.locations ? { locations: error.locations } : {}),
        ...(error.path ? { path: error.path } : {}),
        extensions: {
          code: persisted || appError!.code,
          ...(appError?.errors?.length ? { errors: appError.errors } : {}),
          ...(appError && appError.status >= 500 && request ? { requestId: String(request.id) } : {}),
        },
      });
    }
    // An answer cut short by the size budget would be misleading as partial data: the whole request fails.
    const tooLarge = errors.find((error) => error.extensions?.code === ('MNEMO_GRAPHQL_RESPONSE_TOO_LARGE' satisfies ErrorCode));
    if (tooLarge) return { statusCode: 400, response: { data: null, errors: [{ message: tooLarge.message, extensions: tooLarge.extensions }] } };
    return { statusCode, response: { data: execution.data ?? null, errors } };
  };
}
