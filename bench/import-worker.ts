/**
 * Imports a share of the generated modules through the real import path (validation, rendering, search index,
 * versions, change feed). Run as a child process by dataset.ts, one per core: rendering Markdown is CPU-bound
 * and SQLite serialises the short write transactions (WAL + busy timeout).
 *
 * Usage: node --import tsx bench/import-worker.ts '<json ImportWorkerTask>'
 * Prints one JSON line per imported module: { index, slug, rareTerms }.
 */
import { testConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { createServices } from '../src/services.js';
import { createVocabulary, generateModule, type ModuleShape } from './text.js';
import { repositoriesOf } from '../src/db/repositories.js';
import { sqliteStore } from '../src/db/store.js';

export interface ImportWorkerTask {
  dbPath: string;
  seed: number;
  modules: number;
  shape: ModuleShape;
  worker: number;
  workers: number;
}

export interface ImportedModuleLine {
  index: number;
  slug: string;
  rareTerms: string[];
}

const task = JSON.parse(process.argv[2] ?? '{}') as ImportWorkerTask;
// Migrations were applied by the parent before it started the workers.
const database = openDatabase({ path: task.dbPath, synchronous: 'NORMAL', busyTimeoutMs: 60_000, migrate: false });
database.sqlite.pragma('synchronous = OFF');
try {
  // The services exactly as the server and the CLI assemble them: the change feed and the search index follow
  // every import inside its transaction. Default settings; no content cache (nothing is read back).
  const services = createServices(repositoriesOf(sqliteStore(database)), { ...testConfig(), contentCacheEntries: 0 });
  const service = services.content;

  const vocabulary = createVocabulary(task.seed);
  for (let index = task.worker; index < task.modules; index += task.workers) {
    const { input, rareTerms } = generateModule(task.seed, index, vocabulary, task.shape);
    await service.importModule(JSON.stringify(input), 'json', { importedBy: 'bench' });
    const line: ImportedModuleLine = { index, slug: input.slug, rareTerms };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  await services.close();
} finally {
  database.close();
}
