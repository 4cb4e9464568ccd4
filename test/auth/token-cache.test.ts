import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createActors, createLearner, type Actors } from '../helpers/learners.js';
import { tempDir } from '../helpers/reliability.js';
import { ensureBuilt, runCli } from '../helpers/server-process.js';

/**
 * Tokens are checked from memory between changes to api_keys, and every way a key stops working must reach that
 * memory at once: a revocation or an erasure through the API, the CLI revoking a key from another process, and any
 * other connection deleting rows.
 */

const dir = tempDir('mnemo-token-cache-');
const databasePath = join(dir.path, 'mnemo.db');
let app: FastifyInstance;
let actors: Actors;
beforeAll(async () => {
  ensureBuilt();
  app = await buildTestApp({ seed: true, config: { databasePath } });
  actors = await createActors(app);
});
afterAll(async () => {
  await app.close();
  dir.remove();
});

// A learner's cheapest authenticated read; an admin's is the key list.
const me = (headers: Record<string, string>, url = '/v1/me/answers?limit=1') => app.inject({ url, headers });
const statementsOf = async (headers: Record<string, string>) => {
  const before = app.database.stats.driverStatements;
  expect((await me(headers)).statusCode).toBe(200);
  return app.database.stats.driverStatements - before;
};

async function newLearner(name: string) {
  const learner = await createLearner(app, actors.integration, name);
  const headers = bearer(learner.token);
  expect((await me(headers)).statusCode).toBe(200);
  return { ...learner, headers };
}

describe('token cache', () => {
  it('answers a known token without looking it up again', async () => {
    const { headers } = await createLearner(app, actors.integration, 'cached');
    const first = await statementsOf(headers);
    const second = await statementsOf(headers);
    // At least the key lookup is gone (the commit check of the connection is read once per synchronous run, so
    // how many of those a request makes depends on how its hooks interleave).
    expect(second).toBeLessThan(first);
  });

  it('forgets a key revoked through the API at once', async () => {
    const learner = await newLearner('revoked-by-api');
    const keys = await app.inject({ url: '/v1/keys', headers: actors.admin });
    for (const key of keys.json().items.filter((item: { userId: string | null }) => item.userId === learner.userId)) {
      expect((await app.inject({ method: 'DELETE', url: `/v1/keys/${key.id}`, headers: actors.admin })).statusCode).toBeLessThan(300);
    }
    expect((await me(learner.headers)).statusCode).toBe(401);
  });

  it('forgets the keys of a learner erased through the API (deleted by cascade)', async () => {
    const learner = await newLearner('erased-by-api');
    expect((await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(204);
    expect((await me(learner.headers)).statusCode).toBe(401);
  });

  it('forgets keys deleted by a cascade on its own connection (no other connection commits)', async () => {
    const learner = await newLearner('cascade-here');
    await expect(app.services.auth.authenticate(learner.headers.authorization)).resolves.toMatchObject({ userId: learner.userId });
    app.database.sqlite.prepare('DELETE FROM users WHERE id = ?').run(learner.userId);
    // Asked of the service itself: the learner routes would also refuse the token for its missing user.
    await expect(app.services.auth.authenticate(learner.headers.authorization)).rejects.toThrow(/unknown or has been revoked/);
  });

  it('forgets a key revoked by the CLI in another process', async () => {
    const created = runCli(['keys', 'create', '--role', 'admin', '--name', 'cli-made', '--json'], { DATABASE_PATH: databasePath });
    const key = JSON.parse(created.stdout) as { id: string; token: string };
    const headers = bearer(key.token);
    expect((await me(headers, '/v1/keys')).statusCode).toBe(200);
    expect((await me(headers, '/v1/keys')).statusCode).toBe(200);
    expect(runCli(['keys', 'revoke', key.id], { DATABASE_PATH: databasePath }).status).toBe(0);
    expect((await me(headers, '/v1/keys')).statusCode).toBe(401);
  });

  it('forgets keys deleted by any other connection', async () => {
    const learner = await newLearner('erased-elsewhere');
    const other = new Database(databasePath);
    try {
      other.pragma('foreign_keys = ON');
      other.prepare('DELETE FROM users WHERE id = ?').run(learner.userId);
    } finally {
      other.close();
    }
    expect((await me(learner.headers)).statusCode).toBe(401);
  });
});
