import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { testConfig, type Config } from '../../src/config.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const seedPath = `${repoRoot}seed/networking.md`;
export const seedSource = () => readFileSync(seedPath, 'utf8');

/** A fresh app on its own in-memory database; optionally with the Networking seed imported. */
export async function buildTestApp(options: { seed?: boolean; config?: Partial<Config> } = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(options.config));
  await app.ready();
  if (options.seed) await app.content.importModule(seedSource(), 'markdown', { importedBy: 'test' });
  return app;
}
