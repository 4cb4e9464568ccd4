import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModuleInput } from '../../src/content/module-source/module-input.js';
import type { ModuleDto, StandaloneFlashcardDto } from '../../src/content/schemas.js';
import { AppError } from '../../src/errors.js';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';
import { queryRows } from '../helpers/learners.js';

let app: FastifyInstance;
beforeEach(async () => {
  app = await buildTestApp();
});
afterEach(() => app.close());

const importJson = (module: ModuleInput, options = {}) => app.content.importModule(JSON.stringify(module), 'json', options);
const getModule = async (slug: string): Promise<ModuleDto> => (await app.inject(`/v1/modules/${slug}`)).json();

describe('importing modules', () => {
  it('creates a module at version 1 and reports every item as added', async () => {
    const result = await app.content.importModule(seedSource(), 'markdown');
    expect(result).toEqual({
      slug: 'networking',
      version: 1,
      status: 'created',
      changes: {
        takeaways: { added: 5, updated: 0, removed: 0 },
        flashcards: { added: 5, updated: 0, removed: 0 },
        cheatSheet: { added: 5, updated: 0, removed: 0 },
        revisionItems: { added: 5, updated: 0, removed: 0 },
      },
      dryRun: false,
    });
  });

  it('re-importing identical content is unchanged and keeps the version and every id', async () => {
    await app.content.importModule(seedSource(), 'markdown');
    const before = await getModule('networking');
    const again = await app.content.importModule(seedSource(), 'markdown');
    expect(again).toMatchObject({ status: 'unchanged', version: 1 });
    expect(await getModule('networking')).toEqual(before);
  });

  it('the same module as Markdown and as JSON is the same content', async () => {
    const module = generatedModule('twin', 3);
    await importJson(module);
    const markdownTwin = [
      '---',
      'slug: twin',
      `title: "${module.title}"`,
      `tags: [${module.tags!.join(', ')}]`,
      '---',
      '> [!NOTE]',
      ...module.summary!.split('\n').map((line) => `> ${line}`.trimEnd()),
      '## Key Takeaways',
      ...module.takeaways.map((item) => `- **${item.title}**: ${item.body}`),
      '## Flashcards',
      ...module.flashcards.flatMap((card) => [`### ${card.question} {#${card.key}}`, card.answer]),
      '## Cheat Sheet',
      `| ${module.cheatSheet!.columns.join(' | ')} |`,
      `|${module.cheatSheet!.columns.map(() => '---').join('|')}|`,
      ...module.cheatSheet!.rows.map((row) => `| ${row.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
      '## Quick Revision',
      ...module.revisionItems.map((item) => `- **${item.term}**: ${item.definition}`),
    ].join('\n');
    expect((await app.content.importModule(markdownTwin, 'markdown')).status).toBe('unchanged');
  });

  it('a reworded question with the same key keeps the card id; a removed card is archived, not deleted', async () => {
    const module = generatedModule('lifecycle', 3);
    await importJson(module);
    const before = await getModule('lifecycle');
    const [first, second, third] = before.flashcards;

    const edited = {
      ...module,
      flashcards: [{ ...module.flashcards[0]!, question: 'Reworded *question*?' }, module.flashcards[2]!, { key: 'new-card', question: 'New?', answer: 'Yes.' }],
    };
    const result = await importJson(edited);
    expect(result).toMatchObject({ status: 'updated', version: 2 });
    expect(result.changes.flashcards).toEqual({ added: 1, updated: 2, removed: 1 });

    const after = await getModule('lifecycle');
    expect(after.version).toBe(2);
    expect(after.flashcards.map((card) => card.id)).toEqual([first!.id, third!.id, expect.any(String)]);
    expect(after.flashcards[0]!.question).toBe('Reworded *question*?');
    expect(after.flashcards.map((card) => card.id)).not.toContain(second!.id);

    const archived: StandaloneFlashcardDto = (await app.inject(`/v1/flashcards/${second!.id}`)).json();
    expect(archived).toMatchObject({ id: second!.id, archived: true, moduleSlug: 'lifecycle', question: second!.question });

    // Bringing the card back restores its id.
    expect((await importJson(module)).changes.flashcards).toEqual({ added: 1, updated: 2, removed: 1 });
    expect((await getModule('lifecycle')).flashcards.map((card) => card.id)).toEqual([first!.id, second!.id, third!.id]);
  });

  it('keeps the ids of takeaways, rows and revision items matched by their title, first cell and term', async () => {
    const module = generatedModule('stable', 2);
    await importJson(module);
    const before = await getModule('stable');
    await importJson({ ...module, takeaways: [...module.takeaways].reverse(), title: 'Retitled' });
    const after = await getModule('stable');
    expect(after.takeaways.map((item) => item.id)).toEqual(before.takeaways.map((item) => item.id).reverse());
    expect(after.revisionItems.map((item) => item.id)).toEqual(before.revisionItems.map((item) => item.id));
  });

  it('writes nothing when the source has any error', async () => {
    await importJson(generatedModule('safe', 2));
    const before = await getModule('safe');
    const broken = { ...generatedModule('safe', 5), cheatSheet: { columns: ['A'], rows: [['1', '2']] } };
    await expect(importJson(broken)).rejects.toThrowError(AppError);
    expect(await getModule('safe')).toEqual(before);
  });

  it('a dry run reports the outcome without writing', async () => {
    expect(await importJson(generatedModule('dry', 2), { dryRun: true })).toMatchObject({ status: 'created', version: 1, dryRun: true });
    expect((await app.inject('/v1/modules/dry')).statusCode).toBe(404);
  });

  it('records each version with its source and changes', async () => {
    await importJson(generatedModule('versions', 1));
    await importJson(generatedModule('versions', 2));
    const rows = await queryRows<{ version: number; changes: string }>(app, 'SELECT version, imported_by AS importedBy, changes FROM module_versions ORDER BY version');
    expect(rows.map((row) => row.version)).toEqual([1, 2]);
    expect(JSON.parse(rows[1]!.changes).flashcards).toEqual({ added: 1, updated: 0, removed: 0 });
  });
});
