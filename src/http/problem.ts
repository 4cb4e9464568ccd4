import { securityHeaderLines } from './security-headers.js';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, type ErrorCode, type ErrorDetail } from '../errors.js';
import { knownFieldsAt, unknownFieldMessage } from './validation-messages.js';
import { databaseFailureOf } from '../db/failures.js';

/** RFC 9457 problem details, as every error response of the REST API is shaped. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: ErrorCode;
  requestId: string;
  errors?: ErrorDetail[];
}

const pathOf = (request: FastifyRequest) => request.url.split('?')[0] ?? request.url;

export const problemContentType = 'application/problem+json; charset=utf-8';

export const problemType = (code: ErrorCode) =>
  `urn:mnemo:problem:${code.replace(/^MNEMO_/, '').toLowerCase().replaceAll('_', '-')}`;

export function toProblem(request: FastifyRequest, error: AppError): Problem {
  return {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.message,
    instance: pathOf(request).slice(0, 500),
    code: error.code,
    requestId: String(request.id),
    ...(error.errors?.length ? { errors: error.errors } : {}),
  };
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  if (error.status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  if (error.status === 401) reply.header('www-authenticate', 'Bearer');
  // Serialised here, not by the route's response schema: a problem must go out whatever route it comes from.
  return reply.code(error.status).type(problemContentType).send(JSON.stringify(toProblem(request, error)));
}

/** Fastify's own 4xx errors (body parsing, media type, size) carry safe messages; map them to our codes. */
const fastifyCodes: Record<number, ErrorCode> = {
  404: 'MNEMO_ROUTE_NOT_FOUND',
  405: 'MNEMO_METHOD_NOT_ALLOWED',
  413: 'MNEMO_REQUEST_TOO_LARGE',
  415: 'MNEMO_REQUEST_UNSUPPORTED_MEDIA_TYPE',
};

/** What a part of the request is called in "unknown …" messages. */
const partNouns: Record<string, string> = { querystring: 'query parameter', params: 'path parameter', headers: 'header' };

/**
 * One detail per failing field. Messages come from zod's error map (src/http/validation-messages.ts); unknown keys
 * are listed one by one, each with the nearest known name of the object they were sent in, read from the route's
 * schema.
 */
function validationDetails(error: FastifyError & { validationContext?: string }, request: FastifyRequest): ErrorDetail[] {
  const where = error.validationContext ?? 'request';
  const schema = (request.routeOptions.schema as Record<string, unknown> | undefined)?.[where];
  return error.validation!.flatMap((issue) => {
    const segments = issue.instancePath.split('/').filter(Boolean);
    const path = [where, ...segments].join('.');
    const keys = (issue.params as { keys?: string[] }).keys;
    if (issue.keyword === 'unrecognized_keys' && keys) {
      const known = knownFieldsAt(schema, segments.map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment)));
      return keys.map((key) => ({ path: `${path}.${key}`, message: unknownFieldMessage(key, known, partNouns[where]) }));
    }
    return [{ path, message: issue.message ?? 'invalid value' }];
  });
}

/** A 415 names what the route accepts: its declared `consumes`, or JSON. */
function unsupportedMediaType(request: FastifyRequest): AppError {
  const accepted = (request.routeOptions.schema as { consumes?: string[] } | undefined)?.consumes ?? ['application/json'];
  const sent = request.headers['content-type'];
  const list = accepted.length > 1 ? `${accepted.slice(0, -1).join(', ')} or ${accepted.at(-1)}` : accepted[0];
  const what = sent ? `Content-Type ${JSON.stringify(sent.slice(0, 100))} is not accepted here` : 'the request body has no Content-Type';
  return new AppError('MNEMO_REQUEST_UNSUPPORTED_MEDIA_TYPE', `${what}; send ${list} (e.g. -H 'content-type: ${accepted[0]}')`);
}

/**
 * Turns anything thrown into an AppError. Unknown errors become a generic 500 (or 503 when SQLite is busy past its
 * timeout): their message may hold SQL or paths, so it is logged, never sent.
 */
export function normalizeError(error: unknown, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (hasZodFastifySchemaValidationErrors(fastifyError)) {
    const details = validationDetails(fastifyError, request);
    const first = details[0];
    return new AppError('MNEMO_REQUEST_INVALID', first ? `${first.path}: ${first.message}` : 'invalid request', details);
  }
  const status = fastifyError.statusCode;
  if (status === 415) return unsupportedMediaType(request);
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError(fastifyCodes[status] ?? 'MNEMO_REQUEST_INVALID', fastifyError.message);
  }
  const failure = databaseFailureOf(error);
  if (failure === 'conflict') {
    // A write that committed while this one waited deleted a row it relied on, or created the row it was creating.
    request.log.warn({ err: error }, 'a concurrent write changed what this request relied on');
    return new AppError('MNEMO_REQUEST_CONFLICT', 'a concurrent request changed what this one refers to (deleted it, or created it first); retry or re-read it');
  }
  if (failure === 'unstorable') {
    return new AppError('MNEMO_REQUEST_INVALID', 'the request holds a character that cannot be stored (U+0000)');
  }
  if (failure === 'busy') {
    request.log.warn({ err: error }, 'database busy');
    return new AppError('MNEMO_SERVICE_UNAVAILABLE', 'the database is busy; retry shortly');
  }
  if (failure === 'unavailable') {
    request.log.error({ err: error }, 'storage failure');
    return new AppError('MNEMO_SERVICE_UNAVAILABLE', `storage is unavailable; quote request id ${request.id} when reporting it`);
  }
  request.log.error({ err: error }, 'unhandled error');
  return new AppError('MNEMO_INTERNAL', `an unexpected error occurred; quote request id ${request.id} when reporting it`);
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, normalizeError(error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new AppError('MNEMO_ROUTE_NOT_FOUND', `no route for ${request.method} ${pathOf(request).slice(0, 200)}`)),
  );
}


const clientErrors: Record<string, { status: number; reason: string; code: ErrorCode }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: 'MNEMO_REQUEST_INVALID' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'MNEMO_REQUEST_INVALID' },
};

/**
 * Requests Node's HTTP parser rejects (oversized headers, malformed request lines, timeouts) never reach the
 * router; they still get a problem+json answer, and the connection is closed.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const known = (error.code && clientErrors[error.code]) || { status: 400, reason: 'Bad Request', code: 'MNEMO_REQUEST_INVALID' as ErrorCode };
  const body = JSON.stringify({
    type: problemType(known.code),
    title: known.reason,
    status: known.status,
    detail: known.status === 431 ? 'request headers are too large' : known.status === 408 ? 'the request took too long to arrive' : 'malformed HTTP request',
    code: known.code,
  });
  socket.end(
    `HTTP/1.1 ${known.status} ${known.reason}\r\nContent-Type: ${problemContentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${securityHeaderLines}Connection: close\r\n\r\n${body}`,
  );
}
