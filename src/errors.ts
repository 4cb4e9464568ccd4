/**
 * Expected failures carry a stable code (MNEMO_<AREA>_<WHAT>) and an HTTP status. They are mapped once to
 * problem+json for REST and to `extensions.code` for GraphQL; anything that is not an AppError is treated as a bug
 * and reaches clients only as a generic message.
 */
export const errorCodes = {
  MNEMO_REQUEST_INVALID: { status: 400, title: 'Invalid request' },
  MNEMO_REQUEST_BAD_CURSOR: { status: 400, title: 'Invalid cursor' },
  MNEMO_REQUEST_TOO_LARGE: { status: 413, title: 'Request body too large' },
  MNEMO_REQUEST_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  MNEMO_REQUEST_CONFLICT: { status: 409, title: 'Conflicting change' },
  MNEMO_ROUTE_NOT_FOUND: { status: 404, title: 'Not found' },
  MNEMO_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  MNEMO_CONTENT_MODULE_NOT_FOUND: { status: 404, title: 'Module not found' },
  MNEMO_CONTENT_FLASHCARD_NOT_FOUND: { status: 404, title: 'Flashcard not found' },
  MNEMO_CONTENT_CHEAT_SHEET_NOT_FOUND: { status: 404, title: 'Cheat sheet not found' },
  MNEMO_CONTENT_VERSION_NOT_FOUND: { status: 404, title: 'Module version not found' },
  MNEMO_IMPORT_INVALID: { status: 400, title: 'Invalid module source' },
  MNEMO_IMPORT_TOO_LARGE: { status: 413, title: 'Module source too large' },
  MNEMO_IMPORT_TOO_COMPLEX: { status: 400, title: 'Module source too complex to read in time' },
  MNEMO_GRAPHQL_SYNTAX: { status: 400, title: 'GraphQL syntax error' },
  MNEMO_GRAPHQL_VALIDATION: { status: 400, title: 'GraphQL validation error' },
  MNEMO_GRAPHQL_BAD_VARIABLES: { status: 400, title: 'Invalid GraphQL variables' },
  MNEMO_GRAPHQL_TOO_MANY_TOKENS: { status: 400, title: 'GraphQL document has too many tokens' },
  MNEMO_GRAPHQL_DOCUMENT_TOO_LARGE: { status: 400, title: 'GraphQL document too large' },
  MNEMO_GRAPHQL_TOO_DEEP: { status: 400, title: 'GraphQL query too deep' },
  MNEMO_GRAPHQL_TOO_MANY_ALIASES: { status: 400, title: 'Too many aliases' },
  MNEMO_GRAPHQL_TOO_COSTLY: { status: 400, title: 'GraphQL query too costly' },
  MNEMO_GRAPHQL_INTROSPECTION_DISABLED: { status: 400, title: 'Introspection disabled' },
  MNEMO_GRAPHQL_BATCH_DISABLED: { status: 400, title: 'Batched queries disabled' },
  MNEMO_GRAPHQL_BATCH_TOO_LARGE: { status: 400, title: 'Batch too large' },
  MNEMO_GRAPHQL_BAD_REQUEST: { status: 400, title: 'Bad GraphQL request' },
  MNEMO_GRAPHQL_CYCLE: { status: 400, title: 'GraphQL query re-enters the same object' },
  MNEMO_GRAPHQL_RESPONSE_TOO_LARGE: { status: 400, title: 'GraphQL response too large' },
  MNEMO_AUTH_REQUIRED: { status: 401, title: 'Authentication required' },
  MNEMO_AUTH_INVALID_TOKEN: { status: 401, title: 'Invalid token' },
  MNEMO_AUTH_FORBIDDEN: { status: 403, title: 'Forbidden' },
  MNEMO_AUTH_KEY_NOT_FOUND: { status: 404, title: 'API key not found' },
  MNEMO_LEARNING_USER_NOT_FOUND: { status: 404, title: 'User not found' },
  MNEMO_LEARNING_ANSWER_CONFLICT: { status: 409, title: 'Answer conflict' },
  MNEMO_LEARNING_UNKNOWN_FLASHCARD: { status: 422, title: 'Unknown flashcard' },
  MNEMO_LEARNING_ANSWER_IN_FUTURE: { status: 422, title: 'Answer time in the future' },
  MNEMO_LEARNING_CARD_ANSWER_LIMIT: { status: 422, title: 'Too many answers on this card' },
  MNEMO_XAPI_STATEMENT_NOT_FOUND: { status: 404, title: 'Statement not found' },
  MNEMO_XAPI_VERSION_REQUIRED: { status: 400, title: 'xAPI version header missing or unsupported' },
  MNEMO_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  MNEMO_AUTH_LOCKED_OUT: { status: 429, title: 'Too many failed authentications' },
  MNEMO_OVERLOADED: { status: 503, title: 'Server overloaded' },
  MNEMO_SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  MNEMO_INTERNAL: { status: 500, title: 'Internal server error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCodes;

/** One failing field or source location, listed in a problem's `errors` member. */
export interface ErrorDetail {
  message: string;
  /** Dotted path into the request or source document, e.g. `flashcards.2.answer` or `query.limit`. */
  path?: string;
  /** 1-based line in a Markdown source. */
  line?: number;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;
  readonly title: string;

  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly errors?: ErrorDetail[],
  ) {
    super(detail ?? errorCodes[code].title);
    this.status = errorCodes[code].status;
    this.title = errorCodes[code].title;
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;
