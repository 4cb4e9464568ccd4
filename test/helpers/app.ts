import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';
import { commitChannel } from '../../src/db/postgres-commits.js';
import { createTestDatabase } from './postgres-server.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const seedPath = `${repoRoot}seed/networking.md`;
export const seedSource = () => readFileSync(seedPath, 'utf8');

/** The engine the suite runs on: `MNEMO_TEST_BACKEND=postgres` (the postgres vitest project) or SQLite. */
export const testBackend: 'sqlite' | 'postgres' = process.env.MNEMO_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';

/**
 * A fresh app on its own database (an in-memory SQLite one, or a new PostgreSQL database dropped when the app
 * closes); optionally with the Networking seed imported. A test that names a SQLite file gets that file.
 */
export async function buildTestApp(options: { seed?: boolean; config?: Partial<Config> } = {}): Promise<FastifyInstance> {
  let config = testConfig(options.config);
  const database = testBackend === 'postgres' && options.config?.databasePath === undefined ? await createTestDatabase() : undefined;
  if (database) config = { ...config, postgres: { url: database.url, poolMax: 4, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000 } };
  const app = await buildApp(config);
  if (database) app.addHook('onClose', () => database.drop());
  await app.ready();
  if (options.seed) await app.content.importModule(seedSource(), 'markdown', { importedBy: 'test' });
  return app;
}

/**
 * Waits until the app has heard of every commit made so far (a no-op on SQLite, whose data_version is read
 * synchronously). PostgreSQL delivers the commit triggers' notifications to the app's listener asynchronously, in
 * commit order: a cache filled before the notification of an earlier commit arrives is dropped when it does. A
 * notification of our own, sent now and seen by the listener, comes after all of them.
 */
export async function settleCommits(app: FastifyInstance): Promise<void> {
  const { store } = app;
  if (store.engine === 'sqlite') return;
  const marker = `test-barrier-${randomUUID()}`;
  const source = store.commits.sourceFor([marker], () => false);
  const before = source.version();
  await store.postgres.pool.query('SELECT pg_notify($1, $2)', [commitChannel, marker]);
  const deadline = Date.now() + 10_000;
  while (source.version() === before) {
    if (Date.now() > deadline) throw new Error('the commit listener did not hear a notification within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
