import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Limits on everything an author controls; the same for both source formats. */
export const sourceLimits = {
  sourceBytes: 1024 * 1024,
  slugLength: 64,
  titleLength: 200,
  summaryLength: 5000,
  tags: 20,
  tagLength: 40,
  takeaways: 200,
  takeawayBodyLength: 5000,
  flashcards: 500,
  flashcardKeyLength: 64,
  questionLength: 1000,
  answerLength: 10_000,
  cheatSheetColumns: 12,
  cheatSheetRows: 200,
  cellLength: 1000,
  revisionItems: 500,
  termLength: 200,
  definitionLength: 2000,
} as const;

export const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A string with messages that name the field when it is missing or of the wrong type. */
const namedString = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be a string`) });

const namedArray = <T extends z.ZodType>(item: T, what: string) =>
  z.array(item, { error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be a list`) });

const slug = (max: number, what: string) =>
  namedString(what)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(slugPattern, `${what} must be lowercase kebab-case (a-z, 0-9 and single hyphens)`);

/** Markdown text: trimmed, non-empty, bounded. */
const markdown = (max: number, what: string) =>
  namedString(what)
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`);

const cell = namedString('a cell').trim().max(sourceLimits.cellLength, `a cell must be at most ${sourceLimits.cellLength} characters`);

export const takeawayInputSchema = z.strictObject({
  title: markdown(sourceLimits.titleLength, 'a takeaway title'),
  body: markdown(sourceLimits.takeawayBodyLength, 'a takeaway body'),
});

export const flashcardInputSchema = z.strictObject({
  key: slug(sourceLimits.flashcardKeyLength, 'a flashcard key').optional(),
  question: markdown(sourceLimits.questionLength, 'a question'),
  answer: markdown(sourceLimits.answerLength, 'an answer'),
});

export const cheatSheetInputSchema = z
  .strictObject({
    columns: namedArray(markdown(sourceLimits.cellLength, 'a column heading'), 'columns')
      .min(1, 'a cheat sheet needs at least one column')
      .max(sourceLimits.cheatSheetColumns, `a cheat sheet has at most ${sourceLimits.cheatSheetColumns} columns`),
    rows: namedArray(namedArray(cell, 'a row'), 'rows')
      .max(sourceLimits.cheatSheetRows, `a cheat sheet has at most ${sourceLimits.cheatSheetRows} rows`),
  })
  .superRefine((sheet, ctx) => {
    sheet.rows.forEach((row, index) => {
      if (row.length !== sheet.columns.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['rows', index],
          message: `row has ${row.length} cells but the cheat sheet has ${sheet.columns.length} columns`,
        });
      }
    });
  });

export const revisionItemInputSchema = z.strictObject({
  term: markdown(sourceLimits.termLength, 'a revision term'),
  definition: markdown(sourceLimits.definitionLength, 'a revision definition'),
});

// Duplicate checks also run when other items are invalid, so one import reports every error at once.
const always = { when: (payload: { value: unknown }) => Array.isArray(payload.value) };

/** A card's key as the import will assign it; tolerant of items that failed validation. */
function flashcardKeyOf(card: unknown): string | undefined {
  const { key, question } = (card ?? {}) as { key?: unknown; question?: unknown };
  if (typeof key === 'string') return key;
  return typeof question === 'string' && question.trim() ? deriveFlashcardKey(question.trim()) : undefined;
}

function reportDuplicates(
  ctx: z.RefinementCtx,
  values: readonly unknown[],
  field: string | undefined,
  what: string,
  item: string,
): void {
  const seen = new Map<unknown, number>();
  values.forEach((value, index) => {
    if (typeof value !== 'string') return;
    const first = seen.get(value);
    if (first === undefined) {
      seen.set(value, index);
      return;
    }
    ctx.addIssue({
      code: 'custom',
      path: field === undefined ? [index] : [index, field],
      // Numbered as the error's own `path` is (from 0), so a message and its path never disagree.
      message: `duplicate ${what} "${value}" (also used by ${item} ${first} of the list, counting from 0)`,
    });
  });
}

/**
 * The one shape both source formats are parsed into before anything is written. Strict: unknown keys are errors,
 * so a typo in a JSON source is reported rather than silently ignored.
 */
export const moduleInputSchema = z
  .strictObject({
    slug: slug(sourceLimits.slugLength, 'slug'),
    title: markdown(sourceLimits.titleLength, 'title'),
    summary: markdown(sourceLimits.summaryLength, 'summary').optional(),
    tags: namedArray(slug(sourceLimits.tagLength, 'a tag'), 'tags')
      .max(sourceLimits.tags, `at most ${sourceLimits.tags} tags`)
      .superRefine((tags, ctx) => reportDuplicates(ctx, tags, undefined, 'tag', 'tag'), always)
      .default([]),
    takeaways: namedArray(takeawayInputSchema, 'takeaways')
      .max(sourceLimits.takeaways, `at most ${sourceLimits.takeaways} takeaways`),
    flashcards: namedArray(flashcardInputSchema, 'flashcards')
      .max(sourceLimits.flashcards, `at most ${sourceLimits.flashcards} flashcards`)
      .superRefine((cards, ctx) => reportDuplicates(ctx, cards.map(flashcardKeyOf), 'key', 'flashcard key', 'flashcard'), always),
    cheatSheet: cheatSheetInputSchema.optional(),
    revisionItems: namedArray(revisionItemInputSchema, 'revisionItems')
      .max(sourceLimits.revisionItems, `at most ${sourceLimits.revisionItems} revision items`),
  });

export type ModuleInput = z.input<typeof moduleInputSchema>;
export type ParsedModuleInput = z.output<typeof moduleInputSchema>;

/** A module after validation: every flashcard has its key, every optional section is explicit. */
export interface NormalizedModule {
  slug: string;
  title: string;
  summary: string | null;
  tags: string[];
  takeaways: { title: string; body: string }[];
  flashcards: { key: string; question: string; answer: string }[];
  cheatSheet: { columns: string[]; rows: string[][] } | null;
  revisionItems: { term: string; definition: string }[];
}

export function normalizeModule(input: ParsedModuleInput): NormalizedModule {
  return {
    slug: input.slug,
    title: input.title,
    summary: input.summary ?? null,
    tags: input.tags,
    takeaways: input.takeaways,
    flashcards: input.flashcards.map((card) => ({
      key: card.key ?? deriveFlashcardKey(card.question),
      question: card.question,
      answer: card.answer,
    })),
    cheatSheet: input.cheatSheet ?? null,
    revisionItems: input.revisionItems,
  };
}

/**
 * A stable key from a question's wording, used when the author gives none: lowercase words of the question's
 * letters and digits, hyphen-joined, cut at a word boundary to fit the key limit.
 */
export function deriveFlashcardKey(question: string): string {
  // Questions with no Latin letters or digits (e.g. in Japanese) get a key from a hash of their text instead.
  const words = question
    .normalize('NFKD')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let key = '';
  for (const word of words) {
    const next = key ? `${key}-${word}` : word;
    if (next.length > sourceLimits.flashcardKeyLength) break;
    key = next;
  }
  if (key) return key;
  if (words[0]) return words[0].slice(0, sourceLimits.flashcardKeyLength);
  return `card-${createHash('sha256').update(question).digest('hex').slice(0, 12)}`;
}
