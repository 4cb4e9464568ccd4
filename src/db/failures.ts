/** What a database error means for the client, on either engine; undefined when it is a bug (a 500). */
export type DatabaseFailure = 'conflict' | 'busy' | 'unavailable' | 'unstorable';

/** The driver's code: better-sqlite3's and pg's errors carry one; Drizzle wraps pg's in `cause`. */
function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 3; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** The messages along the cause chain: Drizzle wraps the driver's error ("Failed query: ...") in its own. */
function messagesOf(error: unknown): string {
  const messages: string[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 3; current = current.cause, depth++) messages.push(current.message);
  return messages.join('\n');
}

/**
 * A row the request relied on deleted, or the row it was creating created, by a write that committed first
 * (`conflict`: two instances racing to create one user, say; a retry sees the winner's row); text the database cannot hold
 * (`unstorable`: a NUL character on PostgreSQL); the database busy or out of
 * time (`busy`); storage or the connection failing (`unavailable`). SQLite's result codes, PostgreSQL's SQLSTATEs
 * (08 connection, 53 resources, 57P0x shutdown, 25006 a read-only server, 57014 statement timeout) and the network errors of a lost server.
 */
export function databaseFailureOf(error: unknown): DatabaseFailure | undefined {
  const code = codeOf(error);
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') return 'conflict';
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') return 'conflict';
  // PostgreSQL's text cannot hold a NUL character (SQLite's can): a request that sends one is refused, not a 500.
  if (code === '22021' || code === '22P05') return 'unstorable';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === '57014' || code === '55P03' || code === '40001' || code === '40P01') return 'busy';
  if (code !== undefined && /^SQLITE_(READONLY|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB)/.test(code)) return 'unavailable';
  if (code !== undefined && (/^(08|53|57P0)/.test(code) || code === '25006' || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code))) return 'unavailable';
  // pg's own errors carry no code: no connection came free in time, the server went away mid-query, or a query got
  // no answer at all within the client's limit (a dead network path).
  if (/timeout exceeded when trying to connect|Connection terminated|Query read timeout/i.test(messagesOf(error))) return 'unavailable';
  return undefined;
}
