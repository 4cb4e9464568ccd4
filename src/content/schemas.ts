import { z } from 'zod';
import { slugPattern } from './module-source/module-input.js';
import { textFormats } from './module-source/text-format.js';

/** Request and response shapes of the content API; the OpenAPI document is generated from these. */

/**
 * Every enum of a REST query string: matched case-insensitively (`format=HTML` as GraphQL spells it, or
 * `format=html`); OpenAPI lists the canonical values.
 */
const canonicalSpelling = (values: readonly string[]) => {
  // Matched case-insensitively onto the canonical spelling (`HTML` -> `html`, `cheatsheetrow` -> `cheatSheetRow`).
  const canonical = new Map(values.map((value) => [value.toLowerCase(), value]));
  return (value: unknown) => (typeof value === 'string' ? (canonical.get(value.toLowerCase()) ?? value) : value);
};

export const queryEnum = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z.preprocess(canonicalSpelling(values), z.enum(values).default(fallback as never));

export const optionalQueryEnum = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(canonicalSpelling(values), z.enum(values).optional());

export const formatQuery = queryEnum(textFormats, 'markdown').describe(
  'Rendering of every text field: the Markdown source, sanitised HTML, or plain text (case-insensitive)',
);

export const slugParam = z.string().max(64).regex(slugPattern, 'must be a module slug (lowercase kebab-case)');

export const moduleParams = z.strictObject({ slug: slugParam });

export const formatOnlyQuery = z.strictObject({ format: formatQuery });

/** Largest page of modules, over REST (`limit`) and GraphQL (`first`). */
export const modulesPageLimit = 100;

export const listModulesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(modulesPageLimit).default(20).describe(`Page size, 1 to ${modulesPageLimit}`),
  cursor: z.string().max(512).optional().describe('The `nextCursor` of the previous page'),
  tag: z.string().max(40).optional().describe('Only modules with this tag'),
  format: formatQuery,
});

export const flashcardParams = z.strictObject({ id: z.string().min(1).max(64) });

export const takeawaySchema = z
  .object({ id: z.string(), position: z.number().int(), title: z.string(), body: z.string() })
  .meta({ id: 'Takeaway' });

export const flashcardSchema = z
  .object({ id: z.string(), key: z.string(), position: z.number().int(), question: z.string(), answer: z.string() })
  .meta({ id: 'Flashcard' });

export const cheatSheetSchema = z
  .object({
    columns: z.array(z.string()),
    rows: z.array(z.object({ position: z.number().int(), cells: z.array(z.string()) })),
  })
  .meta({ id: 'CheatSheet' });

export const revisionItemSchema = z
  .object({ id: z.string(), position: z.number().int(), term: z.string(), definition: z.string() })
  .meta({ id: 'RevisionItem' });

const moduleFields = {
  id: z.string(),
  slug: z.string(),
  title: z.string(),
  summary: z.string().nullable(),
  tags: z.array(z.string()),
  version: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
};

export const moduleSchema = z
  .object({
    ...moduleFields,
    takeaways: z.array(takeawaySchema),
    flashcards: z.array(flashcardSchema),
    cheatSheet: cheatSheetSchema.nullable(),
    revisionItems: z.array(revisionItemSchema),
  })
  .meta({ id: 'Module' });

export const moduleSummarySchema = z
  .object({
    ...moduleFields,
    counts: z.object({
      takeaways: z.number().int(),
      flashcards: z.number().int(),
      cheatSheetRows: z.number().int(),
      revisionItems: z.number().int(),
    }),
  })
  .meta({ id: 'ModuleSummary' });

export const moduleListSchema = z.object({
  items: z.array(moduleSummarySchema),
  nextCursor: z.string().nullable(),
});

export const standaloneFlashcardSchema = flashcardSchema
  .extend({ moduleSlug: z.string(), archived: z.boolean() })
  .meta({ id: 'FlashcardWithModule' });

export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

export type ModuleDto = z.infer<typeof moduleSchema>;
export type ModuleSummaryDto = z.infer<typeof moduleSummarySchema>;
export type TakeawayDto = z.infer<typeof takeawaySchema>;
export type FlashcardDto = z.infer<typeof flashcardSchema>;
export type CheatSheetDto = z.infer<typeof cheatSheetSchema>;
export type RevisionItemDto = z.infer<typeof revisionItemSchema>;
export type StandaloneFlashcardDto = z.infer<typeof standaloneFlashcardSchema>;

const sectionChanges = z.object({ added: z.number().int(), updated: z.number().int(), removed: z.number().int() });

export const changesSchema = z.object({
  takeaways: sectionChanges,
  flashcards: sectionChanges,
  cheatSheet: sectionChanges,
  revisionItems: sectionChanges,
});

export const importResultSchema = z
  .object({
    slug: z.string(),
    version: z.number().int(),
    status: z.enum(['created', 'updated', 'unchanged']),
    changes: changesSchema,
    dryRun: z.boolean(),
  })
  .meta({ id: 'ImportResult' });

export const archiveResultSchema = z.object({ slug: z.string(), version: z.number().int(), archived: z.boolean() }).meta({ id: 'ArchiveResult' });

export const versionSummarySchema = z
  .object({ version: z.number().int(), createdAt: z.string(), importedBy: z.string().nullable(), changes: changesSchema })
  .meta({ id: 'ModuleVersion' });

export const versionParams = z.strictObject({ slug: slugParam, version: z.coerce.number().int().min(1).max(1_000_000) });

export const exportQuery = z.strictObject({ format: queryEnum(['markdown', 'md', 'json'], 'markdown') });
