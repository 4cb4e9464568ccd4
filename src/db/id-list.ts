import { sql } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';

/**
 * `column IN (the ids)`, with the ids bound as one JSON array (`json_each`) under the placeholder `ids`: a statement
 * prepared once serves any number of ids. Bind the array with `idList`.
 */
export const inIdList = (column: SQLiteColumn) => sql`${column} IN (SELECT value FROM json_each(${sql.placeholder('ids')}))`;

export const idList = (ids: readonly string[]) => JSON.stringify(ids);
