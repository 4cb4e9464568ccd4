import type { Work } from '../db/work.js';
import { encodeCursor } from './cursor.js';

/** One page of a keyset-paginated list. */
export interface Page<T> {
  items: T[];
  /** Cursor of the page after this one (REST's nextCursor); null on the last page. */
  nextCursor: string | null;
  /** Cursor of this page's last item (GraphQL's endCursor), set on the last page too; null for an empty page. */
  endCursor: string | null;
}

/**
 * Keyset pagination: asks `fetch` for one row more than the page holds, so whether another page follows is known
 * without counting; the page is the first `limit` rows, and its cursors encode the last row's `position` in
 * `list` (see lib/cursor.ts). A work (db/work.ts), so that it runs inside the caller's snapshot on either engine.
 */
export function* keysetPage<T>(
  list: string,
  limit: number,
  fetch: (limit: number) => Work<T[]>,
  position: (item: T) => Record<string, string | number>,
): Work<Page<T>> {
  const rows = yield* fetch(limit + 1);
  const hasMore = rows.length > limit;
  const items = hasMore ? rows.slice(0, limit) : rows;
  const last = items.at(-1);
  const endCursor = last === undefined ? null : encodeCursor(list, position(last));
  return { items, nextCursor: hasMore ? endCursor : null, endCursor };
}

/** The same page with its items presented differently; the cursors stay those of the rows. */
export const mapPage = <T, U>(page: Page<T>, present: (item: T) => U): Page<U> => ({ ...page, items: page.items.map(present) });

/** GraphQL's PageInfo of a page: every connection reports endCursor the same way. */
export const pageInfo = (page: Pick<Page<unknown>, 'nextCursor' | 'endCursor'>) => ({
  hasNextPage: page.nextCursor !== null,
  endCursor: page.endCursor,
});
