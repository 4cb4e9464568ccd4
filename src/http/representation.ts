import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { Negotiator } from '@fastify/accept-negotiator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

type Encoding = 'br' | 'gzip' | 'identity';

/**
 * A response body serialised once, with its strong ETag and compressed variants made on first demand. Each
 * encoding is a distinct representation, so it gets its own ETag suffix; If-None-Match compares the shared base.
 */
export interface Representation {
  etagBase: string;
  body: Buffer;
  /** Content-Type of `body`. */
  type: string;
  encoded: Partial<Record<'br' | 'gzip', Buffer>>;
  /** Lets the owning cache re-weigh the entry once a compressed variant is added. */
  onEncoded?: () => void;
}

/** Bodies smaller than this are sent as they are: compressing them saves less than the headers cost. */
export const minCompressBytes = 1024;
// Accept-Encoding values are client-controlled, so the memo of negotiated headers is bounded.
const negotiator = new Negotiator({ supportedValues: ['br', 'gzip', 'identity'], cache: new LRUCache<string, string>({ max: 256 }) });

/** Bytes served as they are (a page, a script, the SDL), with their strong ETag. */
export function createFileRepresentation(body: Buffer | string, type: string): Representation {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const digest = createHash('sha256').update(bytes).digest('base64url').slice(0, 27);
  return { etagBase: digest, body: bytes, type, encoded: {} };
}

/** A JSON value serialised once. */
export const createRepresentation = (value: unknown): Representation =>
  createFileRepresentation(JSON.stringify(value), 'application/json; charset=utf-8');

const sizeOf = (representation: Representation) =>
  representation.body.length + (representation.encoded.br?.length ?? 0) + (representation.encoded.gzip?.length ?? 0);

/**
 * Serialised responses keyed by what determines them (e.g. module id, version, format, view), bounded by their
 * total size in bytes (compressed variants included) so memory stays flat however many modules are read.
 */
export class RepresentationCache {
  private readonly cache: LRUCache<string, Representation>;

  constructor(maxBytes: number) {
    // lru-cache needs a positive bound; with 1 byte nothing fits, which is what a budget of 0 means.
    this.cache = new LRUCache({ maxSize: Math.max(1, maxBytes), sizeCalculation: sizeOf });
  }

  /** The cached representation, if any (the hot path: no content is loaded when this hits). */
  peek(key: string): Representation | undefined {
    return this.cache.get(key);
  }

  get(key: string, build: () => unknown): Representation {
    const cached = this.cache.get(key);
    if (cached) return cached;
    const representation = createRepresentation(build());
    representation.onEncoded = () => this.cache.set(key, representation);
    this.cache.set(key, representation);
    return representation;
  }
}

/** The encoding a client's Accept-Encoding prefers among br, gzip and identity. */
export function negotiateEncoding(header: string | undefined): Encoding {
  if (!header) return 'identity';
  const chosen = (negotiator.negotiate(header) as Encoding | null) ?? 'identity';
  // The negotiator lets `*` pick an encoding the header refuses by name (`br;q=0, *`).
  return chosen !== 'identity' && header.includes('q=0') && refusedByName(header, chosen) ? 'identity' : chosen;
}

const refusedByName = (header: string, encoding: string) =>
  header.split(',').some((part) => {
    const [name, ...parameters] = part.split(';').map((piece) => piece.trim().toLowerCase());
    return name === encoding && parameters.some((parameter) => /^q=0(\.0{0,3})?$/.test(parameter));
  });

function chooseEncoding(request: FastifyRequest, representation: Representation): Encoding {
  if (representation.body.length < minCompressBytes) return 'identity';
  return negotiateEncoding(request.headers['accept-encoding']);
}

function encodedBody(representation: Representation, encoding: 'br' | 'gzip'): Buffer {
  const cached = representation.encoded[encoding];
  if (cached) return cached;
  const body =
    encoding === 'br'
      ? brotliCompressSync(representation.body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } })
      : gzipSync(representation.body, { level: 6 });
  representation.encoded[encoding] = body;
  representation.onEncoded?.();
  return body;
}

function matchesIfNoneMatch(header: string, etagBase: string): boolean {
  if (header.trim() === '*') return true;
  // Weak comparison (RFC 9110 13.1.2): W/ prefixes and our per-encoding suffixes are ignored.
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
    return tag === etagBase || tag === `${etagBase}-br` || tag === `${etagBase}-gzip`;
  });
}

/**
 * Route options for routes that answer with sendRepresentation: a representation carries its own compressed
 * variants, so the generic compression hooks (http/compression.ts) are left off these routes (they cost more than
 * a 304 itself).
 */
export const representationRoute = { compress: false } as const;

/**
 * Sends a cached representation: 304 when the client's ETag matches, otherwise the body in the best encoding the
 * client accepts. Content-Encoding is set here, so the generic compression hook leaves these responses alone.
 */
export function sendRepresentation(
  request: FastifyRequest,
  reply: FastifyReply,
  representation: Representation,
  cacheControl: string,
): FastifyReply {
  const encoding = chooseEncoding(request, representation);
  const etag = encoding === 'identity' ? `"${representation.etagBase}"` : `"${representation.etagBase}-${encoding}"`;
  reply.header('etag', etag).header('cache-control', cacheControl).header('vary', 'Accept-Encoding');
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch && matchesIfNoneMatch(ifNoneMatch, representation.etagBase)) {
    return reply.code(304).send();
  }
  reply.type(representation.type);
  if (encoding === 'identity') return reply.send(representation.body);
  return reply.header('content-encoding', encoding).send(encodedBody(representation, encoding));
}
