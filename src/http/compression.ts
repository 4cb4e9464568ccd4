import { pipeline, Transform, type Readable } from 'node:stream';
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

const decoders = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['br', createBrotliDecompress],
  ['deflate', createInflate],
]);

/**
 * A request body decoded from `encoding`, refused with 413 once it decodes to more than `limit` bytes. The decoder
 * is torn down on the first error (or when the body stream is destroyed), so a bomb stops inflating as soon as it
 * is refused.
 */
export function decodedBody(payload: Readable, encoding: string, limit: number): Readable & { receivedEncodedLength: number } {
  const decoder = decoders.get(encoding);
  if (!decoder) throw new AppError('MNEMO_REQUEST_UNSUPPORTED_MEDIA_TYPE', `request bodies encoded as "${encoding.slice(0, 40)}" are not accepted (gzip, br, deflate or none)`);
  let decodedBytes = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      decodedBytes += chunk.length;
      if (decodedBytes > limit) callback(new AppError('MNEMO_REQUEST_TOO_LARGE', `the request body decodes to more than ${limit} bytes`));
      else callback(null, chunk);
    },
  });
  // Content-Length counts the encoded bytes: Fastify compares it with this count when the stream provides one.
  const body = Object.assign(limited, { receivedEncodedLength: 0 });
  payload.on('data', (chunk: Buffer) => {
    body.receivedEncodedLength += chunk.length;
  });
  const decoding = decoder();
  // A body that does not decode is the client's error (the limit's own 413 passes through here too).
  decoding.once('error', (error: Error & { statusCode?: number }) => {
    if (!(error instanceof AppError)) error.statusCode ??= 400;
  });
  // The request itself is not part of the pipeline: destroying it would close the socket before the 413 is sent.
  payload.on('error', (error) => decoding.destroy(error));
  payload.pipe(decoding);
  pipeline(decoding, limited, (error) => {
    if (error) payload.unpipe(decoding);
  });
  return body;
}

/**
 * Request bodies sent with `Content-Encoding` (gzip, br, deflate) are decoded before parsing, within the route's
 * body limit; the decoding stops when the response is sent or the client goes away.
 */
function decodeRequest(request: FastifyRequest, reply: FastifyReply, payload: Readable, done: (error: Error | null, payload?: Readable) => void): void {
  const header = request.headers['content-encoding'];
  const encoding = header?.trim().toLowerCase();
  const hasBody = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
  if (encoding === undefined || encoding === '' || encoding === 'identity' || !hasBody) return done(null, payload);
  let body: ReturnType<typeof decodedBody>;
  try {
    body = decodedBody(payload, encoding, request.routeOptions.bodyLimit ?? Number.POSITIVE_INFINITY);
  } catch (error) {
    return done(error as Error);
  }
  reply.raw.once('close', () => body.destroy());
  done(null, body);
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
