import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { gql } from '../helpers/graphql.js';
import { generatedModule } from '../helpers/modules.js';

const wholeModules = `{
  modules(first: 50) {
    nodes {
      slug
      takeaways { id title }
      flashcards { id question }
      cheatSheet { columns rows { cells } }
      revisionItems { id term }
    }
  }
}`;

let app: FastifyInstance | undefined;
afterEach(() => app?.close());

async function statementsFor(moduleCount: number): Promise<{ statements: number; modules: number }> {
  // Fifty whole modules cost more than the default budget allows at the sections' maximum sizes.
  const base = testConfig();
  app = await buildTestApp({ config: { graphql: { ...base.graphql, maxCost: 1_000_000 } } });
  for (let index = 0; index < moduleCount; index++) {
    await app.content.importModule(JSON.stringify(generatedModule(`module-${String(index).padStart(3, '0')}`, 3)), 'json');
  }
  const before = app.database.stats.statements;
  const result = await gql(app, wholeModules);
  expect(result.errors).toBeUndefined();
  const statements = app.database.stats.statements - before;
  const nodes = result.data!.modules.nodes as { flashcards: { question: string }[]; slug: string }[];
  for (const node of nodes) expect(node.flashcards).toHaveLength(3);
  await app.close();
  app = undefined;
  return { statements, modules: nodes.length };
}

describe('GraphQL loaders batch section reads', () => {
  it('runs the same small number of SQL statements for 2, 10 and 50 modules', async () => {
    const small = await statementsFor(2);
    const medium = await statementsFor(10);
    const large = await statementsFor(50);
    expect([small.modules, medium.modules, large.modules]).toEqual([2, 10, 50]);
    // The content stamp (response cache), one page query and one query per section (four).
    expect(small.statements).toBe(6);
    expect(medium.statements).toBe(small.statements);
    expect(large.statements).toBe(small.statements);
  });

  it('answers a repeated module(slug) query from cache with one statement (the content stamp)', async () => {
    app = await buildTestApp({ seed: true });
    const query = '{ module(slug: "networking") { takeaways { id } flashcards { id } cheatSheet { columns } revisionItems { id } } }';
    await gql(app, query);
    const before = app.database.stats.statements;
    await gql(app, query);
    // Only the content stamp that tells the cached answer is current.
    expect(app.database.stats.statements - before).toBe(1);
  });
});
