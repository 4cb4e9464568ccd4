import { z } from 'zod';

/** The problem+json body, for the OpenAPI document. Loose: handlers may add members such as `errors`. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    code: z.string().describe('Stable MNEMO_* error code'),
    requestId: z.string(),
    errors: z
      .array(z.looseObject({ message: z.string(), path: z.string().optional(), line: z.number().int().optional() }))
      .optional()
      .describe('Each failing field or source line'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

/** Problem responses a route can produce, keyed by status, for route schemas. */
export function problemResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema])) as Record<S[number], typeof problemSchema>;
}

export const notModified = z.null().describe('Not modified: the ETag in If-None-Match is current');
