import type { Readable } from 'node:stream';
import { brotliCompress, constants, createBrotliCompress, createBrotliDecompress, createGunzip, createGzip, createInflate, gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { AppError } from '../errors.js';
import { minCompressBytes, negotiateEncoding } from './representation.js';

// JSON, problem+json, GraphQL responses, text, HTML, scripts and SVG; not event streams or binary types.
const compressibleType = /^text\/(?!event-stream)|^application\/javascript|[/+](json|xml)(;|$)|^image\/svg\+xml/;
// Dynamic bodies are compressed per response, so brotli runs at a fast level; cached representations use their own.
const brotliOptions = { params: { [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_QUALITY]: 4 } };

const isStream = (payload: unknown): payload is Readable => typeof (payload as Readable | null)?.pipe === 'function';

function addVary(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined) reply.header('vary', 'Accept-Encoding');
  else if (!/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(String(vary))) reply.header('vary', `${String(vary)}, Accept-Encoding`);
}

/** Compresses a response the client accepts compressed: strings and buffers in zlib's thread pool, streams piped. */
function compressReply(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void): void {
  if (payload === null || payload === undefined || reply.statusCode === 204 || reply.statusCode === 304 || request.method === 'HEAD') return done(null, payload);
  if (reply.getHeader('content-encoding') !== undefined) return done(null, payload);
  if (!compressibleType.test(String(reply.getHeader('content-type') ?? ''))) return done(null, payload);
  addVary(reply);
  const encoding = negotiateEncoding(request.headers['accept-encoding']);
  if (encoding === 'identity') return done(null, payload);
  if (isStream(payload)) {
    reply.header('content-encoding', encoding).removeHeader('content-length');
    return done(null, payload.pipe(encoding === 'br' ? createBrotliCompress(brotliOptions) : createGzip()));
  }
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return done(null, payload);
  if (Buffer.byteLength(payload) < minCompressBytes) return done(null, payload);
  const finish = (error: Error | null, body: Buffer) => {
    if (error) return done(error);
    reply.header('content-encoding', encoding).removeHeader('content-length');
    done(null, body);
  };
  if (encoding === 'br') brotliCompress(payload, brotliOptions, finish);
  else gzip(payload, finish);
}

const decoders: Record<string, () => NodeJS.ReadWriteStream> = { gzip: createGunzip, 'x-gzip': createGunzip, br: createBrotliDecompress, deflate: createInflate };

/**
 * Request bodies sent with `Content-Encoding` (gzip, br, deflate) are decoded before parsing. Fastify counts the
 * body limit on the decoded stream, so a small compressed body cannot expand past it.
 */
function decodeRequest(request: FastifyRequest, _reply: FastifyReply, payload: Readable, done: (error: Error | null, payload?: Readable) => void): void {
  const header = request.headers['content-encoding'];
  if (header === undefined || header === 'identity') return done(null, payload);
  const decoder = decoders[header.trim().toLowerCase()];
  if (!decoder) return done(new AppError('MNEMO_REQUEST_UNSUPPORTED_MEDIA_TYPE', `request bodies encoded as "${header.slice(0, 40)}" are not accepted (gzip, br, deflate or none)`));
  const decoded = decoder();
  // A body that does not decode is the client's error.
  decoded.on('error', (error: Error & { statusCode?: number }) => {
    error.statusCode = 400;
  });
  payload.on('error', (error) => decoded.emit('error', error));
  // Content-Length counts the encoded bytes: Fastify compares it with this count when the stream provides one.
  const counted = Object.assign(decoded, { receivedEncodedLength: 0 });
  payload.on('data', (chunk: Buffer) => {
    counted.receivedEncodedLength += chunk.length;
  });
  done(null, payload.pipe(counted) as unknown as Readable);
}

const asArray = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);

/**
 * Compression for every route registered after this, except those declared `compress: false` (representations,
 * which carry their own compressed variants): responses are compressed last, after the route's own onSend hooks
 * (the GraphQL response cache stores the uncompressed answer), and request bodies are decoded first.
 */
export function registerCompression(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions & { compress?: boolean }) => {
    if (route.compress === false) return;
    route.onSend = [...asArray(route.onSend), compressReply] as RouteOptions['onSend'];
    route.preParsing = [decodeRequest, ...asArray(route.preParsing)] as RouteOptions['preParsing'];
  });
}
