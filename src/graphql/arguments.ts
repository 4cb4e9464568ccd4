import type { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * GraphQL arguments checked with the zod schema of the REST route that serves the same data, so both doors
 * share one definition of every limit. Failures are MNEMO_REQUEST_INVALID with the failing fields.
 */
export function parseArguments<S extends z.ZodType>(schema: S, values: Record<string, unknown>): z.output<S> {
  const defined = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null && value !== undefined));
  const result = schema.safeParse(defined);
  if (result.success) return result.data;
  const errors = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new AppError('MNEMO_REQUEST_INVALID', errors.map((error) => `${error.path}: ${error.message}`).join('; '), errors);
}
