import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { allow, requireRole } from '../auth/principal.js';
import { AppError, isAppError } from '../errors.js';
import { problemResponses } from '../http/problem-schema.js';
import { useZodSchemas } from '../http/zod.js';
import { importResultSchema, moduleParams, archiveResultSchema, queryEnum } from './schemas.js';

const security = [{ bearer: [] }];
const markdownTypes = ['text/markdown', 'text/x-markdown', 'text/plain'];

/** A source sent as JSON that is not JSON at all (a Markdown file, most likely) gets told which media type to use. */
function withMediaTypeHint(error: unknown, source: string): unknown {
  if (!isAppError(error) || error.code !== 'MNEMO_IMPORT_INVALID' || /^\s*[{[]/.test(source)) return error;
  const [first, ...rest] = error.errors ?? [];
  if (!first?.message.startsWith('invalid JSON')) return error;
  const hint = /^\s*(---|#|>|[-*] )/.test(source)
    ? 'the body looks like Markdown: send it with Content-Type: text/markdown'
    : 'a JSON source is an object ({"slug": ...}); send Markdown with Content-Type: text/markdown';
  return new AppError('MNEMO_IMPORT_INVALID', `${error.message}; ${hint}`, [{ ...first, message: `${first.message}; ${hint}` }, ...rest]);
}

/** Admin module lifecycle: import (create or update by slug), archive and restore. */
export const contentAdminRoutes: FastifyPluginAsyncZod<{ importBodyBytes: number }> = async (app, options) => {
  useZodSchemas(app);
  const service = app.content;
  app.addHook('preValidation', allow('admin'));

  // Sources arrive as text: our own readers parse them, so errors carry lines and JSON paths, and JSON gets the
  // same strict treatment (unknown and __proto__ keys reported) as any other source.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', ...markdownTypes], { parseAs: 'string', bodyLimit: options.importBodyBytes }, (_request, body, done) =>
    done(null, body),
  );

  app.post(
    '/admin/modules',
    {
      bodyLimit: options.importBodyBytes,
      schema: {
        tags: ['admin'],
        summary: 'Import a module from its Markdown (text/markdown) or JSON (application/json) source: 201 created, 200 updated or unchanged',
        security,
        consumes: ['text/markdown', 'application/json'],
        body: z.string().describe('The module source'),
        querystring: z.strictObject({ dryRun: queryEnum(['true', 'false'], 'false').describe('Validate and report without writing') }),
        response: { 200: importResultSchema, 201: importResultSchema, ...problemResponses(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const admin = requireRole(request.principal, 'admin');
      const contentType = request.headers['content-type'] ?? '';
      // Media types are case-insensitive, and Fastify's parser matched this one ignoring case and leading space.
      const format = contentType.trimStart().toLowerCase().startsWith('application/json') ? 'json' : 'markdown';
      let result;
      try {
        result = await service.importModule(request.body, format, { dryRun: request.query.dryRun === 'true', importedBy: admin.name });
      } catch (error) {
        throw format === 'json' ? withMediaTypeHint(error, request.body) : error;
      }
      return reply.code(result.status === 'created' ? 201 : 200).send(result);
    },
  );

  app.delete(
    '/admin/modules/:slug',
    {
      schema: {
        tags: ['admin'],
        summary: 'Archive a module: hidden from lists and reads (404 for non-admins); nothing is deleted',
        security,
        params: moduleParams,
        response: { 200: archiveResultSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => service.archiveModule(request.params.slug),
  );

  app.post(
    '/admin/modules/:slug/restore',
    {
      schema: {
        tags: ['admin'],
        summary: 'Restore an archived module',
        security,
        params: moduleParams,
        response: { 200: archiveResultSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => service.restoreModule(request.params.slug),
  );
};
