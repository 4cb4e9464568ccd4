import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, seedSource } from '../helpers/app.js';

/**
 * Module heads (id, version, archived) are served from memory on the hot path. Another connection's commit (the
 * CLI, a second server) must be seen at once, and so must this process's own writes, without a table lookup per
 * read when nothing changed.
 */
let dir: string;
let apps: FastifyInstance[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-heads-'));
});
afterEach(async () => {
  for (const app of apps) await app.close();
  apps = [];
  rmSync(dir, { recursive: true, force: true });
});

const open = async (seed: boolean) => {
  const app = await buildTestApp({ seed, config: { databasePath: join(dir, 'mnemo.db') } });
  apps.push(app);
  return app;
};

describe('the in-memory module head', () => {
  it('serves repeated reads without reading the modules table', async () => {
    const app = await open(true);
    expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
    const before = app.database.stats.statements;
    for (let i = 0; i < 5; i++) expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
    expect(app.database.stats.statements - before).toBe(0);
  });

  it('sees another connection\'s commit on the next read: an archive, then a new version', async () => {
    const server = await open(true);
    const first = await server.inject('/v1/modules/networking');
    expect(first.json().version).toBe(1);

    const other = new Database(join(dir, 'mnemo.db'));
    other.prepare("UPDATE modules SET archived_at = '2026-11-29T00:00:00.000Z' WHERE slug = 'networking'").run();
    expect((await server.inject('/v1/modules/networking')).statusCode).toBe(404);
    other.prepare("UPDATE modules SET archived_at = NULL WHERE slug = 'networking'").run();
    other.close();
    expect((await server.inject('/v1/modules/networking')).statusCode).toBe(200);

    // A second app on the same file is a second connection, like the CLI: its import is seen at once.
    const cli = await open(false);
    await cli.content.importModule(seedSource().replace('What component implements Service VIPs (ClusterIP)?', 'Which component implements Service VIPs?'), 'markdown');
    const after = await server.inject('/v1/modules/networking');
    expect(after.json().version).toBe(2);
    expect(after.headers.etag).not.toBe(first.headers.etag);
  });

  it('sees this process\'s own archive, restore and import at once', async () => {
    const app = await open(true);
    await app.inject('/v1/modules/networking');
    await app.content.archiveModule('networking');
    expect((await app.inject('/v1/modules/networking')).statusCode).toBe(404);
    await app.content.restoreModule('networking');
    expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
    expect((await app.inject('/v1/modules/unknown-yet')).statusCode).toBe(404);
    await app.content.importModule(seedSource().replace('slug: networking', 'slug: unknown-yet'), 'markdown');
    expect((await app.inject('/v1/modules/unknown-yet')).statusCode).toBe(200);
  });
});
