import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { parseModuleSource, type ModuleFormat } from '../../src/content/module-source/parse-module-source.js';
import { parserBounds } from '../../src/content/module-source/source-bounds.js';
import { buildTestApp } from '../helpers/app.js';
import { createActors, type Actors } from '../helpers/learners.js';
import { generatedModule } from '../helpers/modules.js';

/**
 * Module sources of hostile shapes, deep and wide, up to the 1 MiB limit. Each must be refused with a 400 that
 * names a line (Markdown) or a path (JSON) in words an author can act on: never a stack overflow, never a 500.
 * Those over a structural bound are refused by the linear scan in source-bounds.ts, before any parser runs,
 * which is what keeps them cheap; the message says which bound.
 */

const seed = Number(process.env.HOSTILE_SOURCES_SEED ?? 20261202);
const limit = 1024 * 1024 - 64;
const fit = (text: string) => text.slice(0, limit);
const card = (body: string) => fit(`---\nslug: hostile\ntitle: Hostile\n---\n\n## Flashcards\n\n### Q {#q}\n\n${body}\n`);
const boundMessages = /nested blockquote or list levels|indented by more than|table row with more than|markers .* in the source|list items in the source|nested more than|front matter is over/;

function refusal(source: string, format: ModuleFormat): AppError {
  try {
    parseModuleSource(source, format);
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('the hostile source was accepted');
}

const overNesting = fc.integer({ min: parserBounds.nesting + 1, max: 300_000 });

/** Deep and wide Markdown bodies, each past one bound. */
const hostileMarkdown = fc.oneof(
  overNesting.map((depth) => card('>'.repeat(depth) + ' a')),
  overNesting.map((depth) => card('> '.repeat(depth) + 'a')),
  overNesting.map((depth) => card('- '.repeat(depth) + 'a')),
  overNesting.map((depth) => card('1. '.repeat(depth) + 'a')),
  overNesting.map((depth) => card('> - 1) '.repeat(Math.ceil(depth / 3)) + 'a')),
  fc.integer({ min: parserBounds.listIndentColumns / 2 + 1, max: 1000 }).map((levels) =>
    card(Array.from({ length: levels }, (_, level) => `${' '.repeat(level * 2)}- a`).join('\n')),
  ),
  fc.integer({ min: parserBounds.tableCells, max: 500_000 }).map((cells) => card(`${'|a'.repeat(cells)}|\n${'|-'.repeat(cells)}|`)),
  fc
    .tuple(fc.constantFrom('*a', '_a ', '[a', '![a', '`a', '<a', '~~a', '**_'), fc.integer({ min: parserBounds.inlineMarkers, max: 600_000 }))
    .map(([unit, markers]) => card(unit.repeat(Math.ceil(markers / unit.replace(/[a ]/g, '').length)))),
  fc.integer({ min: parserBounds.listItems + 1, max: 120_000 }).map((items) => card('- **a**: b\n'.repeat(items))),
);

/** Front matter (kept closed whatever its size): deep flow collections, deep block nesting, more than its size. */
const frontMatter = (yaml: string) => `---\n${yaml.slice(0, limit - 100)}\n---\n`;
const hostileFrontMatter = fc.oneof(
  overNesting.map((depth) => frontMatter(`slug: ${'['.repeat(depth)}`)),
  overNesting.map((depth) => frontMatter(`tags: ${'{a: '.repeat(depth)}`)),
  overNesting.map((depth) => frontMatter(`tags:\n${'- '.repeat(depth * 2)}a`)),
  fc.integer({ min: parserBounds.nesting * 2 + 1, max: 400 }).map((depth) =>
    frontMatter(`slug:\n${Array.from({ length: depth }, (_, level) => `${' '.repeat((level + 1) * 2)}a:`).join('\n')}`),
  ),
  fc.integer({ min: 2000, max: 60_000 }).map((keys) => frontMatter(Array.from({ length: keys }, (_, index) => `key${index}: value`).join('\n'))),
);

/** JSON sources: deep arrays and objects, and valid modules whose texts are hostile Markdown. */
const hostileJson = fc.oneof(
  overNesting.map((depth) => '['.repeat(Math.min(depth, limit))),
  overNesting.map((depth) => fit(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)),
  overNesting.map((depth) => fit(JSON.stringify({ slug: 'x', title: 'x', tags: [`${'['.repeat(depth)}`] }).replace(/"\[+"/, '['.repeat(depth)))),
  fc
    .tuple(fc.integer({ min: 1, max: 500 }), fc.constantFrom('>', '- ', '*a', '[a'))
    .map(([cards, unit]) =>
      JSON.stringify(
        generatedModule('hostile', 0, {
          flashcards: Array.from({ length: cards }, (_, index) => ({ key: `k${index}`, question: 'Q?', answer: unit.repeat(Math.floor(limit / cards / (unit.length + 1))) })),
        }),
      ),
    ),
);

describe('bounded module parsers (property-based, seed ' + seed + ')', () => {
  it('refuses deep and wide Markdown bodies with the line and the bound they break', () => {
    fc.assert(
      fc.property(hostileMarkdown, (source) => {
        const error = refusal(source, 'markdown');
        expect(error.status).toBe(400);
        expect(error.message).toMatch(boundMessages);
        expect(error.errors?.[0]?.line).toBeGreaterThanOrEqual(9);
      }),
      { seed, numRuns: 60 },
    );
  });

  it('refuses hostile front matter with a line inside it, before the YAML reader recurses', () => {
    fc.assert(
      fc.property(hostileFrontMatter, (source) => {
        const error = refusal(source, 'markdown');
        expect(error.status).toBe(400);
        expect(error.message).toMatch(/^line \d+: front matter/);
        expect(error.message).not.toMatch(/call stack|RangeError/);
      }),
      { seed, numRuns: 40 },
    );
  });

  it('refuses deep JSON, and JSON whose texts are hostile Markdown, with a line or a path', () => {
    fc.assert(
      fc.property(hostileJson, (source) => {
        const error = refusal(source, 'json');
        expect([400, 413]).toContain(error.status);
        expect(error.message).not.toMatch(/call stack|RangeError/);
        const first = error.errors?.[0];
        expect(first?.line !== undefined || first?.path !== undefined, JSON.stringify(first)).toBe(true);
      }),
      { seed, numRuns: 40 },
    );
  });

  it('reads parentheses in front matter as text, not nesting', () => {
    const source = `---\nslug: parens\ntitle: Parens\nsummary: "${'('.repeat(20)} x ${')'.repeat(20)} and :( :( :("\n---\n`;
    expect(parseModuleSource(source, 'markdown').summary).toContain('((((');
  });

  it('accepts structures just inside each bound', () => {
    const nested = `${'> '.repeat(parserBounds.nesting - 2)}- 1. deep but allowed`;
    const module = parseModuleSource(card(nested), 'markdown');
    expect(module.flashcards[0]!.answer).toBe(nested);
    // Brackets inside JSON strings are text, not nesting.
    const title = `${'['.repeat(40)}Title`;
    const json = parseModuleSource(JSON.stringify(generatedModule('inside', 2, { title })), 'json');
    expect(json.title).toBe(title);
  });

  it('lists at most 100 errors however many a source has, and says how many there were', () => {
    const source = `---\nslug: many\ntitle: Many\n---\n\n## Quick Revision\n\n${'- not a lead-in\n'.repeat(5000)}`;
    const error = refusal(source, 'markdown');
    expect(error.errors).toHaveLength(parserBounds.reportedErrors);
    expect(error.message).toMatch(/\(and 4999 more\)$/);
  });
});

describe('imports through the API', () => {
  let app: FastifyInstance;
  let actors: Actors;
  beforeAll(async () => {
    // The slow source below takes seconds; everything else here is read in milliseconds.
    app = await buildTestApp({ seed: true, config: { importParseTimeoutMs: 1000 } });
    actors = await createActors(app);
  });
  afterAll(() => app.close());

  const post = (payload: string, contentType: string) =>
    app.inject({ method: 'POST', url: '/v1/admin/modules', headers: { ...actors.admin, 'content-type': contentType }, payload });

  it('answers 400 problem+json with the line for the reported shapes (20,000 nested blockquotes, deep YAML)', async () => {
    for (const [source, line] of [
      [card('>'.repeat(20_000) + ' a'), 10],
      [`---\nslug: ${'['.repeat(10_000)}\n---\n`, 2],
      [`---\nslug:\n${'  - '.repeat(3000)}a\n---\n`, 3],
    ] as const) {
      const response = await post(source, 'text/markdown');
      expect(response.statusCode).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = response.json();
      expect(problem.code).toBe('MNEMO_IMPORT_INVALID');
      expect(problem.errors[0].line).toBe(line);
      expect(problem.detail).toMatch(new RegExp(`^line ${line}: `));
    }
    const deepJson = await post('['.repeat(200_000), 'application/json');
    expect(deepJson.statusCode).toBe(400);
    expect(deepJson.json().detail).toMatch(/^line 1: nested more than 16 levels deep/);
  });

  it('reads a JSON source as JSON whatever the media type\'s case', async () => {
    const response = await post(JSON.stringify(generatedModule('case-blind', 2)), 'Application/JSON; charset=UTF-8');
    expect(response.statusCode, response.body).toBe(201);
  });

  it('refuses a source that is still being read at the deadline, then reads the next one normally', async () => {
    // Within every structural bound, but slow: 100,000 unmatched emphasis markers take seconds in remark.
    const slow = card('*a '.repeat(parserBounds.inlineMarkers - 1000));
    const refused = await post(slow, 'text/markdown');
    expect(refused.statusCode).toBe(400);
    expect(refused.json().code).toBe('MNEMO_IMPORT_TOO_COMPLEX');
    expect(refused.json().detail).toMatch(/could not be read within 1000 ms/);
    const next = await post(JSON.stringify(generatedModule('after-deadline', 3)), 'application/json');
    expect(next.statusCode).toBe(201);
  });

  it('keeps answering other requests while a source is being read', async () => {
    const order: string[] = [];
    const slow = post(card('*a '.repeat(parserBounds.inlineMarkers - 1000)), 'text/markdown').then((response) => {
      order.push(`import ${response.statusCode}`);
    });
    // The worker owns the parse: the main thread serves health and content in the meantime.
    const health = app.inject({ method: 'GET', url: '/healthz' }).then((response) => order.push(`health ${response.statusCode}`));
    const content = app.inject({ method: 'GET', url: '/v1/modules/networking' }).then((response) => order.push(`content ${response.statusCode}`));
    await Promise.all([slow, health, content]);
    expect(order.slice(0, 2).sort()).toEqual(['content 200', 'health 200']);
    expect(order[2]).toBe('import 400');
  });
});

describe('rendering stored versions', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(() => app.close());

  it('renders an old version off the main thread, once for concurrent requests', async () => {
    // Dense emphasis takes about a second to render; the server must answer health and content meanwhile.
    const dense = generatedModule('dense', 0, {
      flashcards: Array.from({ length: 12 }, (_, index) => ({ key: `k${index}`, question: `Q${index}?`, answer: '*a '.repeat(3000) })),
    });
    await app.content.importModule(JSON.stringify(dense), 'json');
    await app.content.importModule(JSON.stringify({ ...dense, title: 'Dense, again' }), 'json');
    const order: string[] = [];
    const versions = [1, 2, 3].map(() =>
      app.inject({ url: '/v1/modules/dense/versions/1' }).then((response) => order.push(`version ${response.statusCode}`)),
    );
    const health = app.inject({ url: '/healthz' }).then((response) => order.push(`health ${response.statusCode}`));
    await Promise.all([...versions, health]);
    expect(order).toEqual(['health 200', 'version 200', 'version 200', 'version 200']);
  });
});
