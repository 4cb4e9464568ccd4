import { sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';

/**
 * json_build_object('key', column, ...): a row as JSON with the keys Drizzle would give it. Text and integers come
 * back as they are stored; a float8 prints as the shortest text that reads back as the same double.
 */
export const jsonRow = (columns: Record<string, PgColumn>): SQL =>
  sql`json_build_object(${sql.join(
    Object.entries(columns).map(([key, column]) => sql`${sql.raw(`'${key}'`)}, ${column}`),
    sql`, `,
  )})`;

/** The rows `from` selects as one JSON array (`[]` when there are none), in `orderBy` order when given. */
export const jsonRows = (columns: Record<string, PgColumn>, from: SQL, orderBy?: SQL): SQL =>
  sql`(SELECT coalesce(json_agg(${jsonRow(columns)}${orderBy ? sql` ORDER BY ${orderBy}` : sql``}), '[]'::json) ${from})`;
