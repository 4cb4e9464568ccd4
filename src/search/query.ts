import { AppError } from '../errors.js';

export const maxQueryLength = 200;
const maxTerms = 12;

/**
 * Builds an FTS5 MATCH expression from what a user typed, so no FTS syntax (quotes, operators, `*`, parentheses,
 * column filters) ever comes from input: words are extracted by Unicode letter/digit class, each quoted as a
 * phrase, all required; the last one is a prefix, for type-ahead.
 */
export function buildMatchExpression(query: string): string {
  const terms = (query.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, maxTerms);
  if (!terms.length) {
    throw new AppError('MNEMO_REQUEST_INVALID', 'q must contain at least one letter or digit', [{ path: 'q', message: 'no searchable words' }]);
  }
  return terms.map((term, index) => `"${term}"${index === terms.length - 1 ? '*' : ''}`).join(' ');
}
