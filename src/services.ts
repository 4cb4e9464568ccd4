import fp from 'fastify-plugin';
import { createAuthService, type AuthService } from './auth/service.js';
import { createChangesService, type ChangesService } from './changes/service.js';
import type { Config } from './config.js';
import { createSourceReader } from './content/module-source/source-reader.js';
import { createContentService, type ContentService } from './content/service.js';
import { repositoriesOf, type Repositories } from './db/repositories.js';
import { createLearningServices, type LearningConfig, type LearningServices } from './learning/services.js';
import { createSearchService, type SearchService } from './search/service.js';
import { createXapiService, type XapiService } from './xapi/service.js';

/** Every service of the application, over one connection. */
export interface Services {
  auth: AuthService;
  content: ContentService;
  changes: ChangesService;
  search: SearchService;
  learning: LearningServices;
  xapi: XapiService;
  /** Stops the source readers' workers; the connection is closed by its owner. */
  close(): Promise<void>;
}

export type ServicesConfig = Pick<Config, 'contentCacheEntries' | 'contentCacheBytes' | 'importParseTimeoutMs' | 'xapi'> & LearningConfig;

/**
 * Assembles the services once, for the server (the domain plugins decorate the app with these), the CLI and the
 * benchmark's import workers, so all three write the same things: the change feed and the search index follow
 * every content transaction wherever the import comes from. A new content listener is added here, and only here.
 */
export function createServices(repositories: Repositories, config: ServicesConfig, log: (message: string) => void = console.error): Services {
  const auth = createAuthService(repositories.auth);
  // Two workers, started on first use: imports, and renders of stored versions for reads (kept apart so reads
  // cannot queue ahead of, or refuse, an import).
  const sourceReader = createSourceReader({ timeoutMs: config.importParseTimeoutMs, onInternalError: log });
  const versionRenderer = createSourceReader({ timeoutMs: config.importParseTimeoutMs, onInternalError: log });
  const content = createContentService(repositories.content, {
    cacheEntries: config.contentCacheEntries,
    cacheBytes: config.contentCacheBytes,
    sourceReader,
    versionRenderer,
  });
  const changes = createChangesService(repositories.changes);
  const search = createSearchService(repositories.search, (moduleId) => content.sectionsOfWork(moduleId));
  content.addListener(changes.listener);
  content.addListener(search.listener);
  const xapi = createXapiService(repositories.xapi, config.xapi);
  // With an LRS configured, every answer's statement is queued in the answer's transaction (xapi/dispatcher.ts sends it).
  const learningConfig = { ...config, statementsQueued: config.xapi.lrs ? () => xapi.queued() : undefined };
  return {
    auth,
    content,
    changes,
    search,
    learning: createLearningServices(repositories.learning, content, changes.contentStampWork, auth, learningConfig),
    xapi,
    close: async () => void (await Promise.all([sourceReader.close(), versionRenderer.close()])),
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** What `createServices` built; each domain plugin exposes its part (`app.content`, `app.learning`, ...). */
    services: Services;
  }
}

/** Builds the services on the process's connection, before any domain plugin needs them. */
export const servicesPlugin = fp<{ config: ServicesConfig }>(
  async (app, { config }) => {
    const services = createServices(repositoriesOf(app.store), config, (message) => app.log.error({ err: message }, 'reading a module source failed'));
    app.decorate('services', services);
    app.addHook('onClose', () => services.close());
  },
  { name: 'mnemo-services', dependencies: ['mnemo-database'], fastify: '5.x' },
);
