import { describe, expect, it } from 'vitest';
import { parseModuleSource } from '../../src/content/module-source/parse-module-source.js';
import { AppError, type ErrorDetail } from '../../src/errors.js';
import { generatedModule } from '../helpers/modules.js';

function errorsOf(source: string): ErrorDetail[] {
  try {
    parseModuleSource(source, 'json');
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).errors ?? [];
  }
  throw new Error('expected the source to be rejected');
}

const minimal = { slug: 'json-module', title: 'JSON', takeaways: [], flashcards: [], revisionItems: [] };

describe('JSON module format', () => {
  it('accepts the documented shape, deriving missing flashcard keys', () => {
    const module = parseModuleSource(
      JSON.stringify({ ...minimal, flashcards: [{ question: 'Why JSON?', answer: 'Because.' }, { key: 'k', question: 'Q', answer: 'A' }] }),
      'json',
    );
    expect(module.flashcards.map((card) => card.key)).toEqual(['why-json', 'k']);
    expect(module).toMatchObject({ tags: [], summary: null, cheatSheet: null });
  });

  it('accepts a large generated module', () => {
    const module = parseModuleSource(JSON.stringify(generatedModule('big', 200)), 'json');
    expect(module.flashcards).toHaveLength(200);
    expect(module.cheatSheet?.rows[0]).toEqual(['Row 1', '`1`', 'note | with pipe 1']);
  });

  it('rejects unknown keys at any depth, naming their JSON path', () => {
    const errors = errorsOf(JSON.stringify({ ...minimal, extra: 1, flashcards: [{ question: 'Q', answer: 'A', hint: 'h' }] }));
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'extra', message: 'unknown field "extra"' },
        { path: 'flashcards.0.hint', message: 'unknown field "hint"' },
      ]),
    );
  });

  it('rejects __proto__ and constructor keys instead of merging them', () => {
    const errors = errorsOf('{"slug":"p","title":"T","takeaways":[],"flashcards":[],"revisionItems":[],"__proto__":{"polluted":true}}');
    expect(errors).toEqual([{ path: '__proto__', message: 'unknown field "__proto__"' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports every error with its path: missing fields, wrong types, row widths, duplicates', () => {
    const errors = errorsOf(
      JSON.stringify({
        title: 5,
        takeaways: [{ title: '', body: 'b' }],
        flashcards: [{ key: 'a', question: 'Q', answer: 'A' }, { key: 'a', question: 'Q2', answer: 'A2' }],
        cheatSheet: { columns: ['A', 'B'], rows: [['1']] },
      }),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'slug', message: 'slug is required' },
        { path: 'title', message: 'title must be a string' },
        { path: 'revisionItems', message: 'revisionItems is required' },
        { path: 'takeaways.0.title', message: 'a takeaway title must not be empty' },
        { path: 'flashcards.1.key', message: 'duplicate flashcard key "a" (also used by flashcard 0 of the list, counting from 0)' },
        { path: 'cheatSheet.rows.0', message: 'row has 1 cells but the cheat sheet has 2 columns' },
      ]),
    );
  });

  it('reports a syntax error with its line', () => {
    expect(errorsOf('{\n  "slug": "x",\n  oops\n}')).toEqual([{ line: 3, message: expect.stringContaining('invalid JSON') }]);
  });

  it('rejects a non-object document', () => {
    expect(errorsOf('[1,2]')[0]?.message).toMatch(/object/);
  });

  it('applies the same limits as Markdown', () => {
    const errors = errorsOf(JSON.stringify({ ...minimal, revisionItems: Array.from({ length: 501 }, () => ({ term: 't', definition: 'd' })) }));
    expect(errors).toEqual([{ path: 'revisionItems', message: 'at most 500 revision items' }]);
  });
});
