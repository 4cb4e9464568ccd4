import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildTestApp, settleCommits, testBackend } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';

/** The content cache is bounded by size as well as by count: one version can hold megabytes of text. */
let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ config: { contentCacheBytes: 1024 * 1024 } });
  const answer = 'A long answer about networking. '.repeat(60);
  await app.content.importModule(JSON.stringify(generatedModule('small', 3)), 'json');
  await app.content.importModule(
    JSON.stringify(generatedModule('large', 0, { flashcards: Array.from({ length: 400 }, (_, index) => ({ key: `k${index}`, question: `Q${index}?`, answer })) })),
    'json',
  );
  await settleCommits(app);
});
afterAll(() => app.close());

/** Statements run by `reads` reads of a module started in one synchronous run. */
const statementsFor = async (slug: string, reads = 1) => {
  const before = app.store.stats.driverStatements;
  await Promise.all(Array.from({ length: reads }, () => app.content.getModuleContent(slug)));
  return app.store.stats.driverStatements - before;
};

describe('content cache', () => {
  it('keeps a module that fits and reads it again from memory', async () => {
    await statementsFor('small');
    // Within one synchronous run the commit check is not even read again (the second and third reads cost
    // nothing); after an await it is, and that is all. That check is SQLite's `PRAGMA data_version`; PostgreSQL's
    // commits arrive as notifications on the listener's connection, so there a cached read sends no statement.
    const commitCheck = testBackend === 'sqlite' ? 1 : 0;
    expect(await statementsFor('small', 3)).toBe(commitCheck);
    expect(await statementsFor('small')).toBe(commitCheck);
  });

  it('does not keep a version larger than CONTENT_CACHE_BYTES: each read loads it again', async () => {
    await statementsFor('large');
    // The commit check (SQLite's), then the module and its four sections from the database again: five statements on
    // SQLite, one on PostgreSQL (findModuleContent reads them in one), where a cached read sends none.
    expect(await statementsFor('large')).toBe(testBackend === 'sqlite' ? 1 + 5 : 1);
  });
});
