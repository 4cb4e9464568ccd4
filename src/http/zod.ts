import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import fastJson from 'fast-json-stringify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
// Installs the author-friendly validation messages for every zod parse.
import './validation-messages.js';
import { boundedJsonParser } from './json-body.js';

/**
 * Responses are serialised by fast-json-stringify from the JSON Schema of their zod schema: fields are written
 * by a compiled function, and anything not in the schema (an internal field, by mistake) is dropped rather than
 * sent. Per-response zod validation (the type provider's default) cost more than the handlers themselves on
 * list routes.
 */
function compileSerializer(schema: unknown): (data: unknown) => string {
  // No fallback to JSON.stringify: it would send fields outside the schema. A schema that cannot be compiled stops
  // the server at startup (Fastify compiles serializers when routes are ready), naming the cause.
  try {
    const json = z.toJSONSchema(schema as z.ZodType, { target: 'draft-7', io: 'output', unrepresentable: 'any' });
    return fastJson(json as Parameters<typeof fastJson>[0]) as (data: unknown) => string;
  } catch (error) {
    throw new Error(`a response schema cannot be compiled into a serializer: ${(error as Error).message}`, { cause: error });
  }
}

// Many routes share response schemas (problems, items of the same type): each is compiled once, and only when
// first used, which keeps startup short (compiling them all took about 70 ms). `compilePendingSerializers` compiles
// the rest once the server listens, so a schema that cannot be compiled still shows at startup, and in the tests.
const compiled = new WeakMap<object, (data: unknown) => string>();
const pending = new Set<() => unknown>();

/** The serializer of a zod schema, compiled once: what Fastify uses for routes, and for parts of a body built by hand. */
export function serializerFor(schema: unknown): (data: unknown) => string {
  if (typeof schema !== 'object' || schema === null || !('_zod' in schema)) return compileSerializer(schema);
  let serializer = compiled.get(schema);
  if (!serializer) {
    let compiledSerializer: ((data: unknown) => string) | undefined;
    const compile = () => {
      pending.delete(compile);
      return (compiledSerializer ??= compileSerializer(schema));
    };
    pending.add(compile);
    serializer = (data) => (compiledSerializer ?? compile())(data);
    compiled.set(schema, serializer);
  }
  return serializer;
}

/**
 * Compiles the serializers not used yet, one per turn of the event loop so that requests keep being answered; the
 * promise rejects with the first schema that cannot be compiled.
 */
export async function compilePendingSerializers(): Promise<void> {
  for (const compile of [...pending]) {
    await new Promise((resolve) => setImmediate(resolve));
    compile();
  }
}

/**
 * Requests are validated by fastify-type-provider-zod's compiler, with one difference: Fastify hands a request
 * without a body to the validator as `null`, which an optional or defaulted body schema would refuse. No body (or a
 * JSON `null`) is `undefined` here, so such a body may be left out, and a required one is reported as "a request
 * body is required".
 */
const zodValidatorCompiler: FastifySchemaCompiler<z.core.$ZodType> = (route) => {
  const validate = validatorCompiler(route);
  return route.httpPart === 'body' ? (data: unknown) => validate(data === null ? undefined : data) : validate;
};

/**
 * JSON bodies as the bounded parser reads them (size and nesting limits, prototype-poisoning checks, 400 for
 * malformed JSON), except that
 * an empty body is no body rather than an error: the route's schema decides (see zodValidatorCompiler), also for
 * clients that always send `Content-Type: application/json`.
 */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = boundedJsonParser(app);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') done(null, undefined);
    else parseJson(request, text, done);
  });
}

/**
 * Routes declared with zod schemas validate requests through zod and serialise responses as above. Set per
 * plugin context rather than at the root, so plugins that bring JSON-schema routes of their own (mercurius) keep
 * Fastify's defaults.
 */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(({ schema }) => serializerFor(schema));
  acceptEmptyJsonBodies(app);
}
