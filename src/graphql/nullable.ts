import { isAppError, type ErrorCode } from '../errors.js';

/**
 * The one rule for nullable lookups (`module`, `flashcard`, `user`): "not found" (or not visible to the caller,
 * which answers the same) becomes null, as the schema promises; every other error propagates.
 */
export async function nullWhenNotFound<T>(lookup: () => T | Promise<T>, ...notFound: ErrorCode[]): Promise<T | null> {
  try {
    return await lookup();
  } catch (error) {
    if (isAppError(error) && notFound.includes(error.code)) return null;
    throw error;
  }
}
