import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
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
});
afterAll(() => app.close());

const statementsFor = (slug: string) => {
  const before = app.database.stats.driverStatements;
  app.content.getModuleContent(slug);
  return app.database.stats.driverStatements - before;
};

describe('content cache', () => {
  it('keeps a module that fits and reads it again from memory', async () => {
    statementsFor('small');
    // Within one synchronous run the commit check is not even read again; after an await it is, and that is all.
    expect(statementsFor('small')).toBe(0);
    await Promise.resolve();
    expect(statementsFor('small')).toBe(1);
  });

  it('does not keep a version larger than CONTENT_CACHE_BYTES: each read loads it again', () => {
    statementsFor('large');
    // The head check, then the module and its four sections from the database again.
    expect(statementsFor('large')).toBeGreaterThan(1);
  });
});
