import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseFailureOf } from '../../src/db/failures.js';
import { redactUrl } from '../../src/lib/redact-url.js';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { bearer } from '../helpers/learners.js';
import { useTestDatabase } from '../helpers/postgres-server.js';

const database = useTestDatabase();

const withCode = (code: string) => Object.assign(new Error('x'), { code });

describe('database failures', () => {
  it('maps both engines to conflict, busy or unavailable, through a wrapping cause, and leaves bugs alone', () => {
    expect(databaseFailureOf(withCode('SQLITE_CONSTRAINT_FOREIGNKEY'))).toBe('conflict');
    expect(databaseFailureOf(new Error('query failed', { cause: withCode('23503') }))).toBe('conflict');
    for (const code of ['23505', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']) expect(databaseFailureOf(withCode(code)), code).toBe('conflict');
    expect(databaseFailureOf(new Error('invalid byte sequence', { cause: withCode('22021') }))).toBe('unstorable');
    expect(databaseFailureOf(withCode('SQLITE_BUSY'))).toBe('busy');
    expect(databaseFailureOf(new Error('canceling statement due to statement timeout', { cause: withCode('57014') }))).toBe('busy');
    for (const code of ['SQLITE_FULL', 'SQLITE_IOERR_WRITE', '08006', '53300', '57P01', '25006', 'ECONNREFUSED']) expect(databaseFailureOf(withCode(code)), code).toBe('unavailable');
    expect(databaseFailureOf(new Error('timeout exceeded when trying to connect'))).toBe('unavailable');
    // Drizzle's wrapper around the driver's message.
    for (const message of ['timeout exceeded when trying to connect', 'Query read timeout', 'Connection terminated due to connection timeout']) {
      expect(databaseFailureOf(new Error('Failed query: select 1', { cause: new Error(message) })), message).toBe('unavailable');
    }
    for (const code of ['42601', 'SQLITE_ERROR']) expect(databaseFailureOf(withCode(code)), code).toBeUndefined();
    expect(databaseFailureOf(new TypeError('x is undefined'))).toBeUndefined();
  });

  it('never shows a password, in the user part or in the query', () => {
    expect(redactUrl('postgres://u:s3cret@h:5432/db?password=S3CRETQ&sslpassword=k3y&sslmode=require')).toBe('postgres://u:***@h:5432/db?password=***&sslpassword=***&sslmode=require');
    expect(redactUrl('not a url with s3cret')).toBe('(not a URL)');
    expect(redactUrl('postgres:/bad S3cretPw')).toBe('(not a URL)');
    // Unencoded characters a parser would take for the fragment, path or query.
    for (const password of ['5432#Secret9', 'a/b?c#d', 'p@ss']) {
      const shown = redactUrl(`postgres://postgres:${password}@127.0.0.1:5432/x`);
      expect(shown, password).toBe('postgres://postgres:***@127.0.0.1:5432/x');
    }
  });

  it('a statement PostgreSQL cancels for taking too long is a 503 problem, with no SQL in it', async () => {
    const app = await buildApp({ ...testConfig(), postgres: { url: database.url, poolMax: 2, statementTimeoutMs: 300, connectTimeoutMs: 5000 } });
    const admin = bearer((await app.auth.createKey({ role: 'admin', name: 'admin' }, null)).token);
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      const response = await app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { externalId: 'slow' } });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: 'MNEMO_SERVICE_UNAVAILABLE', detail: 'the database is busy; retry shortly' });
      expect(response.body).not.toMatch(/select|insert|canceling|timeout/i);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
      await app.close();
    }
  });
});
