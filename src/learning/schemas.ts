import { z } from 'zod';
import { formatQuery, optionalQueryEnum, slugParam } from '../content/schemas.js';
import { unlessMissing } from '../http/validation-messages.js';
import { cardStateNames } from './scheduler.js';

/** Request and response shapes of the learning API (learners, answers, card states, study, progress). */

const isoDateTime = z.iso.datetime({ offset: true, error: unlessMissing((field) => `${field} must be an ISO-8601 date-time with a time zone, e.g. 2026-11-26T09:30:00Z`) });

export const userIdParams = z.strictObject({ userId: z.string().min(1).max(64) });

export const createUserBody = z.strictObject({
  externalId: z.string().trim().min(1, 'externalId must not be empty').max(200),
  displayName: z.string().trim().min(1).max(200).optional(),
});

/** PATCH /v1/users/:userId: a new display name, or null to remove it. */
export const updateUserBody = z.strictObject({ displayName: z.string().trim().min(1).max(200).nullable() });

export const findUsersQuery = z.strictObject({ externalId: z.string().min(1).max(200) });

export const createLearnerKeyBody = z.strictObject({ name: z.string().trim().min(1).max(100).default('learner') }).default({ name: 'learner' });

export const userSchema = z
  .object({ id: z.string(), externalId: z.string(), displayName: z.string().nullable(), createdAt: z.string() })
  .meta({ id: 'Learner' });

/**
 * Text stored or looked up as the client sent it: well-formed Unicode without U+0000. PostgreSQL's text cannot hold
 * a NUL, and a lone surrogate would be stored as U+FFFD (so a retry of the same answer would no longer match it) or
 * refused inside a statement shared with other learners' writes.
 */
const storableText = (text: string) => !text.includes('\u0000') && !/\p{Cs}/u.test(text); // \p{Cs} in a u-mode pattern: a lone surrogate
const storableMessage = 'must be well-formed Unicode text without U+0000';

/** One answer as a client submits it. Strict: unknown fields are refused rather than silently stored. */
export const answerInputSchema = z
  .strictObject({
    clientAnswerId: z.uuid({ error: unlessMissing('clientAnswerId must be a UUID') }),
    flashcardId: z.string().min(1).max(64).refine(storableText, `flashcardId ${storableMessage}`),
    rating: z
      .union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)], { error: 'rating must be 1 (Again), 2 (Hard), 3 (Good) or 4 (Easy)' })
      .optional(),
    correct: z.boolean().optional(),
    answeredAt: isoDateTime,
    durationMs: z.number().int().min(0).max(24 * 60 * 60 * 1000).optional(),
    response: z.string().max(10_000).refine(storableText, `response ${storableMessage}`).optional(),
  })
  .refine((answer) => answer.rating !== undefined || answer.correct !== undefined, {
    message: 'rating or correct is required',
    path: ['rating'],
  })
  .meta({ id: 'NewAnswer' });

export type AnswerInput = z.infer<typeof answerInputSchema>;

export const maxBatchAnswers = 500;

export const answerBatchBody = z.strictObject({
  // Items are validated one by one so that valid answers are stored even when others are not.
  answers: z.array(z.unknown()).min(1, 'answers must not be empty').max(maxBatchAnswers, `at most ${maxBatchAnswers} answers per batch`),
});

export const answerSchema = z
  .object({
    id: z.string(),
    clientAnswerId: z.string(),
    flashcardId: z.string(),
    moduleSlug: z.string(),
    rating: z.number().int(),
    correct: z.boolean().nullable(),
    answeredAt: z.string(),
    receivedAt: z.string(),
    durationMs: z.number().int().nullable(),
    response: z.string().nullable(),
  })
  .meta({ id: 'Answer' });

export const answerStatuses = ['created', 'duplicate', 'conflict', 'invalid'] as const;

export const batchResultSchema = z.object({
  results: z.array(
    z.object({
      clientAnswerId: z.string().nullable(),
      status: z.enum(answerStatuses),
      answer: answerSchema.optional(),
      error: z
        .object({
          code: z.string(),
          message: z.string(),
          errors: z.array(z.object({ path: z.string().optional(), message: z.string() })).optional(),
        })
        .optional(),
    }),
  ),
});

/** Largest pages and queues of the learner API, over REST (`limit`) and GraphQL (`first`, `limit`). */
export const learnerPageLimits = { history: 100, cards: 500, study: 100, newCards: 100 } as const;

export const historyQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(learnerPageLimits.history).default(50),
  cursor: z.string().max(512).optional(),
  module: slugParam.optional(),
  flashcardId: z.string().min(1).max(64).optional(),
  since: isoDateTime.optional(),
  until: isoDateTime.optional(),
});

export const cardsQuery = z.strictObject({
  module: slugParam.optional(),
  due: optionalQueryEnum(['true', 'false']).describe('true: only cards due now'),
  limit: z.coerce.number().int().min(1).max(learnerPageLimits.cards).default(100),
  cursor: z.string().max(512).optional(),
});

export const cardStateSchema = z
  .object({
    flashcardId: z.string(),
    moduleSlug: z.string(),
    state: z.enum(cardStateNames),
    due: z.string(),
    stability: z.number(),
    difficulty: z.number(),
    reps: z.number().int(),
    lapses: z.number().int(),
    lastAnsweredAt: z.string(),
    retrievability: z.number().describe('Probability of recall now, 0 to 1'),
  })
  .meta({ id: 'CardState' });

export const studyQuery = z.strictObject({
  module: slugParam.optional(),
  limit: z.coerce.number().int().min(1).max(learnerPageLimits.study).default(20),
  newLimit: z.coerce.number().int().min(0).max(learnerPageLimits.newCards).default(10),
  format: formatQuery,
});

export const studyItemSchema = z
  .object({
    reason: z.enum(['due', 'new']),
    flashcard: z.object({
      id: z.string(),
      key: z.string(),
      position: z.number().int(),
      question: z.string(),
      answer: z.string(),
      moduleSlug: z.string(),
    }),
    state: cardStateSchema.nullable(),
  })
  .meta({ id: 'StudyItem' });

export const progressQuery = z.strictObject({ module: slugParam.optional() });

export const progressSchema = z
  .object({
    moduleSlug: z.string(),
    totalCards: z.number().int(),
    seenCards: z.number().int(),
    dueNow: z.number().int(),
    mastered: z.number().int().describe('Cards in review with stability of at least 21 days'),
    answers: z.number().int(),
    accuracy: z.number().nullable().describe('Share of answers rated above Again; null without answers'),
    lastAnsweredAt: z.string().nullable(),
    streakDays: z.number().int().describe('Consecutive UTC days with an answer, ending today or yesterday'),
  })
  .meta({ id: 'ModuleProgress' });

export type AnswerDto = z.infer<typeof answerSchema>;
export type CardStateDto = z.infer<typeof cardStateSchema>;
export type StudyItemDto = z.infer<typeof studyItemSchema>;
export type ProgressDto = z.infer<typeof progressSchema>;
export type UserDto = z.infer<typeof userSchema>;
