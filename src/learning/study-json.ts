import type { TextFormat } from '../content/module-source/text-format.js';
import type { FlashcardRecord } from '../content/records.js';
import { serializerFor } from '../http/zod.js';
import { studyItemSchema } from './schemas.js';
import { presentStudyCard, type StudyItem } from './study-service.js';

const flashcardJson = serializerFor(studyItemSchema.shape.flashcard);
const stateJson = serializerFor(studyItemSchema.shape.state);
const reasonJson = { due: '"due"', new: '"new"' } as const;

// A card's JSON in each format, kept with the card record: the content cache shares one record per card while its
// module's version is current, so the text, most of a study queue's bytes, is escaped once rather than per request.
const cardParts = new WeakMap<FlashcardRecord, Partial<Record<TextFormat, string>>>();

function cardJson(item: StudyItem, format: TextFormat): string {
  let parts = cardParts.get(item.card);
  if (!parts) {
    parts = {};
    cardParts.set(item.card, parts);
  }
  return (parts[format] ??= flashcardJson(presentStudyCard(item, format)));
}

/**
 * The study queue's body, `{ items: StudyItem[] }`, as the route's response schema serialises it (the same
 * serializers, fields in schema order), with each card's part serialised once per format.
 */
export function studyItemsJson(items: readonly StudyItem[], format: TextFormat): string {
  const parts = items.map((item) => `{"reason":${reasonJson[item.reason]},"flashcard":${cardJson(item, format)},"state":${stateJson(item.state)}}`);
  return `{"items":[${parts.join(',')}]}`;
}
