import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors } from '../helpers/learners.js';

/**
 * A read-only SQLite database (`PRAGMA query_only`, as a read-only file or mount gives) and a closed SQLite connection:
 * SQLite only (vitest.config.ts sqliteOnly). PostgreSQL's read-only refusal (SQLSTATE 25006) is not mapped to 503 by
 * src/db/failures.ts, and its readiness probes on a pool of its own, so ending the app's pool does not fail /readyz.
 */
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('failure modes', () => {
  it('a read-only database answers writes with 503, reads still work', async () => {
    app = await buildTestApp({ seed: true });
    const actors = await createActors(app);
    app.database.sqlite.pragma('query_only = ON');
    const write = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
    expect(write.statusCode).toBe(503);
    expect(write.headers['retry-after']).toBeDefined();
    expect(write.json()).toMatchObject({ code: 'MNEMO_SERVICE_UNAVAILABLE', requestId: expect.any(String) });
    expect(write.body).not.toMatch(/SQLITE|readonly|attempt to write/i);
    expect((await app.inject('/v1/modules/networking')).statusCode).toBe(200);
  });

  it('a closed database answers 500 problem+json, and readiness reports it', async () => {
    app = await buildTestApp({ seed: true });
    app.database.sqlite.close();
    const response = await app.inject('/v1/modules/networking');
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect((await app.inject('/readyz')).statusCode).toBe(503);
    // Reopen something closable for afterEach.
    app.database.close = () => undefined;
  });
});
