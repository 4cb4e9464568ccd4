import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { canonicalValue } from '../../src/db/copy-to-postgres.js';
import { redactUrl } from '../../src/lib/redact-url.js';
import { buildTestApp, repoRoot } from '../helpers/app.js';
import { answer, createActors, createLearner, type Actors, type Learner } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres-server.js';
import { ensureBuilt } from '../helpers/server-process.js';

/**
 * `npm run cli -- copy-to postgres://...`, run as the built CLI process on a SQLite file that a server (the app
 * here, in this process) keeps serving and writing to. Engine-independent (vitest.config.ts): it opens both engines
 * itself, so it runs once.
 */

const dir = mkdtempSync(join(tmpdir(), 'mnemo-copy-to-'));
const databasePath = join(dir, 'mnemo.db');
const children = new Set<ChildProcess>();
let source: FastifyInstance;
let sqlite: Database.Database;
let actors: Actors;
let writer: Learner;
let target: TestDatabase;
let admin: pg.Client;

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The built CLI, asynchronously (the app in this process keeps serving while it runs); DATABASE_URL never inherited. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { DATABASE_URL: _url, DATABASE_PATH: _path, ...inherited } = process.env;
  const started = performance.now();
  const child = spawn(process.execPath, [join(repoRoot, 'dist/cli/main.js'), ...args], {
    cwd: repoRoot,
    env: { ...inherited, DATABASE_PATH: databasePath, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.once('close', (status) => {
      children.delete(child);
      resolve({ status, stdout, stderr, ms: Math.round(performance.now() - started) });
    }),
  );
}

/** Per-table row counts the CLI printed (`  table  N rows  sha256 ...`). */
function reportedCounts(stdout: string): Record<string, number> {
  return Object.fromEntries([...stdout.matchAll(/^ {2}(\w+)\s+(\d+) rows {2}sha256 [0-9a-f]{16}$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

interface TableShape {
  name: string;
  columns: { name: string; type: string }[];
}

/** The target's tables and their stored columns (the generated search document left out), read from its catalog. */
async function targetTables(): Promise<TableShape[]> {
  const { rows } = await admin.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
      WHERE c.table_schema = 'public' AND c.is_generated = 'NEVER' ORDER BY c.table_name, c.ordinal_position`,
  );
  const tables = new Map<string, TableShape>();
  for (const row of rows) {
    const table = tables.get(row.table_name) ?? { name: row.table_name, columns: [] };
    table.columns.push({ name: row.column_name, type: row.data_type });
    tables.set(row.table_name, table);
  }
  return [...tables.values()];
}

/** Counts, and an md5 of every row's text (PostgreSQL's own rendering): changes when any stored value does. */
async function fingerprint(): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const table of await targetTables()) {
    const { rows } = await admin.query<{ n: string; digest: string }>(
      `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS digest FROM "${table.name}" t`,
    );
    result[table.name] = `${rows[0]!.n} ${rows[0]!.digest}`;
  }
  return result;
}

/**
 * Every row of every table on both sides, compared value by value (not with the copy's own checksum): ordered by
 * all columns (NULLs first, as SQLite sorts them), PostgreSQL's bigint text turned back into numbers.
 */
async function expectSameRows(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await targetTables()) {
    const list = table.columns.map((column) => `"${column.name}"`).join(', ');
    const order = table.columns.map((_, index) => `${index + 1}`);
    const expected = sqlite.prepare(`SELECT ${list} FROM "${table.name}" ORDER BY ${order.join(', ')}`).raw().all() as unknown[][];
    const copied = await admin.query<unknown[]>({ text: `SELECT ${list} FROM "${table.name}" ORDER BY ${order.map((column) => `${column} NULLS FIRST`).join(', ')}`, rowMode: 'array' });
    const bigints = table.columns.map((column) => column.type === 'bigint');
    const normalised = copied.rows.map((row) => row.map((value, index) => (bigints[index] && value !== null ? Number(value) : value)));
    expect(normalised.length, table.name).toBe(expected.length);
    expect(normalised, table.name).toEqual(expected);
    counts[table.name] = expected.length;
  }
  return counts;
}

const count = async (query: string) => Number((await admin.query<{ n: string }>(query)).rows[0]!.n);

async function postBatch(learner: Learner, answers: unknown[]) {
  const response = await source.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: learner.headers, payload: { answers } });
  expect(response.statusCode).toBe(200);
  expect(response.json().results.every((result: { status: string }) => result.status === 'created')).toBe(true);
}

beforeAll(async () => {
  ensureBuilt();
  // The "running server": an app on the SQLite file (SQLite in either project, since it names a file).
  source = await buildTestApp({ seed: true, config: { databasePath } });
  sqlite = source.database.sqlite;
  actors = await createActors(source);
  const hour = 3_600_000;
  // In order, then one late answer (a replay that writes snapshots): every learner table gets rows.
  for (const [index, card] of actors.deck.slice(0, 4).entries()) {
    for (let round = 0; round < 18; round++) {
      const answeredAt = new Date(Date.now() - (18 - round) * hour - index * 1000).toISOString();
      const response = await source.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(card, { answeredAt, rating: 1 + (round % 4), durationMs: 1234 + round }) });
      expect(response.statusCode).toBe(201);
    }
  }
  const late = answer(actors.deck[0]!, { answeredAt: new Date(Date.now() - 3 * 86_400_000).toISOString(), response: 'tab\there "quoted" \\ back, ünïcödé, 🦀, 𝔘, \u0001' });
  expect((await source.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: late })).statusCode).toBe(201);
  // More learners (one with a display name outside ASCII), and enough answers for many INSERT batches.
  const named = await source.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'ünï-learner ✓', displayName: 'Zoë 🦀 Ärger' } });
  expect(named.statusCode).toBe(201);
  const start = Date.now() - 10 * 86_400_000;
  for (let learnerIndex = 0; learnerIndex < 4; learnerIndex++) {
    const learner = await createLearner(source, actors.integration, `bulk-${learnerIndex}-${randomUUID()}`);
    for (let batch = 0; batch < 4; batch++) {
      const answers = Array.from({ length: 500 }, (_, index) => {
        const at = start + (batch * 500 + index) * 60_000;
        return answer(actors.deck[index % actors.deck.length]!, { answeredAt: new Date(at).toISOString(), rating: 1 + ((index * 7) % 4), ...(index % 3 ? { durationMs: index } : {}) });
      });
      await postBatch(learner, answers);
    }
  }
  writer = await createLearner(source, actors.integration, `writer-${randomUUID()}`);
  // A revoked key and an archived module: NULL and non-NULL timestamps, both change operations.
  const spare = await source.inject({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', name: 'spare' } });
  expect((await source.inject({ method: 'DELETE', url: `/v1/keys/${spare.json().id}`, headers: actors.admin })).statusCode).toBeLessThan(300);
  const extra = await source.inject({ method: 'POST', url: '/v1/admin/modules', headers: { ...actors.admin, 'content-type': 'application/json' }, payload: moduleSource('copy-archived') });
  expect(extra.statusCode).toBe(201);
  expect((await source.inject({ method: 'DELETE', url: '/v1/admin/modules/copy-archived', headers: actors.admin })).statusCode).toBe(200);
  // xAPI: every answer's statement queued (a backfill), one parked, and the delivery record: the outbox tables get rows.
  expect((await source.services.xapi.backfill(undefined)).queued).toBeGreaterThan(0);
  const now = new Date().toISOString();
  sqlite.prepare(`UPDATE xapi_outbox SET parked_at = ?, last_error = 'LRS refused the statement (400): bad' WHERE answer_id = (SELECT min(answer_id) FROM xapi_outbox)`).run(now);
  sqlite.prepare(`INSERT INTO xapi_delivery (id, delivered, last_error, last_error_at) VALUES (1, 12, 'LRS answered 503: busy', ?)`).run(now);

  target = await createTestDatabase();
  admin = new pg.Client({ connectionString: target.url });
  await admin.connect();
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await admin?.end().catch(() => {});
  await source?.close();
  await target?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** A second module (archived in the source): its source as JSON, the slug given. */
const moduleSource = (slug: string) => JSON.stringify(generatedModule(slug, 3, { title: `Module ${slug} ✓ «ünïcödé»` }));

describe('copy-to: refusals and failures, as the CLI reports them', () => {
  it('explains a missing or wrong URL, DATABASE_URL set, and a missing source file, with non-zero exit codes', async () => {
    expect(await cli(['copy-to'])).toMatchObject({ status: 2, stdout: '', stderr: expect.stringContaining('copy-to needs one postgres:// or postgresql:// URL') });
    expect(await cli(['copy-to', 'mysql://root:pw@db/x'])).toMatchObject({ status: 2, stderr: expect.stringContaining('(got mysql://root:***@db/x)') });
    const both = await cli(['copy-to', target.url], { DATABASE_URL: target.url });
    expect(both).toMatchObject({ status: 2, stderr: expect.stringContaining('unset DATABASE_URL') });
    const missing = join(dir, 'missing.db');
    expect(await cli(['copy-to', target.url], { DATABASE_PATH: missing })).toMatchObject({ status: 1, stderr: expect.stringContaining(`no database at ${missing}`) });
    expect(await count(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`)).toBe(0);
  });

  it("refuses another application's database (tables that are not mnemo's) before migrating anything into it", async () => {
    const other = await createTestDatabase();
    const client = new pg.Client({ connectionString: other.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE invoices (id integer PRIMARY KEY)');
      const result = await cli(['copy-to', other.url]);
      expect(result).toMatchObject({ status: 2, stdout: '', stderr: expect.stringContaining("holds tables that are not mnemo's (invoices)") });
      const left = await client.query<{ name: string }>(`SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`);
      expect(left.rows.map((row) => row.name)).toEqual(['public.invoices']);
    } finally {
      await client.end();
      await other.drop();
    }
  });

  it('names an unreachable target with its password redacted', async () => {
    const unreachable = 'postgres://mnemo:s3cret-copy-pw@127.0.0.1:1/mnemo';
    const result = await cli(['copy-to', unreachable]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`cannot open the target ${redactUrl(unreachable)} (nothing was copied)`);
    expect(result.stderr).toContain('postgres://mnemo:***@127.0.0.1:1/mnemo');
    expect(result.stdout + result.stderr).not.toContain('s3cret-copy-pw');
  });
});

describe('copy-to a PostgreSQL database', () => {
  let copied: Record<string, number>;

  it('copies every table with its ids from one snapshot while the server keeps writing, verified by counts and checksums', async () => {
    const before = Number((sqlite.prepare('SELECT count(*) FROM answers').pluck().get() as number));
    const copy = cli(['copy-to', target.url]);
    let done = false;
    void copy.then(() => (done = true));
    // The server answers throughout: each write is a commit the copy's snapshot may or may not include.
    let written = 0;
    while (!done) {
      const card = actors.deck[written % actors.deck.length]!;
      const response = await source.inject({ method: 'POST', url: '/v1/me/answers', headers: writer.headers, payload: answer(card) });
      expect(response.statusCode).toBe(201);
      written++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const result = await copy;
    console.log(`copy-to: ${result.ms} ms for ${before} answers while ${written} answers were written`);
    expect(result.stderr).toContain(`mnemo: copying to ${redactUrl(target.url)}`);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('Every table has the same rows on both sides');
    expect(result.stdout).toContain('back it up with pg_dump');

    copied = reportedCounts(result.stdout);
    const tables = (await targetTables()).map((table) => table.name);
    expect(Object.keys(copied).sort()).toEqual(tables.sort());
    for (const table of tables) expect(await count(`SELECT count(*) AS n FROM "${table}"`), table).toBe(copied[table]);
    expect(copied).toMatchObject({ modules: 2, api_keys: 9 });
    for (const table of tables) expect(copied[table], table).toBeGreaterThan(0);
    // A snapshot: answers written after it are not in the copy, yet the copy verified, and every card state (copied
    // after the answers) points at an answer that was copied.
    const after = Number(sqlite.prepare('SELECT count(*) FROM answers').pluck().get());
    expect(copied.answers).toBeGreaterThanOrEqual(before);
    expect(copied.answers).toBeLessThan(after);
    expect(
      await count(`SELECT count(*) AS n FROM card_states s WHERE NOT EXISTS (SELECT 1 FROM answers a WHERE a.user_id = s.user_id AND a.client_answer_id = s.last_client_answer_id)`),
    ).toBe(0);
    // Ids kept: every copied answer is the source's, with the same id.
    const ids = (await admin.query<{ id: string }>('SELECT id FROM answers ORDER BY id')).rows.map((row) => row.id);
    const sourceIds = new Set(sqlite.prepare('SELECT id FROM answers').pluck().all() as string[]);
    expect(ids.every((id) => sourceIds.has(id))).toBe(true);
    // The feed continues after the copied numbers.
    const maxSeq = await count('SELECT max(seq) AS n FROM changes');
    expect(result.stdout).toContain(`The next changes.seq is ${maxSeq + 1}.`);
  }, 120_000);

  it('refuses a target that holds rows (exit 2) and leaves it as it was', async () => {
    const before = await fingerprint();
    const result = await cli(['copy-to', target.url]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/copy-to refused, nothing was copied: the target database already holds rows \(.*answers.*\); add --force/);
    expect(result.stdout).toBe('');
    expect(await fingerprint()).toEqual(before);
  });

  it('a copy that fails on a row PostgreSQL cannot store is rolled back: with --force, the rows it would replace stay', async () => {
    const before = await fingerprint();
    const row = sqlite.prepare('SELECT id, response FROM answers ORDER BY id LIMIT 1').get() as { id: string; response: string | null };
    sqlite.prepare('UPDATE answers SET response = ? WHERE id = ?').run('nul \u0000 inside', row.id);
    try {
      const result = await cli(['copy-to', target.url, '--force']);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/copy-to failed and was rolled back, the target's rows are as they were: answers: PostgreSQL refused a batch of rows: .*0x00/);
      expect(await fingerprint()).toEqual(before);
    } finally {
      sqlite.prepare('UPDATE answers SET response = ? WHERE id = ?').run(row.response, row.id);
    }
  });

  it('--force replaces the rows of a non-empty target with the source\'s: every row equal on both sides', async () => {
    // The copy served for a while: a learner created there is not in the source, and goes.
    const copy = await buildApp({ ...testConfig(), postgres: { url: target.url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 5000 } });
    let strayOnCopy: string;
    try {
      const created = await copy.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'only-on-the-copy' } });
      expect(created.statusCode).toBe(201);
      strayOnCopy = created.json().id;
    } finally {
      await copy.close();
    }

    const result = await cli(['copy-to', target.url, '--force']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\(replacing the rows of .*users.*\)/);
    expect(await count(`SELECT count(*) AS n FROM users WHERE id = '${strayOnCopy}'`)).toBe(0);
    const counts = await expectSameRows();
    expect(reportedCounts(result.stdout)).toEqual(counts);
    expect(counts.answers).toBeGreaterThan(copied.answers!);
  }, 60_000);

  it('a server on the copy serves the same content and the same learner data, and continues the feed', async () => {
    const copy = await buildApp({ ...testConfig(), postgres: { url: target.url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 5000 } });
    try {
      const reads: [string, { authorization: string } | undefined][] = [
        ['/v1/modules', undefined],
        ['/v1/modules/networking', undefined],
        ['/v1/modules/networking/flashcards', undefined],
        ['/v1/modules/networking/versions', undefined],
        ['/v1/modules/copy-archived', actors.admin],
        ['/v1/changes', undefined],
        ['/v1/keys', actors.admin],
        [`/v1/users?externalId=${encodeURIComponent('ünï-learner ✓')}`, actors.integration],
        [`/v1/users/${actors.learner.userId}/answers?limit=100`, actors.integration],
        ['/v1/me/answers?limit=100', actors.learner.headers],
        ['/v1/me/study', actors.learner.headers],
        ['/v1/me/progress', actors.learner.headers],
        ['/v1/me/cards', actors.learner.headers],
        ['/v1/me/answers?limit=100', writer.headers],
      ];
      for (const [url, headers] of reads) {
        const [before, after] = await Promise.all([source, copy].map((app) => app.inject({ url, ...(headers ? { headers } : {}) })));
        expect(before!.statusCode, url).toBe(200);
        expect(after!.statusCode, url).toBe(200);
        expect(after!.json(), url).toEqual(before!.json());
      }
      const search = await Promise.all([source, copy].map((app) => app.inject({ url: '/v1/search?q=ingress' })));
      const hits = search.map((response) => response.json().items.map((hit: { id: string }) => hit.id).sort());
      expect(hits[0]!.length).toBeGreaterThan(0);
      expect(hits[1]).toEqual(hits[0]);

      // Writing on the copy: the learner's key works, and the feed's next number follows the copied ones.
      const lastSeq = await count('SELECT max(seq) AS n FROM changes');
      expect((await copy.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[1]!) })).statusCode).toBe(201);
      const imported = await copy.inject({ method: 'POST', url: '/v1/admin/modules', headers: { ...actors.admin, 'content-type': 'application/json' }, payload: moduleSource('copy-new') });
      expect(imported.statusCode).toBe(201);
      expect(await count(`SELECT min(seq) AS n FROM changes WHERE module_slug = 'copy-new'`)).toBe(lastSeq + 1);
    } finally {
      await copy.close();
    }
  }, 60_000);
});

describe('the checksum canonical form', () => {
  it('tells NULL, empty text, numbers and texts apart, floats by their bits, and reads both drivers alike', () => {
    const forms = [canonicalValue('text', null), canonicalValue('text', ''), canonicalValue('text', 'n'), canonicalValue('text', '1'), canonicalValue('int32', 1)];
    expect(new Set(forms).size).toBe(forms.length);
    expect(canonicalValue('float', -0)).not.toBe(canonicalValue('float', 0));
    expect(canonicalValue('float', 0.1 + 0.2)).not.toBe(canonicalValue('float', 0.3));
    // SQLite's bigint and PostgreSQL's int4 number or int8 text are the same integer.
    expect(canonicalValue('int64', 9_007_199_254_740_993n)).toBe(canonicalValue('int64', '9007199254740993'));
    expect(canonicalValue('int32', 7n)).toBe(canonicalValue('int32', 7));
    expect(canonicalValue('float', 2.5)).toBe(canonicalValue('float', '2.5'));
    // What a column cannot hold is no form at all (the copy stops, naming the row).
    expect(canonicalValue('int32', 2n ** 31n)).toBeUndefined();
    expect(canonicalValue('int32', 1.5)).toBeUndefined();
    expect(canonicalValue('text', Buffer.from('x'))).toBeUndefined();
  });
});
