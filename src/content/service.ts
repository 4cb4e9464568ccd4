import { AppError } from '../errors.js';
import { LruCache } from '../lib/lru-cache.js';
import { decodeCursor, encodeCursor } from '../lib/cursor.js';
import { z } from 'zod';
import { createModuleImporter, type ImportOptions, type ImportResult } from './import-module.js';
import type { ModuleFormat } from './module-source/parse-module-source.js';
import type { FlashcardRecord, ModuleContent, ModuleRecord } from './records.js';
import type { ContentRepository } from './repository.js';

export interface ContentServiceOptions {
  /** Modules (with their sections) kept in memory, keyed by id and version. */
  cacheEntries: number;
}

export interface ModulePage {
  items: ModuleRecord[];
  nextCursor: string | null;
}

const moduleCursorShape = { slug: z.string().max(64) };

/** Content reads and imports. REST routes and GraphQL resolvers both call this; neither touches the repository. */
export function createContentService(repository: ContentRepository, options: ContentServiceOptions) {
  const importer = createModuleImporter(repository);
  // Keyed by version: an import bumps the version, so a stale entry can never be served; no TTL, no invalidation.
  const contentCache = new LruCache<string, ModuleContent>(options.cacheEntries);

  function liveModule(slug: string): ModuleRecord {
    const module = repository.findModuleBySlug(slug);
    if (!module || module.archivedAt !== null) {
      throw new AppError('MNEMO_CONTENT_MODULE_NOT_FOUND', `no module with slug "${slug}"`);
    }
    return module;
  }

  return {
    importModule(source: string, format: ModuleFormat, importOptions?: ImportOptions): ImportResult {
      return importer(source, format, importOptions);
    },

    /** The module's current head (one indexed lookup); 404 when missing or archived. */
    getModule: liveModule,

    /** The whole module, served from memory while its version is current. */
    getModuleContent(slug: string): ModuleContent {
      const head = liveModule(slug);
      const cached = contentCache.get(`${head.id}:${head.version}`);
      if (cached) return cached;
      // Head and sections read in one snapshot, so a concurrent import cannot mix two versions.
      const content = repository.transaction(() => {
        const module = liveModule(slug);
        return { module, ...repository.sectionsOf(module.id) };
      });
      contentCache.set(`${content.module.id}:${content.module.version}`, content);
      return content;
    },

    listModules(query: { limit: number; cursor?: string | undefined; tag?: string | undefined }): ModulePage {
      const after = query.cursor === undefined ? '' : decodeCursor('modules', query.cursor, moduleCursorShape).slug;
      const rows = repository.listModules({ afterSlug: after, limit: query.limit + 1, tag: query.tag });
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      const nextCursor = rows.length > query.limit && last ? encodeCursor('modules', { slug: last.slug }) : null;
      return { items, nextCursor };
    },

    countModules(tag?: string): number {
      return repository.countModules(tag);
    },

    /** A flashcard by id with its module, archived cards included (history refers to them). */
    getFlashcard(id: string): { card: FlashcardRecord; module: ModuleRecord } {
      const card = repository.findFlashcardById(id);
      const module = card && repository.findModuleById(card.moduleId);
      if (!card || !module || module.archivedAt !== null) {
        throw new AppError('MNEMO_CONTENT_FLASHCARD_NOT_FOUND', `no flashcard with id "${id}"`);
      }
      return { card, module };
    },

    /** Whether the store has never had a module (startup seeding). */
    isEmpty(): boolean {
      return repository.countAllModules() === 0;
    },
  };
}

export type ContentService = ReturnType<typeof createContentService>;
