import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/app.js';
import { ensureBuilt, startServer, type ServerProcess } from '../helpers/server-process.js';

/**
 * docs/quickstart.md must keep working: every ```sh block (except those marked `no-run`, the one that starts the
 * server) runs, in order, in one bash process, against a real server on a fresh database.
 */

const quickstart = readFileSync(`${repoRoot}docs/quickstart.md`, 'utf8');

function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh([^\n]*)\n([\s\S]*?)^```\s*$/gm)].filter((match) => !match[1]!.includes('no-run')).map((match) => match[2]!);
}

/**
 * `npm run -s cli -- ...` builds, then runs `node dist/cli/main.js ...`; dist/ is built for this test already, so
 * the shim runs that entry point directly (and refuses any other npm command, which the tutorial should not need).
 */
const prelude = `set -euo pipefail
npm() {
  if [ "$#" -ge 4 ] && [ "$1 $2 $3 $4" = "run -s cli --" ]; then shift 4; node dist/cli/main.js "$@"; return; fi
  echo "quickstart test: unexpected command: npm $*" >&2
  return 127
}
`;

/** Printed after the tutorial, so the test can check what it made. */
const trailer = `
printf '\\n@@vars %s\\n' "$(node -e 'console.log(JSON.stringify(Object.fromEntries(process.argv.slice(1).map((name) => [name, process.env[name] ?? null]))))' \\
  ADMIN_TOKEN INTEGRATION_TOKEN LEARNER_ID LEARNER_TOKEN FLASHCARD_ID STUDY NEXT)"
`;

let dir: string;
let server: ServerProcess;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mnemo-quickstart-'));
  server = await startServer({ DATABASE_PATH: join(dir, 'mnemo.db') });
}, 60_000);

afterAll(async () => {
  if (server) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/quickstart.md', () => {
  it('has the steps an integrator follows, as shell blocks', () => {
    const blocks = shellBlocks(quickstart);
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const script = blocks.join('\n');
    for (const step of ['keys create --role admin', '/v1/keys', '/v1/users', '/keys"', '/v1/me/answers', '/v1/me/study']) {
      expect(script).toContain(step);
    }
  });

  it('runs end to end against a fresh server', async () => {
    const script = `${prelude}\n${shellBlocks(quickstart).join('\n')}\n${[
      // Variables the blocks set for later steps are shell variables; the trailer reads them from the environment.
      'export ADMIN_TOKEN INTEGRATION_TOKEN LEARNER_ID LEARNER_TOKEN FLASHCARD_ID STUDY NEXT',
      trailer,
    ].join('\n')}`;
    const run = spawnSync('bash', ['-c', script], {
      cwd: repoRoot,
      env: { ...process.env, BASE: server.baseUrl, DATABASE_PATH: join(dir, 'mnemo.db') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const output = `exit ${run.status}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
    expect(run.status, output).toBe(0);

    const vars = JSON.parse(/^@@vars (.*)$/m.exec(run.stdout)![1]!) as Record<string, string>;
    expect(vars.ADMIN_TOKEN, output).toMatch(/^mnemo_/);
    expect(vars.INTEGRATION_TOKEN, output).toMatch(/^mnemo_/);
    expect(vars.LEARNER_TOKEN, output).toMatch(/^mnemo_/);
    expect(vars.LEARNER_ID, output).toMatch(/^usr_/);
    expect(vars.FLASHCARD_ID, output).toMatch(/^fc_/);
    // The integration key was made with the admin token the CLI printed: the CLI opened the server's database.

    // The first study session offered the card; after the answer the queue moves on to the other four.
    const first = JSON.parse(vars.STUDY!) as { items: { reason: string; flashcard: { id: string; question: string; moduleSlug: string } }[] };
    expect(first.items).toEqual([{ reason: 'new', flashcard: expect.objectContaining({ id: vars.FLASHCARD_ID, moduleSlug: 'networking' }), state: null }]);
    expect(run.stdout).toContain(`Q: ${first.items[0]!.flashcard.question}`);
    const next = JSON.parse(vars.NEXT!) as { items: { reason: string; flashcard: { id: string; question: string } }[] };
    expect(next.items.map((item) => item.reason)).toEqual(['new', 'new', 'new', 'new']);
    expect(next.items.map((item) => item.flashcard.id)).not.toContain(vars.FLASHCARD_ID);
    expect(next.items.every((item) => item.flashcard.question.length > 0)).toBe(true);

    // The error example taught what to fix.
    expect(run.stdout).toContain('did you mean `flashcardId`?');

    // What the server stored, read with the tokens the tutorial made.
    const headers = { authorization: `Bearer ${vars.LEARNER_TOKEN}` };
    const answers = (await (await fetch(`${server.baseUrl}/v1/me/answers`, { headers })).json()) as { items: unknown[] };
    expect(answers.items).toEqual([expect.objectContaining({ flashcardId: vars.FLASHCARD_ID, rating: 3, correct: true, moduleSlug: 'networking' })]);
    const cards = (await (await fetch(`${server.baseUrl}/v1/me/cards`, { headers })).json()) as { items: { flashcardId: string; reps: number; due: string }[] };
    expect(cards.items).toEqual([expect.objectContaining({ flashcardId: vars.FLASHCARD_ID, reps: 1 })]);
    expect(Date.parse(cards.items[0]!.due)).toBeGreaterThan(Date.now());
    expect(run.stdout).toContain(`${vars.FLASHCARD_ID} is due again at ${cards.items[0]!.due}`);
  }, 180_000);
});
