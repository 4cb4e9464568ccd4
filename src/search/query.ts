import { AppError } from '../errors.js';

export const maxQueryLength = 200;
const maxTerms = 12;

/**
 * The words of what a user typed, for a repository to build its engine's query from, so no query syntax (quotes,
 * operators, `*`, parentheses, column filters) ever comes from input: words are extracted by Unicode letter/digit
 * class, at most `maxTerms` of them. Every term is required; the last one is a prefix, for type-ahead.
 */
export function parseSearchTerms(query: string): string[] {
  const terms = (query.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, maxTerms);
  if (!terms.length) {
    throw new AppError('MNEMO_REQUEST_INVALID', 'q must contain at least one letter or digit', [{ path: 'q', message: 'no searchable words' }]);
  }
  return terms;
}
