import type { RenderedText } from './module-source/text-format.js';

/** Content as the service layer sees it: every text in all three renderings, ready to be served in any format. */
export interface ModuleRecord {
  id: string;
  slug: string;
  title: RenderedText;
  summary: RenderedText | null;
  tags: string[];
  version: number;
  contentHash: string;
  cheatSheetColumns: RenderedText[] | null;
  counts: SectionCounts;
  createdAt: string;
  updatedAt: string;
  archivedAt: string | null;
}

export interface SectionCounts {
  takeaways: number;
  flashcards: number;
  cheatSheetRows: number;
  revisionItems: number;
}

export interface TakeawayRecord {
  id: string;
  moduleId: string;
  position: number;
  title: RenderedText;
  body: RenderedText;
}

export interface FlashcardRecord {
  id: string;
  moduleId: string;
  key: string;
  position: number;
  question: RenderedText;
  answer: RenderedText;
  archivedAt: string | null;
}

export interface CheatSheetRowRecord {
  id: string;
  moduleId: string;
  position: number;
  cells: RenderedText[];
}

export interface RevisionItemRecord {
  id: string;
  moduleId: string;
  position: number;
  term: RenderedText;
  definition: RenderedText;
}

export interface ModuleSections {
  takeaways: TakeawayRecord[];
  flashcards: FlashcardRecord[];
  cheatSheetRows: CheatSheetRowRecord[];
  revisionItems: RevisionItemRecord[];
}

export interface ModuleContent extends ModuleSections {
  module: ModuleRecord;
}

/** The fields a module version is written with (ids already assigned by the import). */
export type ModuleWrite = Omit<ModuleRecord, 'archivedAt'>;

export interface SectionWrite {
  takeaways: Omit<TakeawayRecord, 'moduleId'>[];
  flashcards: Omit<FlashcardRecord, 'moduleId' | 'archivedAt'>[];
  cheatSheetRows: Omit<CheatSheetRowRecord, 'moduleId'>[];
  revisionItems: Omit<RevisionItemRecord, 'moduleId'>[];
}
