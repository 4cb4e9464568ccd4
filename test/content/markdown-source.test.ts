import { describe, expect, it } from 'vitest';
import { parseModuleSource } from '../../src/content/module-source/parse-module-source.js';
import { AppError, type ErrorDetail } from '../../src/errors.js';
import { seedSource } from '../helpers/app.js';

const frontMatter = ['---', 'slug: sample', 'title: "Sample"', 'tags: [a, b]', '---'];
const doc = (...lines: string[]) => [...frontMatter, ...lines].join('\n');

function errorsOf(source: string): ErrorDetail[] {
  try {
    parseModuleSource(source, 'markdown');
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('MNEMO_IMPORT_INVALID');
    return (error as AppError).errors ?? [];
  }
  throw new Error('expected the source to be rejected');
}

describe('Markdown module format', () => {
  it('reads the seed into all four sections', () => {
    const module = parseModuleSource(seedSource(), 'markdown');
    expect(module.slug).toBe('networking');
    expect(module.title).toBe('Module Review: Networking');
    expect(module.tags).toEqual(['kubernetes', 'networking']);
    expect(module.summary).toMatch(/^This module explores the core principles/);
    expect(module.takeaways).toHaveLength(5);
    expect(module.flashcards).toHaveLength(5);
    expect(module.cheatSheet?.columns).toEqual(['Resource', 'Kind', 'Key Fields', 'Use Case']);
    expect(module.cheatSheet?.rows).toHaveLength(5);
    expect(module.revisionItems).toHaveLength(5);
  });

  it('splits a bold lead-in from the rest, with the colon outside or inside the bold', () => {
    const module = parseModuleSource(
      doc('## Key Takeaways', '- **Outside**: body one', '- **Inside:** body *two*', '', '## Quick Revision', '- **Term**: a definition'),
      'markdown',
    );
    expect(module.takeaways).toEqual([
      { title: 'Outside', body: 'body one' },
      { title: 'Inside', body: 'body *two*' },
    ]);
    expect(module.revisionItems).toEqual([{ term: 'Term', definition: 'a definition' }]);
  });

  it('keeps multi-paragraph list item bodies, removing the list indentation', () => {
    const module = parseModuleSource(
      doc('## Takeaways', '- **Title**: first paragraph', '  continues here', '', '  second paragraph', '- **Next**: x'),
      'markdown',
    );
    expect(module.takeaways[0]!.body).toBe('first paragraph\ncontinues here\n\nsecond paragraph');
  });

  it('takes every block up to the next heading as the answer, code blocks included', () => {
    const module = parseModuleSource(
      doc('## Flashcards', '### How do I list pods? {#list-pods}', 'Run:', '', '```sh', 'kubectl get pods', '# all of them', '```', '', 'Then read.', '### Second?', 'Yes.'),
      'markdown',
    );
    expect(module.flashcards[0]).toEqual({
      key: 'list-pods',
      question: 'How do I list pods?',
      answer: 'Run:\n\n```sh\nkubectl get pods\n# all of them\n```\n\nThen read.',
    });
    expect(module.flashcards[1]).toEqual({ key: 'second', question: 'Second?', answer: 'Yes.' });
  });

  it('derives a stable key from the question when there is no {#key}', () => {
    const source = doc('## Flashcards', "### What's the *default* Service type?", 'ClusterIP.');
    expect(parseModuleSource(source, 'markdown').flashcards[0]!.key).toBe('what-s-the-default-service-type');
    expect(parseModuleSource(source, 'markdown').flashcards[0]!.key).toBe('what-s-the-default-service-type');
  });

  it('reads a GFM table, treating \\| as a literal pipe inside a cell', () => {
    const module = parseModuleSource(
      doc('## Cheat Sheet', '| A | B |', '|---|---|', '| x \\| y | `a\\|b` |', '| | empty first |'),
      'markdown',
    );
    expect(module.cheatSheet).toEqual({ columns: ['A', 'B'], rows: [['x | y', '`a|b`'], ['', 'empty first']] });
  });

  it('matches section headings case-insensitively and accepts the usual aliases', () => {
    const module = parseModuleSource(
      doc('## takeaways', '- **T**: b', '## FLASHCARDS', '### Q?', 'A.', '## Cheatsheet', '| A |', '|---|', '| 1 |', '## Revision', '- **R**: d'),
      'markdown',
    );
    expect([module.takeaways.length, module.flashcards.length, module.cheatSheet?.rows.length, module.revisionItems.length]).toEqual([1, 1, 1, 1]);
  });

  it('lets the front-matter title win over the # heading, and uses the heading when front matter has none', () => {
    expect(parseModuleSource(doc('# Heading title'), 'markdown').title).toBe('Sample');
    const module = parseModuleSource(['---', 'slug: sample', '---', '# Heading *title*'].join('\n'), 'markdown');
    expect(module.title).toBe('Heading *title*');
  });

  it('takes the > [!NOTE] block as the summary, without the marker', () => {
    const module = parseModuleSource(doc('> [!NOTE]', '> First line', '> second line.', '>', '> Another paragraph.'), 'markdown');
    expect(module.summary).toBe('First line\nsecond line.\n\nAnother paragraph.');
  });

  it('treats an empty module as valid: every section empty, no cheat sheet', () => {
    const module = parseModuleSource(doc(), 'markdown');
    expect(module).toMatchObject({ takeaways: [], flashcards: [], cheatSheet: null, revisionItems: [], summary: null });
  });

  describe('errors name the line and what is wrong', () => {
    it('an unknown ## section', () => {
      expect(errorsOf(doc('## Key Takeaways', '- **T**: b', '## Exercises', 'Do things.'))).toEqual([
        expect.objectContaining({ line: 8, message: expect.stringContaining('unknown section "Exercises"') }),
      ]);
    });

    it('an unknown ## section lists every accepted heading and alias', () => {
      const [error] = errorsOf(doc('## Exercises', 'Do things.'));
      expect(error!.message).toBe(
        'unknown section "Exercises"; accepted headings: "Key Takeaways" (or "Takeaways"), "Flashcards" (or "Cards"), "Cheat Sheet", "Quick Revision" (or "Revision", "Revision Items")',
      );
    });

    it('accepts the documented spellings: any case, spaces or punctuation, and a leading number', () => {
      const module = parseModuleSource(doc('## 1. KEY takeaways', '- **T**: b', '## cheat-sheet', '| A | B |', '| - | - |', '| a | b |', '## 3) Revision Items', '- **t**: d'), 'markdown');
      expect(module.takeaways).toHaveLength(1);
      expect(module.cheatSheet?.rows).toHaveLength(1);
      expect(module.revisionItems).toHaveLength(1);
    });

    it('a takeaway without a bold lead-in', () => {
      expect(errorsOf(doc('## Key Takeaways', '- **Good**: fine', '- plain item without lead-in'))).toEqual([
        expect.objectContaining({ line: 8, message: expect.stringContaining('bold lead-in') }),
      ]);
    });

    it('a table row with the wrong number of cells', () => {
      const errors = errorsOf(doc('## Cheat Sheet', '| A | B |', '|---|---|', '| 1 | 2 |', '| 1 | 2 | 3 |', '| 1 |'));
      expect(errors).toEqual([
        expect.objectContaining({ line: 10, path: 'cheatSheet.rows.1', message: 'row has 3 cells but the cheat sheet has 2 columns' }),
        expect.objectContaining({ line: 11, path: 'cheatSheet.rows.2', message: 'row has 1 cells but the cheat sheet has 2 columns' }),
      ]);
    });

    it('a duplicate flashcard key, explicit or derived', () => {
      const errors = errorsOf(doc('## Flashcards', '### One? {#same}', 'a', '### Two? {#same}', 'b', '### Three?', 'c', '### Three?', 'd'));
      expect(errors).toEqual([
        expect.objectContaining({ line: 9, message: expect.stringContaining('duplicate flashcard key "same"') }),
        expect.objectContaining({ line: 13, message: expect.stringContaining('duplicate flashcard key "three"') }),
      ]);
    });

    it('a missing slug and a missing title', () => {
      const errors = errorsOf(['---', 'tags: [x]', '---', '## Flashcards'].join('\n'));
      expect(errors.map((error) => error.path)).toEqual(expect.arrayContaining(['slug', 'title']));
      for (const error of errors) expect(error.message).toMatch(/slug|title/);
    });

    it('an invalid slug, with the front-matter line', () => {
      expect(errorsOf(['---', 'title: T', 'slug: Not A Slug', '---'].join('\n'))).toEqual([
        expect.objectContaining({ line: 3, path: 'slug', message: expect.stringContaining('kebab-case') }),
      ]);
    });

    it('broken YAML front matter', () => {
      expect(errorsOf(['---', 'slug: x', 'title: [unclosed', '---'].join('\n'))[0]).toMatchObject({ line: expect.any(Number), message: expect.stringContaining('front matter') });
    });

    it('an unknown front-matter field', () => {
      expect(errorsOf(doc().replace('tags: [a, b]', 'tags: [a, b]\nauthor: me'))).toEqual([
        expect.objectContaining({ line: 5, message: expect.stringContaining('unknown front matter field "author"') }),
      ]);
    });

    it('content outside any section', () => {
      expect(errorsOf(doc('Some stray paragraph.', '## Flashcards'))).toEqual([
        expect.objectContaining({ line: 6, message: expect.stringContaining('outside a section') }),
      ]);
    });

    it('a flashcard with no answer, and content before the first question', () => {
      const errors = errorsOf(doc('## Flashcards', 'stray', '### Empty?', '### Fine?', 'yes'));
      expect(errors).toEqual([
        expect.objectContaining({ line: 7, message: expect.stringContaining('before the first') }),
        expect.objectContaining({ line: 8, path: 'flashcards.0.answer', message: 'an answer must not be empty' }),
      ]);
    });

    it('a duplicate section and a second title heading', () => {
      const errors = errorsOf(doc('# One', '# Two', '## Flashcards', '## Flashcards'));
      expect(errors.map((error) => error.line)).toEqual([7, 9]);
    });

    it('every error at once, sorted by line, and nothing returned', () => {
      const errors = errorsOf(doc('## Key Takeaways', '- no lead-in', '## Nope', '## Cheat Sheet', '| A |', '|---|', '| 1 | 2 |'));
      expect(errors.map((error) => error.line)).toEqual([7, 8, 12]);
    });
  });

  describe('limits', () => {
    it('rejects a source over 1 MiB', () => {
      const huge = doc('## Key Takeaways', `- **T**: ${'x'.repeat(1024 * 1024)}`);
      expect(() => parseModuleSource(huge, 'markdown')).toThrowError(expect.objectContaining({ code: 'MNEMO_IMPORT_TOO_LARGE' }));
    });

    it('rejects more than 500 flashcards and over-long text, naming the line', () => {
      const cards = Array.from({ length: 501 }, (_, index) => `### Q${index}?\nA.`);
      expect(errorsOf(doc('## Flashcards', ...cards))).toEqual([expect.objectContaining({ path: 'flashcards', message: 'at most 500 flashcards' })]);
      expect(errorsOf(doc('## Flashcards', `### ${'q'.repeat(1001)}`, 'a'))).toEqual([
        expect.objectContaining({ line: 7, path: 'flashcards.0.question', message: 'a question must be at most 1000 characters' }),
      ]);
    });
  });
});
