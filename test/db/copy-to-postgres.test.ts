import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { copyToPostgres, CopyRefused } from '../../src/db/copy-to-postgres.js';
import { openPostgres, type PostgresHandle } from '../../src/db/postgres.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';
import { useTestDatabase } from '../helpers/postgres-server.js';

const target = useTestDatabase();
const dir = mkdtempSync(join(tmpdir(), 'mnemo-copy-'));
let source: FastifyInstance;
let actors: Actors;
let pool: PostgresHandle;

beforeAll(async () => {
  source = await buildTestApp({ seed: true, config: { databasePath: join(dir, 'mnemo.db') } });
  actors = await createActors(source);
  const early = new Date(Date.now() - 3 * 86_400_000).toISOString();
  // In order, a late one (a replay with snapshots), and a batch: every derived table gets rows.
  for (const [index, card] of actors.deck.slice(0, 4).entries()) {
    for (let round = 0; round < 18; round++) {
      const answeredAt = new Date(Date.now() - (18 - round) * 3_600_000 - index * 1000).toISOString();
      await source.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(card, { answeredAt, rating: 1 + (round % 4) }) });
    }
  }
  await source.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!, { answeredAt: early }) });
  pool = await openPostgres({ url: target.url, poolMax: 2, statementTimeoutMs: 60_000, connectTimeoutMs: 5000 });
});

afterAll(async () => {
  await pool?.close();
  await source?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('copy-to PostgreSQL', () => {
  it('copies every table with its ids, and the checksums of both sides agree', async () => {
    const report = await copyToPostgres(source.database, pool.pool, { force: false });
    const rows = Object.fromEntries(report.map((table) => [table.table, table.rows]));
    expect(rows).toMatchObject({ modules: 1, users: 1, answers: 73, api_keys: 3 });
    for (const table of ['flashcards', 'card_states', 'card_state_snapshots', 'changes', 'search_index', 'module_versions']) expect(rows[table], table).toBeGreaterThan(0);
    // The feed continues after the copied numbers instead of reusing them.
    const next = await pool.pool.query<{ seq: string }>(`INSERT INTO changes (entity, entity_id, module_slug, op, version, created_at) VALUES ('module', 'x', 'x', 'upsert', 1, 'x') RETURNING seq`);
    expect(Number(next.rows[0]!.seq)).toBe(rows.changes! + 1);
    await pool.pool.query(`DELETE FROM changes WHERE entity_id = 'x'`);
  });

  it('refuses a target that holds rows, and replaces them with --force', async () => {
    await expect(copyToPostgres(source.database, pool.pool, { force: false })).rejects.toBeInstanceOf(CopyRefused);
    const report = await copyToPostgres(source.database, pool.pool, { force: true });
    expect(report.find((table) => table.table === 'answers')?.rows).toBe(73);
  });

  it('a server on the copy serves the same content, keys, history and card states', async () => {
    const copy = await buildApp({ ...testConfig(), postgres: { url: target.url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 5000 } });
    try {
      for (const url of ['/v1/modules/networking', '/v1/modules/networking/flashcards', '/v1/me/answers?limit=100', '/v1/me/study', '/v1/me/progress', '/v1/changes']) {
        const [before, after] = await Promise.all([source, copy].map((app) => app.inject({ url, headers: actors.learner.headers })));
        expect(after!.statusCode, url).toBe(200);
        expect(after!.json(), url).toEqual(before!.json());
      }
      const search = await Promise.all([source, copy].map((app) => app.inject({ url: '/v1/search?q=handshake' })));
      expect(search[1]!.json().items.map((hit: { id: string }) => hit.id).sort()).toEqual(search[0]!.json().items.map((hit: { id: string }) => hit.id).sort());
    } finally {
      await copy.close();
    }
  });
});
