import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, countRows, createActors } from '../helpers/learners.js';
import { useServerWorkspace } from '../helpers/reliability.js';
import { runCli } from '../helpers/server-process.js';

const workspace = useServerWorkspace('mnemo-xapi-backfill-');

describe('npm run cli -- xapi backfill', () => {
  it('queues the statements of answers recorded before the LRS was configured, once, from --since on', async () => {
    const databasePath = `${workspace.path}/mnemo-${randomUUID()}.db`;
    // Answers recorded with no LRS configured: none queued.
    const app = await buildTestApp({ seed: true, config: { databasePath } });
    const actors = await createActors(app);
    const early = Array.from({ length: 3 }, (_, index) => answer(actors.deck[index]!));
    await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: early } });
    const history = (await app.inject({ url: '/v1/me/answers?limit=50', headers: actors.learner.headers })).json().items as { receivedAt: string }[];
    const firstReceived = history.map((item) => item.receivedAt).sort()[0]!;
    const later = new Date(Date.parse(firstReceived) + 1).toISOString();
    await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    expect(await countRows(app, 'xapi_outbox')).toBe(0);
    await app.close();

    const env = { DATABASE_PATH: databasePath, DATABASE_URL: '', LRS_ENDPOINT: 'https://lrs.example.com/xapi/' };
    const refused = runCli(['xapi', 'backfill'], { ...env, LRS_ENDPOINT: '' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('LRS_ENDPOINT is not set');
    expect(runCli(['xapi', 'backfill', '--since', 'last tuesday'], env).status).toBe(2);

    const sinceRun = runCli(['xapi', 'backfill', '--since', later], env);
    expect(sinceRun.status, sinceRun.stderr).toBe(0);
    const sinceCount = Number(/Queued (\d+) statement/.exec(sinceRun.stdout)?.[1]);
    expect(sinceCount).toBeGreaterThanOrEqual(1);
    expect(sinceCount).toBeLessThan(4);
    const all = runCli(['xapi', 'backfill'], env);
    expect(all.stdout).toContain(`Queued ${4 - sinceCount} statements`);
    expect(runCli(['xapi', 'backfill'], env).stdout).toContain('Queued 0 statements');
  });
});
