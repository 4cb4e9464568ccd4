import { z } from 'zod';
import type { Work } from '../db/work.js';
import { AppError } from '../errors.js';
import { decodeCursor } from '../lib/cursor.js';
import { keysetPage, type Page } from '../lib/page.js';
import { LRUCache } from 'lru-cache';
import {
  createModuleImporter,
  type ContentListener,
  type ImportChanges,
  type ImportOptions,
  type ImportResult,
  type VersionIds,
} from './import-module.js';
import { slugPattern, sourceLimits, type NormalizedModule } from './module-source/module-input.js';
import type { ModuleFormat } from './module-source/parse-module-source.js';
import type { SourceReader } from './module-source/source-reader.js';
import { toJsonSource, toMarkdownSource } from './module-source/serialize.js';
import type { FlashcardRecord, ModuleContent, ModuleRecord, ModuleSections } from './records.js';
import type { ContentRepository, ModuleHead } from './repository.js';
import { includingArchived, isVisible, liveOnly, type Visibility } from './visibility.js';

export interface ContentServiceOptions {
  /** Modules (with their sections) kept in memory, keyed by id and version. */
  cacheEntries: number;
  /** Their approximate total size: one version can hold megabytes of text in three renderings. */
  cacheBytes: number;
  /** Reads module sources for imports (a worker thread with a deadline). */
  sourceReader: Pick<SourceReader, 'read'>;
  /**
   * Renders stored versions for reads: a reader of its own, so that anonymous reads of old versions can neither
   * fill the import queue nor delay an import.
   */
  versionRenderer: Pick<SourceReader, 'render'>;
}

export type ModulePage = Page<ModuleRecord>;

export interface VersionSummary {
  version: number;
  createdAt: string;
  importedBy: string | null;
  changes: ImportChanges;
}

const moduleCursorShape = { slug: z.string().max(64) };

/**
 * Content reads, imports and the module lifecycle (archive, restore, versions, export). REST routes, GraphQL
 * resolvers and the learning services all call this; none touches the repository. Every read of a module by slug or
 * id takes the caller's Visibility (content/visibility.ts) and applies it through `visible`; omitted, it is
 * `liveOnly`, so forgetting it can hide an archived module but never reveal one.
 */
export function createContentService(repository: ContentRepository, options: ContentServiceOptions) {
  const listeners: ContentListener[] = [];
  const importer = createModuleImporter(repository, listeners, options.sourceReader.read);
  // Keyed by version: an import bumps the version, so a stale entry can never be served; no TTL, no invalidation.
  const contentCache = new LRUCache<string, ModuleContent>({
    max: Math.max(1, options.cacheEntries),
    maxSize: Math.max(1, options.cacheBytes),
    sizeCalculation: textBytes,
  });
  const cacheKey = (module: Pick<ModuleRecord, 'id' | 'version'>) => `${module.id}:${module.version}`;
  const versionBuilds = new Map<string, Promise<ModuleContent>>();

  /**
   * One section of many modules (GraphQL loaders): from the content cache where the cached version is current,
   * the rest with one query for the whole batch, grouped back by module id.
   */
  async function sectionOfMany<K extends keyof ModuleSections>(
    section: K,
    modules: readonly ModuleRecord[],
    fetch: (moduleIds: string[]) => Work<ModuleSections[K]>,
  ): Promise<ModuleSections[K][]> {
    const found = new Map<string, ModuleSections[K][number][]>();
    const missing = new Set<string>();
    for (const module of modules) {
      const cached = contentCache.get(cacheKey(module));
      if (cached) found.set(module.id, cached[section]);
      else missing.add(module.id);
    }
    if (missing.size) {
      for (const id of missing) found.set(id, []);
      for (const row of await repository.run(fetch([...missing]))) found.get(row.moduleId)?.push(row);
    }
    return modules.map((module) => (found.get(module.id) ?? []) as ModuleSections[K]);
  }

  /** A module found by slug or id, if the visibility includes it: the one place the rule is applied. */
  const visible = <M extends { archivedAt: string | null }>(module: M | undefined, visibility: Visibility): M | undefined =>
    module && isVisible(module, visibility) ? module : undefined;

  const moduleNotFound = (slug: string) =>
    new AppError('MNEMO_CONTENT_MODULE_NOT_FOUND', `no module with slug ${JSON.stringify(slug.length > 80 ? `${slug.slice(0, 80)}...` : slug)}`);

  // A string that no import could have stored is not looked up: the head cache remembers misses, and GraphQL's
  // `module(slug:)` takes any string, so a 250 KB "slug" per request filled memory until the process died.
  const couldBeSlug = (slug: string) => slug.length <= sourceLimits.slugLength && slugPattern.test(slug);

  function* findModuleHead(slug: string, visibility: Visibility): Work<ModuleHead | undefined> {
    return couldBeSlug(slug) ? visible(yield* repository.findModuleHead(slug), visibility) : undefined;
  }

  function* getModuleHeadWork(slug: string, visibility: Visibility = liveOnly): Work<ModuleHead> {
    const head = yield* findModuleHead(slug, visibility);
    if (!head) throw moduleNotFound(slug);
    return head;
  }

  function* visibleModule(slug: string, visibility: Visibility = liveOnly): Work<ModuleRecord> {
    const module = couldBeSlug(slug) ? visible(yield* repository.findModuleBySlug(slug), visibility) : undefined;
    if (!module) throw moduleNotFound(slug);
    return module;
  }

  function* sectionsOfWork(moduleId: string): Work<ModuleSections> {
    return yield* repository.sectionsOf(moduleId);
  }

  function* modulesByIdsWork(ids: readonly string[], visibility: Visibility = liveOnly): Work<(ModuleRecord | null)[]> {
    const byId = new Map((yield* repository.findModulesByIds([...new Set(ids)])).map((module) => [module.id, module]));
    return ids.map((id) => visible(byId.get(id), visibility) ?? null);
  }

  // Each cached version's deck by card id, built on first use and dropped with the version.
  const deckIndexes = new WeakMap<ModuleContent, Map<string, FlashcardRecord>>();

  function deckIndexOf(content: ModuleContent): Map<string, FlashcardRecord> {
    let cards = deckIndexes.get(content);
    if (!cards) {
      cards = new Map(content.flashcards.map((card) => [card.id, card]));
      deckIndexes.set(content, cards);
    }
    return cards;
  }

  function* liveFlashcardsWork(
    refs: readonly { flashcardId: string; moduleSlug: string }[],
  ): Work<Map<string, { card: FlashcardRecord; module: ModuleRecord }>> {
    const found = new Map<string, { card: FlashcardRecord; module: ModuleRecord }>();
    // Cards of a version in memory come from its deck; the others are read by id (not the whole module: a
    // learner's queue may span many modules that nobody else reads).
    const unread: string[] = [];
    // A queue holds many cards of few modules: each module's head is looked up once.
    const heads = new Map<string, ModuleHead | undefined>();
    for (const ref of refs) {
      let head = heads.get(ref.moduleSlug);
      if (!heads.has(ref.moduleSlug)) heads.set(ref.moduleSlug, (head = yield* findModuleHead(ref.moduleSlug, liveOnly)));
      if (!head) continue;
      const content = contentCache.get(cacheKey(head));
      const card = content && deckIndexOf(content).get(ref.flashcardId);
      if (content && card) found.set(card.id, { card, module: content.module });
      else if (!content) unread.push(ref.flashcardId);
    }
    if (unread.length) {
      const cards = yield* repository.findLiveFlashcardsByIds(unread);
      const modules = new Map((yield* repository.findModulesByIds([...new Set(cards.map((card) => card.moduleId))])).map((module) => [module.id, module]));
      for (const card of cards) {
        const module = visible(modules.get(card.moduleId), liveOnly);
        if (module) found.set(card.id, { card, module });
      }
    }
    return found;
  }

  // Works are declared once and given the call's data: a generator function written inline in a hot method is a
  // new function (with its own prototype) on every call, which cost more than the statements it runs.
  function* moduleContentWork(slug: string, visibility: Visibility): Work<ModuleContent> {
    const content = couldBeSlug(slug) ? yield* repository.findModuleContent(slug) : undefined;
    if (!content || !visible(content.module, visibility)) throw moduleNotFound(slug);
    return content;
  }

  function* versionsWork(slug: string, visibility: Visibility, revealImporter: boolean): Work<VersionSummary[]> {
    const module = yield* visibleModule(slug, visibility);
    return (yield* repository.listVersions(module.id)).map((row) => ({
      ...row,
      importedBy: revealImporter ? row.importedBy : null,
      changes: JSON.parse(row.changes) as ImportChanges,
    }));
  }

  function* exportWork(slug: string, format: ModuleFormat, visibility: Visibility): Work<string> {
    const module = yield* visibleModule(slug, visibility);
    const { source } = yield* versionSource(module, module.version);
    return format === 'json' ? toJsonSource(source) : toMarkdownSource(source);
  }

  function* flashcardWork(id: string, visibility: Visibility): Work<{ card: FlashcardRecord; module: ModuleRecord }> {
    const card = yield* repository.findFlashcardById(id);
    const module = card && visible(yield* repository.findModuleById(card.moduleId), visibility);
    if (!card || !module) throw new AppError('MNEMO_CONTENT_FLASHCARD_NOT_FOUND', `no flashcard with id "${id}"`);
    return { card, module };
  }

  /** The normalised source a version was imported from, and the ids its items were stored under. */
  function* versionSource(module: ModuleRecord, version: number): Work<{ source: NormalizedModule; ids: VersionIds | null; createdAt: string }> {
    const row = yield* repository.findVersion(module.id, version);
    if (!row) throw new AppError('MNEMO_CONTENT_VERSION_NOT_FOUND', `module "${module.slug}" has no version ${version}`);
    return { source: JSON.parse(row.source) as NormalizedModule, ids: row.ids ? (JSON.parse(row.ids) as VersionIds) : null, createdAt: row.createdAt };
  }

  function setArchived(slug: string, archived: boolean): Promise<{ slug: string; version: number; archived: boolean }> {
    return repository.write(function* () {
      const module = yield* visibleModule(slug, includingArchived);
      if ((module.archivedAt !== null) !== archived) {
        yield* repository.setArchived(module.id, archived ? new Date().toISOString() : null);
        for (const listener of listeners) {
          if (archived) yield* listener.moduleArchived(module);
          else yield* listener.moduleRestored(module);
        }
      }
      return { slug: module.slug, version: module.version, archived };
    });
  }

  /** Rendered in the version renderer's worker: a large version takes seconds, which must not stall the server. */
  async function buildVersionContent(module: ModuleRecord, version: number, key: string): Promise<ModuleContent> {
    const { source, ids, createdAt } = await repository.run(versionSource(module, version));
    const rendered = await options.versionRenderer.render(source);
    const idOf = (list: keyof VersionIds, index: number) => ids?.[list][index] ?? `${module.id}:v${version}:${list}:${index}`;
    const content: ModuleContent = {
      module: {
        ...module,
        title: rendered.title,
        summary: rendered.summary,
        tags: source.tags,
        version,
        contentHash: rendered.hash,
        cheatSheetColumns: rendered.cheatSheet?.columns ?? null,
        updatedAt: createdAt,
      },
      takeaways: rendered.takeaways.map((item, position) => ({ id: idOf('takeaways', position), moduleId: module.id, position, ...item })),
      flashcards: rendered.flashcards.map((card, position) => ({ id: idOf('flashcards', position), moduleId: module.id, position, archivedAt: null, ...card })),
      cheatSheetRows: (rendered.cheatSheet?.rows ?? []).map((cells, position) => ({ id: idOf('cheatSheetRows', position), moduleId: module.id, position, cells })),
      revisionItems: rendered.revisionItems.map((item, position) => ({ id: idOf('revisionItems', position), moduleId: module.id, position, ...item })),
    };
    contentCache.set(key, content);
    return content;
  }

  return {
    /** Registers a writer (search index, change feed) that must follow content inside its transactions. */
    addListener(listener: ContentListener): void {
      listeners.push(listener);
    },

    importModule(source: string, format: ModuleFormat, importOptions?: ImportOptions): Promise<ImportResult> {
      return importer(source, format, importOptions);
    },

    /** Hides a module from lists and reads; its flashcards, answers and versions are kept. */
    archiveModule: (slug: string) => setArchived(slug, true),
    restoreModule: (slug: string) => setArchived(slug, false),

    /** The module's current head (one indexed lookup); 404 when missing or not visible. */
    getModule: (slug: string, visibility: Visibility = liveOnly): Promise<ModuleRecord> => repository.run(visibleModule(slug, visibility)),
    /** `getModule` as a work, for another service's snapshot or transaction. */
    getModuleWork: visibleModule,

    /**
     * Id and current version of a visible module: one three-column lookup, what every cached read starts with, and
     * what a learner's `module` filter resolves to. Served from memory between commits (no statement) except
     * inside a transaction, where the head cache is not consulted.
     */
    getModuleHead: (slug: string, visibility: Visibility = liveOnly): Promise<ModuleHead> => repository.run(getModuleHeadWork(slug, visibility)),
    /** `getModuleHead` as a work, for another service's snapshot or transaction. */
    getModuleHeadWork,

    /** The whole module, served from memory while its version is current. */
    async getModuleContent(slug: string, visibility: Visibility = liveOnly): Promise<ModuleContent> {
      const head = await repository.run(getModuleHeadWork(slug, visibility));
      const cached = contentCache.get(cacheKey(head));
      if (cached) return cached;
      // Head and sections read in one snapshot, so a concurrent import cannot mix two versions.
      const content = await repository.read(() => moduleContentWork(slug, visibility));
      contentCache.set(cacheKey(content.module), content);
      return content;
    },

    /** Live modules in slug order (a list: archived modules are left out for every caller). */
    async listModules(query: { limit: number; cursor?: string | undefined; tag?: string | undefined }): Promise<ModulePage> {
      const after = query.cursor === undefined ? '' : decodeCursor('modules', query.cursor, moduleCursorShape).slug;
      return repository.run(keysetPage('modules', query.limit, (limit) => repository.listModules({ afterSlug: after, limit, tag: query.tag }), (module) => ({ slug: module.slug })));
    },

    countModules(tag?: string): Promise<number> {
      return repository.run(repository.countModules(tag));
    },

    /**
     * Every version of a module. History is content, readable by whoever may read the module; who imported a
     * version (an admin key's name, `cli`, `seed`) is not: `importedBy` is null unless `revealImporter` (admins).
     */
    listVersions(slug: string, visibility: Visibility = liveOnly, revealImporter = false): Promise<VersionSummary[]> {
      return repository.run(versionsWork(slug, visibility, revealImporter));
    },

    /** A past (or the current) version's content, rendered from the source it was imported from. */
    async getVersionContent(slug: string, version: number, visibility: Visibility = liveOnly): Promise<ModuleContent> {
      const module = await repository.run(visibleModule(slug, visibility));
      const key = `${module.id}:v${version}`;
      const cached = contentCache.get(key);
      if (cached) return cached;
      // Concurrent requests for one version share one build: reading and parsing the stored source included.
      let building = versionBuilds.get(key);
      if (!building) {
        building = buildVersionContent(module, version, key).finally(() => versionBuilds.delete(key));
        versionBuilds.set(key, building);
      }
      return building;
    },

    /** The current version as a source file that re-imports as `unchanged`. */
    exportModule(slug: string, format: ModuleFormat, visibility: Visibility = liveOnly): Promise<string> {
      return repository.run(exportWork(slug, format, visibility));
    },

    /** A flashcard by id with its module, archived cards included (history refers to them). */
    getFlashcard(id: string, visibility: Visibility = liveOnly): Promise<{ card: FlashcardRecord; module: ModuleRecord }> {
      return repository.run(flashcardWork(id, visibility));
    },

    takeawaysOfMany: (modules: readonly ModuleRecord[]) => sectionOfMany('takeaways', modules, repository.takeawaysOfMany),
    decksOfMany: (modules: readonly ModuleRecord[]) => sectionOfMany('flashcards', modules, repository.decksOfMany),
    cheatSheetRowsOfMany: (modules: readonly ModuleRecord[]) => sectionOfMany('cheatSheetRows', modules, repository.cheatSheetRowsOfMany),
    revisionItemsOfMany: (modules: readonly ModuleRecord[]) => sectionOfMany('revisionItems', modules, repository.revisionItemsOfMany),

    /** Sections of one module as stored now. */
    sectionsOf: (moduleId: string): Promise<ModuleSections> => repository.run(sectionsOfWork(moduleId)),
    /** `sectionsOf` as a work: the search index rebuilds from these inside the restoring transaction. */
    sectionsOfWork,

    /** Modules by id, in the order asked: null where missing or not visible (a flashcard's module, progress rows). */
    modulesByIds: (ids: readonly string[], visibility: Visibility = liveOnly): Promise<(ModuleRecord | null)[]> =>
      repository.run(modulesByIdsWork(ids, visibility)),
    /** `modulesByIds` as a work, for another service's snapshot or transaction. */
    modulesByIdsWork,

    /**
     * Live flashcards with their modules, from the current versions in memory (a study queue's cards): a card no
     * longer in its module's deck, or whose module is no longer live, is left out. Module heads come from memory
     * outside a transaction only; run inside one, each ref costs a head lookup.
     */
    liveFlashcards: (refs: readonly { flashcardId: string; moduleSlug: string }[]): Promise<Map<string, { card: FlashcardRecord; module: ModuleRecord }>> =>
      repository.run(liveFlashcardsWork(refs)),
    /** `liveFlashcards` as a work, for another service's commit-cached work or snapshot. */
    liveFlashcardsWork,

    /** Whether the store has never had a module (startup seeding). */
    async isEmpty(): Promise<boolean> {
      return (await repository.run(repository.countAllModules())) === 0;
    },
  };
}

export type ContentService = ReturnType<typeof createContentService>;

/** Two bytes per character of every string in a value (V8 may store less): the text is nearly all of a module. */
function textBytes(value: unknown): number {
  let total = 1;
  const visit = (item: unknown): void => {
    if (typeof item === 'string') total += item.length * 2;
    else if (Array.isArray(item)) item.forEach(visit);
    else if (item !== null && typeof item === 'object') Object.values(item).forEach(visit);
  };
  visit(value);
  return total;
}
