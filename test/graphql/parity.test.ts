import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { gql, moduleSelection } from '../helpers/graphql.js';
import { generatedModule } from '../helpers/modules.js';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  await app.content.importModule(JSON.stringify(generatedModule('many-items', 150)), 'json');
  await app.content.importModule(JSON.stringify({ ...generatedModule('no-sheet', 3), cheatSheet: undefined, summary: undefined }), 'json');
});
afterAll(() => app.close());

describe('REST and GraphQL serve identical content', () => {
  for (const slug of ['networking', 'many-items', 'no-sheet']) {
    for (const format of ['markdown', 'html', 'text']) {
      it(`${slug} as ${format}: field for field`, async () => {
        const rest = (await app.inject(`/v1/modules/${slug}?format=${format}`)).json();
        // Twice: the second answer comes through the cached content, the first may not.
        for (let round = 0; round < 2; round++) {
          const graphql = await gql(app, `{ module(slug: "${slug}") { ${moduleSelection(format.toUpperCase())} } }`);
          expect(graphql.errors).toBeUndefined();
          expect(graphql.data!.module).toEqual(rest);
        }
      });
    }
  }

  it('modules(first) lists what GET /v1/modules lists, with the same sections', async () => {
    const rest = (await app.inject('/v1/modules?limit=10&format=html')).json();
    const graphql = await gql(app, `{ modules(first: 10) { totalCount nodes { ${moduleSelection('HTML')} counts { takeaways flashcards cheatSheetRows revisionItems } } } }`);
    expect(graphql.errors).toBeUndefined();
    const nodes = graphql.data!.modules.nodes;
    expect(graphql.data!.modules.totalCount).toBe(3);
    expect(nodes.map((node: { slug: string }) => node.slug)).toEqual(rest.items.map((item: { slug: string }) => item.slug));
    for (const node of nodes) {
      const { counts, ...module } = node;
      expect(module).toEqual((await app.inject(`/v1/modules/${node.slug}?format=html`)).json());
      expect(counts).toEqual(rest.items.find((item: { slug: string }) => item.slug === node.slug).counts);
    }
  });

  it('flashcard(id) equals GET /v1/flashcards/:id, including its module', async () => {
    const rest = (await app.inject('/v1/modules/networking/flashcards')).json().items[3];
    const graphql = await gql(app, `{ flashcard(id: "${rest.id}") { id key position question answer archived module { slug } } }`);
    expect(graphql.data!.flashcard).toEqual({ ...rest, archived: false, module: { slug: 'networking' } });
  });

  it('answers null, not an error, for unknown modules and flashcards', async () => {
    const graphql = await gql(app, '{ module(slug: "nope") { id } flashcard(id: "fc_nope") { id } }');
    expect(graphql).toEqual({ statusCode: 200, data: { module: null, flashcard: null } });
  });
});
