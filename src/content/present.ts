import type { RenderedText, TextFormat } from './module-source/text-format.js';
import type {
  CheatSheetRowRecord,
  FlashcardRecord,
  ModuleContent,
  ModuleRecord,
  RevisionItemRecord,
  TakeawayRecord,
} from './records.js';
import type {
  CheatSheetDto,
  FlashcardDto,
  ModuleDto,
  ModuleSummaryDto,
  RevisionItemDto,
  StandaloneFlashcardDto,
  TakeawayDto,
} from './schemas.js';

/**
 * Records to API shapes in one format. REST serialises these; GraphQL resolves the same records field by field
 * through `pick`, so both doors serve identical text.
 */
export const pick = (text: RenderedText, format: TextFormat): string => text[format];

export function presentTakeaway(item: TakeawayRecord, format: TextFormat): TakeawayDto {
  return { id: item.id, position: item.position, title: pick(item.title, format), body: pick(item.body, format) };
}

export function presentFlashcard(card: FlashcardRecord, format: TextFormat): FlashcardDto {
  return {
    id: card.id,
    key: card.key,
    position: card.position,
    question: pick(card.question, format),
    answer: pick(card.answer, format),
  };
}

export function presentStandaloneFlashcard(
  card: FlashcardRecord,
  module: ModuleRecord,
  format: TextFormat,
): StandaloneFlashcardDto {
  return { ...presentFlashcard(card, format), moduleSlug: module.slug, archived: card.archivedAt !== null };
}

export function presentCheatSheet(
  columns: RenderedText[] | null,
  rows: CheatSheetRowRecord[],
  format: TextFormat,
): CheatSheetDto | null {
  if (columns === null) return null;
  return {
    columns: columns.map((column) => pick(column, format)),
    rows: rows.map((row) => ({ position: row.position, cells: row.cells.map((cell) => pick(cell, format)) })),
  };
}

export function presentRevisionItem(item: RevisionItemRecord, format: TextFormat): RevisionItemDto {
  return {
    id: item.id,
    position: item.position,
    term: pick(item.term, format),
    definition: pick(item.definition, format),
  };
}

function moduleFields(module: ModuleRecord, format: TextFormat) {
  return {
    id: module.id,
    slug: module.slug,
    title: pick(module.title, format),
    summary: module.summary && pick(module.summary, format),
    tags: module.tags,
    version: module.version,
    createdAt: module.createdAt,
    updatedAt: module.updatedAt,
  };
}

export function presentModuleSummary(module: ModuleRecord, format: TextFormat): ModuleSummaryDto {
  return { ...moduleFields(module, format), counts: module.counts };
}

export function presentModule(content: ModuleContent, format: TextFormat): ModuleDto {
  return {
    ...moduleFields(content.module, format),
    takeaways: content.takeaways.map((item) => presentTakeaway(item, format)),
    flashcards: content.flashcards.map((card) => presentFlashcard(card, format)),
    cheatSheet: presentCheatSheet(content.module.cheatSheetColumns, content.cheatSheetRows, format),
    revisionItems: content.revisionItems.map((item) => presentRevisionItem(item, format)),
  };
}
