import { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * Opaque keyset cursors: base64url JSON tagged with the list they belong to, so a cursor from one list is
 * rejected by another instead of silently returning the wrong page.
 */
export function encodeCursor(list: string, position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify({ l: list, ...position })).toString('base64url');
}

export function decodeCursor<T extends z.ZodRawShape>(list: string, cursor: string, shape: T): z.infer<z.ZodObject<T>> {
  const schema = z.strictObject({ l: z.literal(list), ...shape });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw badCursor();
  const { l: _list, ...position } = result.data as Record<string, unknown>;
  return position as z.infer<z.ZodObject<T>>;
}

const badCursor = () =>
  new AppError('MNEMO_REQUEST_BAD_CURSOR', 'cursor is malformed or belongs to another list; start again without one', [
    { path: 'cursor', message: 'malformed cursor' },
  ]);
