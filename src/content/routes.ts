import type { FastifyRequest } from 'fastify';
import { z, type ZodType } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { requireKey } from '../auth/hooks.js';
import { contentVisibility } from '../auth/principal.js';
import { AppError } from '../errors.js';
import { notModified, problemResponses } from '../http/problem-schema.js';
import { useZodSchemas } from '../http/zod.js';
import { RepresentationCache, representationRoute, sendRepresentation } from '../http/representation.js';
import type { TextFormat } from './module-source/text-format.js';
import {
  presentCheatSheet,
  presentFlashcard,
  presentModule,
  presentModuleSummary,
  presentRevisionItem,
  presentStandaloneFlashcard,
  presentTakeaway,
} from './present.js';
import type { ModuleContent } from './records.js';
import {
  cheatSheetSchema,
  flashcardParams,
  flashcardSchema,
  formatOnlyQuery,
  itemsOf,
  listModulesQuery,
  moduleListSchema,
  moduleParams,
  moduleSchema,
  revisionItemSchema,
  standaloneFlashcardSchema,
  takeawaySchema,
  exportQuery,
  versionParams,
  versionSummarySchema,
} from './schemas.js';

// Clients may store content but must revalidate; the ETag makes revalidation a cheap 304. Content that needs a
// key is private to the client's cache.

/** Views of one module, each cached per (module, version, format). */
const moduleViews = {
  module: (content: ModuleContent, format: TextFormat) => presentModule(content, format),
  takeaways: (content: ModuleContent, format: TextFormat) => ({ items: content.takeaways.map((item) => presentTakeaway(item, format)) }),
  flashcards: (content: ModuleContent, format: TextFormat) => ({ items: content.flashcards.map((card) => presentFlashcard(card, format)) }),
  cheatSheet: (content: ModuleContent, format: TextFormat) => presentCheatSheet(content.module.cheatSheetColumns, content.cheatSheetRows, format),
  revisionItems: (content: ModuleContent, format: TextFormat) => ({ items: content.revisionItems.map((item) => presentRevisionItem(item, format)) }),
};

export const contentRoutes: FastifyPluginAsyncZod<{ cacheBytes: number; requireAuth: boolean }> = async (app, options) => {
  useZodSchemas(app);
  const cacheControl = options.requireAuth ? 'private, no-cache' : 'public, no-cache';
  if (options.requireAuth) app.addHook('preValidation', requireKey);
  const service = app.content;
  const representations = new RepresentationCache(options.cacheBytes);
  const visibility = (request: FastifyRequest) => contentVisibility(request.principal);

  const viewRoute = <V extends keyof typeof moduleViews>(
    url: string,
    view: V,
    summary: string,
    response: ZodType,
  ) =>
    app.get(
      url,
      {
        ...representationRoute,
        schema: {
          tags: ['content'],
          summary,
          params: moduleParams,
          querystring: formatOnlyQuery,
          response: { 200: response, 304: notModified, ...problemResponses(400, 404) },
        },
      },
      async (request, reply) => {
        const { format } = request.query;
        const { slug } = request.params;
        // The hot path is one indexed lookup of the current version and a cache hit; content is loaded only
        // to build a representation that is not cached.
        const head = await service.getModuleHead(slug, visibility(request));
        let representation = representations.peek(`${head.id}:${head.version}:${format}:${view}`);
        if (!representation) {
          const content = await service.getModuleContent(slug, visibility(request));
          if (view === 'cheatSheet' && content.module.cheatSheetColumns === null) {
            throw new AppError('MNEMO_CONTENT_CHEAT_SHEET_NOT_FOUND', `module "${content.module.slug}" has no cheat sheet`);
          }
          const key = `${content.module.id}:${content.module.version}:${format}:${view}`;
          representation = representations.get(key, () => moduleViews[view](content, format));
        }
        return sendRepresentation(request, reply, representation, cacheControl);
      },
    );

  app.get(
    '/modules',
    {
      ...representationRoute,
      schema: {
        tags: ['content'],
        summary: 'List modules (slug order, cursor pagination)',
        querystring: listModulesQuery,
        response: { 200: moduleListSchema, 304: notModified, ...problemResponses(400) },
      },
    },
    async (request, reply) => {
      const { limit, cursor, tag, format } = request.query;
      // Lists change only when content does: cached per content stamp, so a page is built once per change.
      const key = JSON.stringify(['list', await app.changes.contentStamp(), limit, cursor ?? null, tag ?? null, format]);
      let representation = representations.peek(key);
      if (!representation) {
        const page = await service.listModules({ limit, cursor, tag });
        representation = representations.get(key, () => ({ items: page.items.map((module) => presentModuleSummary(module, format)), nextCursor: page.nextCursor }));
      }
      return sendRepresentation(request, reply, representation, cacheControl);
    },
  );

  viewRoute('/modules/:slug', 'module', 'A whole module: all four sections in order', moduleSchema);
  viewRoute('/modules/:slug/takeaways', 'takeaways', 'Key takeaways of a module', itemsOf(takeawaySchema));
  viewRoute('/modules/:slug/flashcards', 'flashcards', 'The deck: flashcards of a module in order', itemsOf(flashcardSchema));
  viewRoute('/modules/:slug/cheat-sheet', 'cheatSheet', 'The cheat sheet of a module (404 when it has none)', cheatSheetSchema);
  viewRoute('/modules/:slug/revision-items', 'revisionItems', 'Quick-revision items of a module', itemsOf(revisionItemSchema));

  app.get(
    '/modules/:slug/versions',
    {
      schema: {
        tags: ['content'],
        summary: 'Every imported version of a module, oldest first, with what changed; importedBy is shown to admins only (null for others)',
        params: moduleParams,
        response: { 200: itemsOf(versionSummarySchema), ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const admin = request.principal?.role === 'admin';
      const items = await service.listVersions(request.params.slug, visibility(request), admin);
      // An admin's answer names keys (importedBy): no cache may keep it, lest it reach someone else.
      return reply.header('cache-control', admin ? 'private, no-store' : cacheControl).send({ items });
    },
  );

  app.get(
    '/modules/:slug/versions/:version',
    {
      ...representationRoute,
      schema: {
        tags: ['content'],
        summary: "A version's content, as it was imported (ids as they were then)",
        params: versionParams,
        querystring: formatOnlyQuery,
        response: { 200: moduleSchema, 304: notModified, ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const { slug, version } = request.params;
      const { format } = request.query;
      const content = await service.getVersionContent(slug, version, visibility(request));
      const key = `${content.module.id}:v${version}:${format}:module`;
      const representation = representations.get(key, () => presentModule(content, format));
      return sendRepresentation(request, reply, representation, cacheControl);
    },
  );

  app.get(
    '/modules/:slug/export',
    {
      schema: {
        tags: ['content'],
        summary: 'The current version as a Markdown or JSON source that re-imports unchanged',
        params: moduleParams,
        querystring: exportQuery,
        produces: ['text/markdown', 'application/json'],
        response: { 200: z.string(), ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const json = request.query.format === 'json';
      const source = await service.exportModule(request.params.slug, json ? 'json' : 'markdown', visibility(request));
      return reply
        .header('cache-control', cacheControl)
        .header('content-disposition', `attachment; filename="${request.params.slug}.${json ? 'json' : 'md'}"`)
        .type(json ? 'application/json; charset=utf-8' : 'text/markdown; charset=utf-8')
        .send(source);
    },
  );

  app.get(
    '/flashcards/:id',
    {
      ...representationRoute,
      schema: {
        tags: ['content'],
        summary: 'One flashcard with its module slug (archived cards stay resolvable)',
        params: flashcardParams,
        querystring: formatOnlyQuery,
        response: { 200: standaloneFlashcardSchema, 304: notModified, ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const { format } = request.query;
      const { card, module } = await service.getFlashcard(request.params.id, visibility(request));
      const key = `${card.id}:${module.version}:${format}:flashcard`;
      const representation = representations.get(key, () => presentStandaloneFlashcard(card, module, format));
      return sendRepresentation(request, reply, representation, cacheControl);
    },
  );
};
