import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedModule } from '../helpers/modules.js';
import { ensureBuilt, runCli } from '../helpers/server-process.js';

let dir: string;
let env: Record<string, string>;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mnemo-cli-'));
  env = { DATABASE_PATH: join(dir, 'cli.db') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
    expect(result.stdout).toMatch(/bad\.md:line 6: list item must start with a bold lead-in/);
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
    const server = await startServer({ DATABASE_PATH: env.DATABASE_PATH! });
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
