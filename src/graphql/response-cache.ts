import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Kind, OperationTypeNode, parse } from 'graphql';
import { LRUCache } from 'lru-cache';
import { dependedOnCaller } from './context.js';

/** One GraphQL operation as sent over POST (body) or GET (query string, variables and extensions as JSON text). */
interface Operation {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

interface Entry {
  stamp: number;
  /**
   * The response body as UTF-8 bytes: outside V8's heap, where a string would stay (a module's answer is about
   * 28 KB) and make the old generation, which V8 lets grow to a multiple of what it holds, larger still.
   */
  payload: Buffer;
}

interface Pending {
  key: string;
  stamp: number;
  /** The text the key was built from; the response is stored only if this is the text mercurius executed. */
  text: string;
}

const pendingKey = Symbol('graphqlResponseCachePending');
const executedKey = Symbol('graphqlExecutedText');

type Marked = FastifyRequest & { [pendingKey]?: Pending; [executedKey]?: string };

/**
 * Largest document (plus variables) whose answer is cached or whose hash is learnt. Keys and texts weigh on memory
 * as much as answers do, and real client queries are far smaller; a padded document is simply not cached.
 */
export const maxCacheableBytes = 16 * 1024;

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Records the document text mercurius is about to execute (called from its preParsing hook). */
export function recordExecutedText(request: FastifyRequest, text: string): void {
  (request as Marked)[executedKey] = text;
}

/**
 * Whole responses to GraphQL queries, for one content stamp (see ChangesService.contentStamp): any import,
 * archive or restore moves the stamp, so a cached answer is never stale. The cache is a security boundary; see
 * SECURITY.md, "What may be cached, and for whom". Its rules:
 * - the key is the document text that is executed, the variables, the operation name and the caller's content
 *   scope (`scopeOf`); nothing a client merely claims. GET and POST share entries: only queries are cached, and
 *   a query answers the same over both;
 * - a persisted-query hash is resolved only through a mapping learnt after checking that the text hashes to it;
 * - a response is stored only when mercurius executed exactly the keyed text, no resolver read the caller
 *   (context.principal), the operation is a query, and the answer has no errors.
 */
export class GraphqlResponseCache {
  private readonly responses: LRUCache<string, Entry>;
  /** Query text (at most maxCacheableBytes) -> whether it holds only query operations, worth caching at all. */
  private readonly queries = new LRUCache<string, boolean>({ max: 2000, maxSize: 2000 * 1024, sizeCalculation: (_value, text) => Math.max(1, text.length) });
  /** Persisted-query hash -> its text; only verified pairs (sha256(text) === hash) are ever stored. */
  private readonly persisted = new LRUCache<string, string>({ max: 2000, maxSize: 2000 * 1024, sizeCalculation: (text) => Math.max(1, text.length) });
  private stamp: (() => Promise<number>) | undefined;

  /** scopeOf: the part of the caller a cacheable answer may depend on, or undefined when nothing is cached. */
  constructor(
    maxBytes: number,
    private readonly scopeOf: (request: FastifyRequest) => string | undefined,
  ) {
    // Keys are sha256 digests of what the answer depends on, so an entry weighs what its answer weighs: its bytes.
    this.responses = new LRUCache({ maxSize: Math.max(1, maxBytes), sizeCalculation: (entry) => Math.max(1, entry.payload.length) + 64 });
  }

  /** Turns the cache on with the source of the content stamp (the change feed). */
  useStamp(stamp: () => Promise<number>): void {
    this.stamp = stamp;
  }

  /** preHandler: answers from the cache, or marks the request so its response can be stored. */
  lookup = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!this.stamp) return;
    const scope = this.scopeOf(request);
    if (scope === undefined) return;
    const operation = (request.method === 'GET' ? request.query : request.body) as Operation | unknown[] | null;
    if (!operation || typeof operation !== 'object' || Array.isArray(operation)) return;
    const resolved = this.resolve(request.method, operation);
    if (!resolved) return;
    const keyed = JSON.stringify([scope, resolved.text, operation.variables ?? null, operation.operationName ?? null]);
    if (keyed.length > maxCacheableBytes || !this.isQuery(resolved.text)) return;
    const key = sha256Hex(keyed);
    const stamp = await this.stamp();
    // A request that registers a persisted query must reach mercurius, which stores the hash; its answer is
    // still cached for later requests.
    const hit = resolved.registering ? undefined : this.responses.get(key);
    if (hit && hit.stamp === stamp) {
      await reply.type('application/json; charset=utf-8').send(hit.payload);
      return;
    }
    (request as Marked)[pendingKey] = { key, stamp, text: resolved.text };
  };

  /** onSend: stores a successful, caller-independent answer to exactly the document the key names. */
  store = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const pending = (request as Marked)[pendingKey];
    if (
      pending &&
      reply.statusCode === 200 &&
      typeof payload === 'string' &&
      (request as Marked)[executedKey] === pending.text &&
      !dependedOnCaller(request) &&
      !payload.includes('"errors"')
    ) {
      this.responses.set(pending.key, { stamp: pending.stamp, payload: Buffer.from(payload) });
    }
    return payload;
  };

  /**
   * The document text a request will execute: its own text (whose hash, if it claims one, must match), or the
   * verified text of a known hash. Undefined when it cannot be known here; such requests are not cached.
   */
  private resolve(method: string, operation: Operation): { text: string; registering: boolean } | undefined {
    const hash = persistedHash(method, operation.extensions);
    if (typeof operation.query === 'string') {
      if (hash === undefined) return { text: operation.query, registering: false };
      if (typeof hash !== 'string' || operation.query.length > maxCacheableBytes || sha256Hex(operation.query) !== hash) return undefined;
      this.persisted.set(hash, operation.query);
      return { text: operation.query, registering: true };
    }
    const text = typeof hash === 'string' ? this.persisted.get(hash) : undefined;
    return text === undefined ? undefined : { text, registering: false };
  }

  private isQuery(text: string): boolean {
    let known = this.queries.get(text);
    if (known === undefined) {
      known = isQueryDocument(text);
      this.queries.set(text, known);
    }
    return known;
  }
}

/** The claimed persisted-query hash: undefined when none is claimed, null when the claim is malformed. */
function persistedHash(method: string, extensions: unknown): string | null | undefined {
  let value = extensions;
  if (method === 'GET' && typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (value === undefined || value === null) return undefined;
  const persisted = (value as { persistedQuery?: { sha256Hash?: unknown } }).persistedQuery;
  if (persisted === undefined) return undefined;
  return typeof persisted?.sha256Hash === 'string' ? persisted.sha256Hash : null;
}

/** A document is cacheable only when every operation in it is a query: mutations change state. */
function isQueryDocument(text: string): boolean {
  try {
    const operations = parse(text, { maxTokens: 10_000 }).definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
    return operations.length > 0 && operations.every((operation) => operation.operation === OperationTypeNode.QUERY);
  } catch {
    return false;
  }
}
