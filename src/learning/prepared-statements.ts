/** The part of a Drizzle prepared select the learning repositories use. */
export interface PreparedAll<T> {
  all(values: Record<string, unknown>): T[];
}

export const optional = <T>(row: T | undefined): T[] => (row === undefined ? [] : [row]);

/** Drops undefined values, so optional filters bind only when their placeholder exists. */
export const defined = (values: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Record<string, string>;

/** The shape of a query's optional filters: which are present, as a cache key for its prepared statement. */
export const shapeOf = (...filters: unknown[]) => filters.map((value) => (value === undefined ? 0 : 1)).join('');

/** Queries with optional filters are prepared once per combination of filters present, on first use. */
export function prepared<T>(cache: Map<string, T>, shape: string, build: () => T): T {
  let statement = cache.get(shape);
  if (!statement) {
    statement = build();
    cache.set(shape, statement);
  }
  return statement;
}
