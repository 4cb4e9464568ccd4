import { z } from 'zod';
import { queryEnum } from '../content/schemas.js';
import { maxStatementsPerPage } from './service.js';

const languageMap = z.record(z.string(), z.string());
const activity = z.object({
  objectType: z.literal('Activity'),
  id: z.string(),
  definition: z.object({ type: z.string(), interactionType: z.string().optional(), name: languageMap }).optional(),
});

/** A statement as mnemo makes it from an answer (statement.ts), or only its ids (`format=ids`). */
export const statementSchema = z
  .object({
    id: z.uuid(),
    actor: z.object({ objectType: z.literal('Agent'), account: z.object({ homePage: z.string(), name: z.string() }) }),
    verb: z.object({ id: z.string(), display: languageMap.optional() }),
    object: activity,
    result: z.object({
      success: z.boolean(),
      response: z.string().optional(),
      duration: z.string().optional(),
      extensions: z.record(z.string(), z.number()),
    }),
    context: z.object({
      contextActivities: z.object({ parent: z.array(activity) }),
      platform: z.string(),
      language: z.string().optional(),
    }),
    timestamp: z.string(),
    stored: z.string().optional(),
  })
  .meta({ id: 'XapiStatement', description: 'An xAPI statement: one answer of one learner on one flashcard' });

export const statementResultSchema = z
  .object({
    statements: z.array(statementSchema),
    more: z.string().describe('Path of the next page, or "" on the last one'),
  })
  .meta({ id: 'XapiStatementResult' });

const uuid = z.uuid({ message: 'must be a UUID' });
const timestamp = z
  .string()
  .max(64)
  .refine((value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 timestamp with a time zone');
const flag = queryEnum(['true', 'false'], 'false');
const json = z.string().max(4096).transform((value, context) => {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    context.addIssue({ code: 'custom', message: 'must be JSON' });
    return z.NEVER;
  }
});

/** GET /xapi/statements: the xAPI Statement Resource's query parameters (unknown ones are refused, as the spec asks). */
export const statementsQuery = z.strictObject({
  statementId: uuid.optional(),
  voidedStatementId: uuid.optional(),
  agent: json.optional().describe('An Agent as JSON, e.g. {"account":{"homePage":"...","name":"<externalId>"}}'),
  verb: z.string().max(2048).optional(),
  activity: z.string().max(2048).optional(),
  registration: uuid.optional(),
  related_activities: flag,
  related_agents: flag,
  since: timestamp.optional(),
  until: timestamp.optional(),
  limit: z.coerce.number().int().min(0).max(1_000_000).default(0).describe(`0 or above ${maxStatementsPerPage}: ${maxStatementsPerPage}`),
  format: queryEnum(['exact', 'ids', 'canonical'], 'exact'),
  attachments: flag,
  ascending: flag,
  more: z.string().max(8192).optional().describe('The opaque position of a `more` link'),
});

export const outboxStatusSchema = z
  .object({
    lrsConfigured: z.boolean(),
    pending: z.number().int(),
    delivered: z.number().int(),
    parked: z.number().int(),
    oldestPendingAgeSeconds: z.number().int().nullable(),
    lastError: z.object({ message: z.string(), at: z.string().nullable() }).nullable(),
    parkedStatements: z.array(z.object({ statementId: z.string(), reason: z.string().nullable(), parkedAt: z.string() })),
  })
  .meta({ id: 'XapiOutboxStatus' });
