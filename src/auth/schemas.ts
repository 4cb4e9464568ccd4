import { z } from 'zod';
import { roles } from '../db/schema.js';
import { isPlainHttpUrl } from '../lib/plain-url.js';

export const keyName = z.string().trim().min(1, 'name must not be empty').max(100, 'name must be at most 100 characters');

export const createKeyBody = z
  .strictObject({
    role: z.enum(['admin', 'integration']).describe('Learner keys are issued per learner: POST /v1/users/{userId}/keys'),
    name: keyName,
    xapiHomePage: z
      .string()
      .max(2000)
      .refine(isPlainHttpUrl, 'must be an http:// or https:// URL without spaces, control characters or credentials')
      // As the URL parser writes it: every statement carries it, and agents are matched on it byte for byte.
      .transform((value) => new URL(value).href)
      .optional()
      .describe("An integration key's xAPI account homePage for its learners (default XAPI_ACCOUNT_HOMEPAGE)"),
  })
  .refine((body) => body.xapiHomePage === undefined || body.role === 'integration', { message: 'only an integration key has an xAPI homePage', path: ['xapiHomePage'] });

export const keyIdParams = z.strictObject({ id: z.string().min(1).max(64) });

export const keyInfoSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(roles),
    userId: z.string().nullable(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
    xapiHomePage: z.string().optional(),
  })
  .meta({ id: 'ApiKey' });

export const createdKeySchema = keyInfoSchema.extend({ token: z.string().describe('Shown once; store it now') }).meta({ id: 'CreatedApiKey' });
