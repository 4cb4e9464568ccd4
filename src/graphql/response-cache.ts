import type { FastifyReply, FastifyRequest } from 'fastify';
import { Kind, parse, visit } from 'graphql';
import { LruCache } from '../lib/lru-cache.js';

/** Fields whose answer depends on who asks; a document that selects one is never cached. */
const callerDependentFields = new Set(['me', 'user', 'myState']);

interface GraphqlRequestBody {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: { persistedQuery?: { sha256Hash?: unknown } };
}

interface Entry {
  stamp: number;
  payload: string;
}

const pendingKey = Symbol('graphqlResponseCacheKey');

type Pending = FastifyRequest & { [pendingKey]?: { key: string; stamp: number } };

/**
 * Whole responses to content-only GraphQL queries, keyed by the document, variables and operation, and valid
 * for one content stamp (see ChangesService.contentStamp): any import, archive or restore moves the stamp, so a
 * cached answer is never stale. Queries that touch the caller (me, user, myState), mutations, admin callers
 * (who also see archived modules) and answers with errors are never cached. Persisted-query hashes are cached
 * once their full text has been seen.
 */
export class GraphqlResponseCache {
  private readonly responses: LruCache<string, Entry>;
  /** Query text -> whether its answer depends only on content. */
  private readonly cacheable = new LruCache<string, boolean>(2000);
  /** Persisted-query hash -> the text of a content-only query, learnt when a client registers it. */
  private readonly persisted = new LruCache<string, string>(2000);
  private stamp: (() => number) | undefined;

  constructor(maxBytes: number) {
    this.responses = new LruCache(Number.MAX_SAFE_INTEGER, { maxWeight: maxBytes, weigh: (entry) => entry.payload.length });
  }

  /** Turns the cache on with the source of the content stamp (the change feed). */
  useStamp(stamp: () => number): void {
    this.stamp = stamp;
  }

  /** preHandler: answers from the cache, or marks the request so its response can be stored. */
  lookup = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!this.stamp || request.principal?.role === 'admin') return;
    const body = (request.method === 'GET' ? request.query : request.body) as GraphqlRequestBody | unknown[] | null;
    if (!body || Array.isArray(body)) return;
    const identity = this.identity(body);
    if (!identity) return;
    const key = JSON.stringify([identity, body.variables ?? null, body.operationName ?? null, request.principal ? 'key' : 'anonymous']);
    const stamp = this.stamp();
    // A request that registers a persisted query must reach mercurius, which stores the hash; its answer is
    // still cached for later requests.
    const registering = typeof body.query === 'string' && typeof body.extensions?.persistedQuery?.sha256Hash === 'string';
    const hit = registering ? undefined : this.responses.get(key);
    if (hit && hit.stamp === stamp) {
      await reply.type('application/json; charset=utf-8').send(hit.payload);
      return;
    }
    (request as Pending)[pendingKey] = { key, stamp };
  };

  /** onSend: stores a successful answer of a marked request. */
  store = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const pending = (request as Pending)[pendingKey];
    if (pending && reply.statusCode === 200 && typeof payload === 'string' && !payload.includes('"errors"')) {
      this.responses.set(pending.key, { stamp: pending.stamp, payload });
    }
    return payload;
  };

  /** The query text (also for a persisted hash whose text is known) when its answer depends only on content. */
  private identity(body: GraphqlRequestBody): string | undefined {
    const hash = body.extensions?.persistedQuery?.sha256Hash;
    if (typeof body.query === 'string') {
      const query = body.query;
      const cacheable = this.cacheable.getOrCreate(query, () => isContentOnly(query));
      if (cacheable && typeof hash === 'string') this.persisted.set(hash, query);
      return cacheable ? query : undefined;
    }
    return typeof hash === 'string' ? this.persisted.get(hash) : undefined;
  }
}

function isContentOnly(query: string): boolean {
  try {
    const document = parse(query, { maxTokens: 10_000 });
    let contentOnly = true;
    visit(document, {
      OperationDefinition(node) {
        if (node.operation !== 'query') contentOnly = false;
      },
      Field(node) {
        if (callerDependentFields.has(node.name.value)) contentOnly = false;
      },
    });
    return contentOnly && document.definitions.some((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  } catch {
    return false;
  }
}
