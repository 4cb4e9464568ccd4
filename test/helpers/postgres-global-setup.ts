import type { TestProject } from 'vitest/node';
import { redactUrl } from '../../src/lib/redact-url.js';
import { dropRunDatabases, newRunId, resolvePostgresServer } from './postgres-server.js';

/**
 * Resolves one PostgreSQL server per `vitest run` (see resolvePostgresServer for the order) and hands its admin URL
 * to the test files; each file then creates its own database on it. Throws rather than letting tests skip.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = performance.now();
  const server = await resolvePostgresServer();
  const runId = newRunId();
  console.log(
    `[postgres] ${server.source} server ${redactUrl(server.url)} ready in ${Math.round(performance.now() - started)} ms`,
  );
  project.provide('postgresUrl', server.url);
  project.provide('postgresRunId', runId);

  return async () => {
    try {
      const left = await dropRunDatabases(server.url, runId);
      if (left.length > 0) console.warn(`[postgres] dropped ${left.length} database(s) a test file left behind`);
    } finally {
      await server.stop();
    }
  };
}
