import { getOperationAST, parse } from 'graphql';
import mercurius from 'mercurius';
import { AppError } from '../errors.js';
import { assertJsonDepth } from '../http/json-body.js';
import { maxCacheableBytes } from './response-cache.js';

const badRequest = (message: string) => new AppError('MNEMO_GRAPHQL_BAD_REQUEST', message);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks one operation of a raw request before anything coerces it: over POST, `query` and `operationName` are
 * strings and `variables` and `extensions` objects; over GET, all four are single query-string values. Fastify's
 * schema would otherwise turn `{"query": ["..."]}` into a string after the token limit had looked for one.
 * Returns the query text, if any.
 */
export function assertOperationShape(operation: unknown, isGet: boolean): string | undefined {
  if (!isObject(operation)) throw badRequest('each operation must be a JSON object');
  const { query, operationName, variables, extensions } = operation;
  if (query !== undefined && typeof query !== 'string') throw badRequest('"query" must be a string');
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') {
    throw badRequest('"operationName" must be a string');
  }
  const structured = (value: unknown) => value === undefined || value === null || (isGet ? typeof value === 'string' : isObject(value));
  if (!structured(variables)) throw badRequest(`"variables" must be ${isGet ? 'one JSON-encoded value' : 'an object'}`);
  if (!structured(extensions)) throw badRequest(`"extensions" must be ${isGet ? 'one JSON-encoded value' : 'an object'}`);
  // Over POST the body parser has bounded their nesting; over GET they are still text.
  if (typeof variables === 'string') assertJsonDepth(variables, '"variables"');
  if (typeof extensions === 'string') assertJsonDepth(extensions, '"extensions"');
  return query;
}

/**
 * A GET naming an operation the document does not define would fail inside mercurius (it looks the operation
 * up to refuse mutations over GET) as a 500; it is a client error, reported as one. The text is already within
 * the token limit.
 */
export function assertOperationExists(query: string, operationName: string): void {
  let document;
  try {
    document = parse(query, { noLocation: true });
  } catch {
    return; // mercurius reports the syntax error with its location
  }
  if (!getOperationAST(document, operationName)) {
    throw new AppError('MNEMO_GRAPHQL_VALIDATION', `the document has no operation named "${operationName}"`);
  }
}

/**
 * Mercurius' automatic persisted queries, learning only documents small enough to keep: its store holds a
 * bounded number of texts, and a padded document would make each of them weigh what the body limit allows.
 */
export function boundedPersistedQueries(entries: number) {
  const automatic = mercurius.persistedQueryDefaults.automatic(entries);
  return {
    ...automatic,
    saveQuery: async (hash: string, query: string) => {
      if (query.length <= maxCacheableBytes) await automatic.saveQuery!(hash, query);
    },
  };
}
