import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startServer } from '../helpers/server-process.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mnemo-e2e-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the real server process', () => {
  it('creates the database folder, seeds on first start, serves over HTTP, and keeps data across restarts', async () => {
    const databasePath = join(dir, 'nested', 'folder', 'mnemo.db');
    const first = await startServer({ DATABASE_PATH: databasePath });
    try {
      const response = await fetch(`${first.baseUrl}/v1/modules/networking`, { headers: { 'accept-encoding': 'gzip' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-encoding')).toBe('gzip');
      const module = (await response.json()) as { flashcards: unknown[] };
      expect(module).toMatchObject({ slug: 'networking', version: 1 });
      expect(module.flashcards).toHaveLength(5);

      const etag = response.headers.get('etag')!;
      const revalidated = await fetch(`${first.baseUrl}/v1/modules/networking`, { headers: { 'if-none-match': etag, 'accept-encoding': 'gzip' } });
      expect(revalidated.status).toBe(304);

      const missing = await fetch(`${first.baseUrl}/v1/modules/nope`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toContain('application/problem+json');
      expect((await fetch(`${first.baseUrl}/readyz`)).status).toBe(200);
      expect(first.logs.join('\n')).toContain('seeded 1 module(s)');

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const second = await startServer({ DATABASE_PATH: databasePath });
      try {
        const again = await (await fetch(`${second.baseUrl}/v1/modules/networking`)).json();
        expect(again).toEqual(module);
        expect(second.logs.join('\n')).not.toContain('seeded');
      } finally {
        second.child.kill('SIGTERM');
        expect(await second.exited).toBe(0);
      }
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  it('refuses to start on a bad configuration value, naming the variable', async () => {
    await expect(startServer({ DATABASE_PATH: join(dir, 'x.db'), PORT: 'eighty' })).rejects.toThrow(/PORT="eighty"/);
    await expect(startServer({ DATABASE_PATH: join(dir, 'x.db'), SQLITE_SYNCHRONOUS: 'OFF' })).rejects.toThrow(/SQLITE_SYNCHRONOUS/);
  });

  it('refuses to start when a seed file is invalid, saying which file and line', async () => {
    const { writeFileSync, mkdirSync } = await import('node:fs');
    const seedDir = join(dir, 'bad-seed');
    mkdirSync(seedDir);
    writeFileSync(join(seedDir, 'broken.md'), '---\nslug: broken\ntitle: Broken\n---\n## Nonsense\n');
    const failure = startServer({ DATABASE_PATH: join(dir, 'bad.db'), SEED_DIR: seedDir });
    await expect(failure).rejects.toThrow(/broken\.md[\s\S]*line 5|line 5[\s\S]*broken\.md/);
  });
});
