import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';
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
