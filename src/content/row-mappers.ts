import type { CheatSheetRowRow, FlashcardRow, ModuleRow, modules, RevisionItemRow, TakeawayRow } from '../db/schema.js';
import type { RenderedText } from './module-source/text-format.js';
import type { CheatSheetRowRecord, FlashcardRecord, ModuleRecord, ModuleWrite, RevisionItemRecord, TakeawayRecord } from './records.js';

/*
 * Between content records and their SQLite rows. Every rendered text is stored as three columns (Markdown, HTML,
 * plain text); lists of texts (cheat-sheet cells and columns) as three JSON arrays.
 */

type Suffixed<N extends string> = { [K in `${N}Md` | `${N}Html` | `${N}Text`]: string };

export function columns<N extends string>(name: N, text: RenderedText): Suffixed<N> {
  return { [`${name}Md`]: text.markdown, [`${name}Html`]: text.html, [`${name}Text`]: text.text } as Suffixed<N>;
}

export function jsonColumns<N extends string>(name: N, texts: RenderedText[]): Suffixed<N> {
  return columns(name, {
    markdown: JSON.stringify(texts.map((text) => text.markdown)),
    html: JSON.stringify(texts.map((text) => text.html)),
    text: JSON.stringify(texts.map((text) => text.text)),
  });
}

const rendered = (markdown: string, html: string, text: string): RenderedText => ({ markdown, html, text });

function renderedList(markdown: string, html: string, text: string): RenderedText[] {
  const md = JSON.parse(markdown) as string[];
  const htmls = JSON.parse(html) as string[];
  const texts = JSON.parse(text) as string[];
  return md.map((value, index) => rendered(value, htmls[index] ?? '', texts[index] ?? ''));
}

export function toModule(row: ModuleRow): ModuleRecord {
  return {
    id: row.id,
    slug: row.slug,
    title: rendered(row.titleMd, row.titleHtml, row.titleText),
    summary: row.summaryMd === null ? null : rendered(row.summaryMd, row.summaryHtml ?? '', row.summaryText ?? ''),
    tags: JSON.parse(row.tags) as string[],
    version: row.version,
    contentHash: row.contentHash,
    cheatSheetColumns:
      row.cheatSheetColumnsMd === null
        ? null
        : renderedList(row.cheatSheetColumnsMd, row.cheatSheetColumnsHtml ?? '[]', row.cheatSheetColumnsText ?? '[]'),
    counts: {
      takeaways: row.takeawayCount,
      flashcards: row.flashcardCount,
      cheatSheetRows: row.cheatSheetRowCount,
      revisionItems: row.revisionItemCount,
    },
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    archivedAt: row.archivedAt,
  };
}

export function toModuleRow(module: ModuleWrite): typeof modules.$inferInsert {
  const columnsJson = module.cheatSheetColumns && jsonColumns('cheatSheetColumns', module.cheatSheetColumns);
  return {
    id: module.id,
    slug: module.slug,
    ...columns('title', module.title),
    summaryMd: module.summary?.markdown ?? null,
    summaryHtml: module.summary?.html ?? null,
    summaryText: module.summary?.text ?? null,
    tags: JSON.stringify(module.tags),
    cheatSheetColumnsMd: columnsJson?.cheatSheetColumnsMd ?? null,
    cheatSheetColumnsHtml: columnsJson?.cheatSheetColumnsHtml ?? null,
    cheatSheetColumnsText: columnsJson?.cheatSheetColumnsText ?? null,
    version: module.version,
    contentHash: module.contentHash,
    takeawayCount: module.counts.takeaways,
    flashcardCount: module.counts.flashcards,
    cheatSheetRowCount: module.counts.cheatSheetRows,
    revisionItemCount: module.counts.revisionItems,
    createdAt: module.createdAt,
    updatedAt: module.updatedAt,
  };
}

export function toTakeaway(row: TakeawayRow): TakeawayRecord {
  return {
    id: row.id,
    moduleId: row.moduleId,
    position: row.position,
    title: rendered(row.titleMd, row.titleHtml, row.titleText),
    body: rendered(row.bodyMd, row.bodyHtml, row.bodyText),
  };
}

export function toFlashcard(row: FlashcardRow): FlashcardRecord {
  return {
    id: row.id,
    moduleId: row.moduleId,
    key: row.key,
    position: row.position,
    question: rendered(row.questionMd, row.questionHtml, row.questionText),
    answer: rendered(row.answerMd, row.answerHtml, row.answerText),
    archivedAt: row.archivedAt,
  };
}

export function toCheatSheetRow(row: CheatSheetRowRow): CheatSheetRowRecord {
  return { id: row.id, moduleId: row.moduleId, position: row.position, cells: renderedList(row.cellsMd, row.cellsHtml, row.cellsText) };
}

export function toRevisionItem(row: RevisionItemRow): RevisionItemRecord {
  return {
    id: row.id,
    moduleId: row.moduleId,
    position: row.position,
    term: rendered(row.termMd, row.termHtml, row.termText),
    definition: rendered(row.definitionMd, row.definitionHtml, row.definitionText),
  };
}
