import type { FastifyReply, FastifyRequest } from 'fastify';
import { Kind, type ASTNode, type ExecutionResult, type GraphQLError, type GraphQLFormattedError } from 'graphql';
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

/** Whether an AST node is a variable or its definition. */
const isVariableNode = (node: ASTNode | undefined) => node?.kind === Kind.VARIABLE || node?.kind === Kind.VARIABLE_DEFINITION;

/**
 * The code of an error the GraphQL layer raised while preparing the operation (parse, validation, variables),
 * read from the error's structure, never from its English message. A rule with its own code (limits,
 * introspection) keeps it. Otherwise:
 * - the parser reports positions in the source and no AST node (there is no AST yet): MNEMO_GRAPHQL_SYNTAX;
 * - graphql-js attaches variable coercion errors to the variable's definition, and the validation rules on
 *   variable usage (unused, undefined, wrong position) to the variable or its definition:
 *   MNEMO_GRAPHQL_BAD_VARIABLES;
 * - graphql-jit (a compiled query run with omitted variables, or on the run that compiles it, when mercurius
 *   leaves coercion to it) reports the definition's location without the node, before any field has a path:
 *   also MNEMO_GRAPHQL_BAD_VARIABLES;
 * - anything else (unknown fields or types, wrong arguments, a variable declared with an output type, no such
 *   operation): MNEMO_GRAPHQL_VALIDATION.
 */
function graphqlCode(error: GraphQLError | Error): string {
  // Plain errors (mercurius' request-shape checks) have none of these fields.
  const { extensions, nodes, positions, locations, path } = error as Partial<GraphQLError>;
  if (typeof extensions?.code === 'string') return extensions.code;
  const node = nodes?.[0];
  if (!node && positions?.length) return 'MNEMO_GRAPHQL_SYNTAX' satisfies ErrorCode;
  if (isVariableNode(node)) return 'MNEMO_GRAPHQL_BAD_VARIABLES' satisfies ErrorCode;
  if (!node && !path && locations?.length) return 'MNEMO_GRAPHQL_BAD_VARIABLES' satisfies ErrorCode;
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
