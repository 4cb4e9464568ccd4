import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/lib/redact-url.js';
import { repoRoot, testBackend } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres-server.js';
import { ensureBuilt, runCli } from '../helpers/server-process.js';

/** Runs the built CLI with both streams captured (runCli keeps stderr only on failure), from `cwd`. */
function cli(args: string[], env: Record<string, string | undefined>, cwd = repoRoot) {
  const { DATABASE_PATH: _unset, ...inherited } = process.env;
  const result = spawnSync(process.execPath, [join(repoRoot, 'dist/cli/main.js'), ...args], { cwd, env: { ...inherited, ...env }, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
/** The suite's engine: a SQLite file, or in the postgres project a fresh PostgreSQL database (DATABASE_URL). */
let env: Record<string, string>;
let database: TestDatabase | undefined;
beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mnemo-cli-'));
  if (testBackend === 'postgres') database = await createTestDatabase();
  env = database ? { DATABASE_URL: database.url } : { DATABASE_PATH: join(dir, 'cli.db') };
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await database?.drop();
});

describe('npm run cli', () => {
  it('seed imports seed/ and is idempotent: a second run leaves the module unchanged at its version', () => {
    const first = runCli(['seed'], env);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('networking created (version 1)');
    const second = runCli(['seed'], env);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('networking unchanged (version 1)');
    expect(second.stdout).toMatch(/unchanged\s+1/);
  });

  it('imports a directory, reports per-file errors with line numbers and exits non-zero when any failed', () => {
    const sources = join(dir, 'sources');
    mkdirSync(sources);
    writeFileSync(join(sources, 'good.json'), JSON.stringify(generatedModule('cli-good', 2)));
    writeFileSync(join(sources, 'bad.md'), '---\nslug: cli-bad\ntitle: Bad\n---\n## Key Takeaways\n- missing lead-in\n');
    writeFileSync(join(sources, 'ignored.txt'), 'not a module');
    const result = runCli(['import', sources], env);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('cli-good created (version 1)');
    // file:line:column: message, one line per error, as compilers print them.
    expect(result.stdout).toMatch(/^\S*sources\/bad\.md:6:1: list item must start with a bold lead-in/m);
    expect(result.stdout).toMatch(/created\s+1/);
    expect(result.stdout).toMatch(/failed\s+1/);
  });

  it('export prints a source that re-imports unchanged, in either format', () => {
    for (const format of ['md', 'json']) {
      const exported = runCli(['export', 'networking', '--format', format], env);
      expect(exported.status).toBe(0);
      const file = join(dir, `exported.${format}`);
      writeFileSync(file, exported.stdout);
      expect(runCli(['import', file], env).stdout).toContain('networking unchanged (version 1)');
    }
    expect(runCli(['export', 'missing'], env)).toMatchObject({ status: 1, stderr: expect.stringContaining('no module with slug "missing"') });
    expect(runCli(['export', 'networking', '--format', 'pdf'], env).status).toBe(2);
  });

  it('points at JSON errors by line and column: the field that is wrong, the object that lacks one, bad syntax', () => {
    const sources = join(dir, 'json-errors');
    mkdirSync(sources);
    const module = generatedModule('cli-json-bad', 2) as unknown as Record<string, unknown>;
    (module.flashcards as { question: string }[])[1]!.question = '';
    delete module.title;
    writeFileSync(join(sources, 'invalid.json'), JSON.stringify(module, null, 2));
    writeFileSync(join(sources, 'syntax.json'), '{\n  "slug": "cli-syntax",\n  "title": "T",,\n}\n');
    const result = runCli(['import', sources], env);
    expect(result.status).toBe(1);
    const lines = JSON.stringify(module, null, 2).split('\n');
    // The second card's "question" key: its line, and the column of its opening quote.
    const questionLine = lines.findIndex((line, index) => line.includes('"question": ""') && index > lines.findIndex((l) => l.includes('"card-2"'))) + 1;
    const column = lines[questionLine - 1]!.indexOf('"question"') + 1;
    expect(result.stdout).toContain(`json-errors/invalid.json:${questionLine}:${column}: flashcards.1.question: `);
    // A missing field points at the object that should hold it.
    expect(result.stdout).toMatch(/json-errors\/invalid\.json:1:1: title is required/);
    expect(result.stdout).toMatch(/json-errors\/syntax\.json:3:\d+: invalid JSON: /);
  });

  it('--dry-run validates without writing', () => {
    const file = join(dir, 'dry.json');
    writeFileSync(file, JSON.stringify(generatedModule('cli-dry', 1)));
    expect(runCli(['import', '--dry-run', file], env).stdout).toContain('cli-dry created (version 1)');
    expect(runCli(['import', '--dry-run', file], env).stdout).toContain('cli-dry created (version 1)');
  });

  it('explains usage errors with exit code 2', () => {
    expect(runCli(['frobnicate'], env)).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown command') });
    expect(runCli(['import'], env)).toMatchObject({ status: 2 });
    expect(runCli(['import', join(dir, 'missing.md')], env)).toMatchObject({ status: 2, stderr: expect.stringContaining('no such file') });
  });
});

describe('which database the CLI opens', () => {
  it('says on stderr which database it opened (a file, or a URL without its password), so that stdout stays one JSON line', () => {
    const result = cli(['keys', 'create', '--role', 'admin', '--name', 'which', '--json'], env);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(`mnemo: database ${env.DATABASE_PATH ?? redactUrl(env.DATABASE_URL!)}\n`);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ role: 'admin', name: 'which' });
  });

  it('refuses to create a database for keys, export, backup or vacuum, naming the file and the way out', () => {
    const missing = join(dir, 'elsewhere', 'missing.db');
    for (const args of [['keys', 'create', '--role', 'admin', '--name', 'x', '--json'], ['keys', 'list'], ['export', 'networking'], ['backup', join(dir, 'b.db')], ['vacuum']]) {
      const result = cli(args, { DATABASE_PATH: missing });
      expect(result, args.join(' ')).toMatchObject({ status: 1, stdout: '' });
      expect(result.stderr).toContain(`no database at ${missing} (DATABASE_PATH=${missing})`);
      expect(result.stderr).toContain('--create');
    }
    expect(existsSync(missing)).toBe(false);
  });

  it('with DATABASE_PATH unset, names the default it looked for instead of creating it', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'mnemo-cli-cwd-'));
    try {
      const result = cli(['keys', 'create', '--role', 'admin', '--name', 'x', '--json'], {}, elsewhere);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(`no database at ${join(elsewhere, 'data', 'mnemo.db')} (DATABASE_PATH is not set; the default is ./data/mnemo.db)`);
      expect(existsSync(join(elsewhere, 'data'))).toBe(false);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('creates one with --create, and seed and import create theirs, saying so', () => {
    const fresh = join(dir, 'fresh', 'created.db');
    const created = cli(['keys', 'create', '--role', 'admin', '--name', 'first', '--json', '--create'], { DATABASE_PATH: fresh });
    expect(created.status).toBe(0);
    expect(created.stderr).toBe(`mnemo: database ${fresh} (new: created now)\n`);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'first' });
    expect(cli(['keys', 'list', '--json'], { DATABASE_PATH: fresh }).stdout).toContain('"name":"first"');

    const seeded = join(dir, 'seeded.db');
    const seed = cli(['seed'], { DATABASE_PATH: seeded });
    expect(seed.status).toBe(0);
    expect(seed.stderr).toContain(`mnemo: database ${seeded} (new: created now)`);
  });

  it('vacuum rewrites a SQLite database and truncates the WAL; on PostgreSQL backup and vacuum are refused, pointing at pg_dump', () => {
    if (testBackend === 'postgres') {
      for (const args of [['backup', join(dir, 'b.db')], ['vacuum']]) {
        const refused = cli(args, env);
        // A command this configuration does not have: a usage error.
        expect(refused, args.join(' ')).toMatchObject({ status: 2, stdout: '' });
        expect(refused.stderr).toContain('use pg_dump for backups');
      }
      expect(existsSync(join(dir, 'b.db'))).toBe(false);
      return;
    }
    const result = cli(['vacuum'], env);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Vacuumed .*cli\.db: \d+ -> \d+ bytes; WAL truncated\.$/m);
    expect(cli(['export', 'networking'], env).status).toBe(0);
  });
});

describe('npm run cli -- keys', () => {
  it('creates a key as one JSON line, lists it without the token, and revokes it', () => {
    const created = runCli(['keys', 'create', '--role', 'admin', '--name', 'ops', '--json'], env);
    expect(created.status).toBe(0);
    const lines = created.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const key = JSON.parse(lines[0]!);
    expect(key).toEqual({ id: expect.stringMatching(/^key_/), token: expect.stringMatching(/^mnemo_/), role: 'admin', name: 'ops' });

    const listed = runCli(['keys', 'list'], env);
    expect(listed.stdout).toContain(key.id);
    expect(listed.stdout).not.toContain(key.token);

    expect(runCli(['keys', 'revoke', key.id], env)).toMatchObject({ status: 0 });
    expect(runCli(['keys', 'list', '--json'], env).stdout).toMatch(new RegExp(`"id":"${key.id}".*"revokedAt":"`));
    expect(runCli(['keys', 'revoke', 'key_missing'], env).status).toBe(1);
  });

  it('explains bad key arguments', () => {
    expect(runCli(['keys', 'create', '--role', 'root', '--name', 'x'], env).status).toBe(2);
    expect(runCli(['keys', 'create', '--role', 'learner', '--name', 'x'], env).status).toBe(2);
    expect(runCli(['keys', 'create', '--role', 'learner', '--name', 'x', '--user', 'usr_missing'], env).status).toBe(1);
  });

  it('issues keys that the running server accepts', async () => {
    const { startServer } = await import('../helpers/server-process.js');
    const server = await startServer(env);
    try {
      // Created while the server runs, against the same database file.
      const key = JSON.parse(runCli(['keys', 'create', '--role', 'integration', '--name', 'lms', '--json'], env).stdout);
      const response = await fetch(`${server.baseUrl}/v1/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ externalId: 'from-cli' }),
      });
      expect(response.status).toBe(201);
      expect(server.logs.join('\n')).not.toContain(key.token);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
