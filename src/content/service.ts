import { AppError } from '../errors.js';
import { LruCache } from '../lib/lru-cache.js';
import { decodeCursor, encodeCursor } from '../lib/cursor.js';
import { z } from 'zod';
import { createModuleImporter, type ImportOptions, type ImportResult } from './import-module.js';
import type { ModuleFormat } from './module-source/parse-module-source.js';
import type { FlashcardRecord, ModuleContent, ModuleRecord, ModuleSections } from './records.js';
import type { ContentRepository } from './repository.js';

export interface ContentServiceOptions {
  /** Modules (with their sections) kept in memory, keyed by id and version. */
  cacheEntries: number;
}

export interface ModulePage {
  items: ModuleRecord[];
  /** Cursor of the page after this one; null on the last page. */
  nextCursor: string | null;
  /** Cursor of this page's last item (GraphQL's endCursor); null for an empty page. */
  endCursor: string | null;
}

const moduleCursorShape = { slug: z.string().max(64) };

/** Content reads and imports. REST routes and GraphQL resolvers both call this; neither touches the repository. */
export function createContentService(repository: ContentRepository, options: ContentServiceOptions) {
  const importer = createModuleImporter(repository);
  // Keyed by version: an import bumps the version, so a stale entry can never be served; no TTL, no invalidation.
  const contentCache = new LruCache<string, ModuleContent>(options.cacheEntries);

  const cacheKey = (module: ModuleRecord) => `${module.id}:${module.version}`;

  /**
   * One section of many modules (GraphQL loaders): from the content cache where the cached version is current,
   * the rest with one query for the whole batch, grouped back by module id.
   */
  function sectionOfMany<K extends keyof ModuleSections>(
    section: K,
    modules: readonly ModuleRecord[],
    fetch: (moduleIds: string[]) => ModuleSections[K],
  ): ModuleSections[K][] {
    const found = new Map<string, ModuleSections[K][number][]>();
    const missing = new Set<string>();
    for (const module of modules) {
      const cached = contentCache.get(cacheKey(module));
      if (cached) found.set(module.id, cached[section]);
      else missing.add(module.id);
    }
    if (missing.size) {
      for (const id of missing) found.set(id, []);
      for (const row of fetch([...missing])) found.get(row.moduleId)?.push(row);
    }
    return modules.map((module) => (found.get(module.id) ?? []) as ModuleSections[K]);
  }

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
      const cached = contentCache.get(cacheKey(head));
      if (cached) return cached;
      // Head and sections read in one snapshot, so a concurrent import cannot mix two versions.
      const content = repository.transaction(() => {
        const module = liveModule(slug);
        return { module, ...repository.sectionsOf(module.id) };
      });
      contentCache.set(cacheKey(content.module), content);
      return content;
    },

    listModules(query: { limit: number; cursor?: string | undefined; tag?: string | undefined }): ModulePage {
      const after = query.cursor === undefined ? '' : decodeCursor('modules', query.cursor, moduleCursorShape).slug;
      const rows = repository.listModules({ afterSlug: after, limit: query.limit + 1, tag: query.tag });
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      const endCursor = last ? encodeCursor('modules', { slug: last.slug }) : null;
      return { items, nextCursor: rows.length > query.limit ? endCursor : null, endCursor };
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

    takeawaysOfMany: (modules: readonly ModuleRecord[]) => sectionOfMany('takeaways', modules, repository.takeawaysOfMany),
    decksOfMany: (modules: readonly ModuleRecord[]) => sectionOfMany('flashcards', modules, repository.decksOfMany),
    cheatSheetRowsOfMany: (modules: readonly ModuleRecord[]) =>
      sectionOfMany('cheatSheetRows', modules, repository.cheatSheetRowsOfMany),
    revisionItemsOfMany: (modules: readonly ModuleRecord[]) =>
      sectionOfMany('revisionItems', modules, repository.revisionItemsOfMany),

    /** Live modules by id, in the order asked (null where missing or archived). */
    modulesByIds(ids: readonly string[]): (ModuleRecord | null)[] {
      const byId = new Map(repository.findModulesByIds([...new Set(ids)]).map((module) => [module.id, module]));
      return ids.map((id) => {
        const module = byId.get(id);
        return module && module.archivedAt === null ? module : null;
      });
    },

    /** Flashcards (archived included) with their modules, by id; two queries for any number of ids. */
    flashcardsByIds(ids: readonly string[]): Map<string, { card: FlashcardRecord; module: ModuleRecord }> {
      const cards = repository.findFlashcardsByIds([...new Set(ids)]);
      const modules = new Map(repository.findModulesByIds([...new Set(cards.map((card) => card.moduleId))]).map((m) => [m.id, m]));
      const found = new Map<string, { card: FlashcardRecord; module: ModuleRecord }>();
      for (const card of cards) {
        const module = modules.get(card.moduleId);
        if (module) found.set(card.id, { card, module });
      }
      return found;
    },

    /** Whether the store has never had a module (startup seeding). */
    isEmpty(): boolean {
      return repository.countAllModules() === 0;
    },
  };
}

export type ContentService = ReturnType<typeof createContentService>;
