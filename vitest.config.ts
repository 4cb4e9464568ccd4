import { defineConfig } from 'vitest/config';

/**
 * Files that exercise SQLite itself (its file, WAL, locks, pragmas, backups, crash recovery, the 0.1.0 upgrade) or
 * a process started on a SQLite file; everything else runs on both engines.
 */
const sqliteOnly: string[] = [
  // PRAGMA query_only and a closed SQLite connection. PostgreSQL: SQLSTATE 25006 (read-only) is not mapped to 503 in
  // src/db/failures.ts, and /readyz probes on its own pool (src/db/postgres.ts), so ending the app's pool leaves it 200.
  'test/security/failures-sqlite.test.ts',
  // Start dist/main.js with DATABASE_PATH: the server is SQLite in either project (and they verify the file), so the
  // postgres project would only run them again. Several processes on PostgreSQL: multi-instance.test.ts.
  'test/reliability/shutdown.test.ts',
  'test/reliability/concurrent-writers.test.ts',
  'test/reliability/crash-safety.test.ts',
  'test/reliability/drain.test.ts',
  'test/reliability/load.test.ts',
  'test/reliability/vanished-database.test.ts',
  'test/reliability/wal-bounds.test.ts',
  'test/reliability/write-lock.test.ts',
];

/**
 * Files that need PostgreSQL in either project: several server processes sharing one database, which they create
 * themselves (createTestDatabase), or behaviour only PostgreSQL has (its learner locks). They run once, in the
 * postgres project; the sqlite project leaves them out.
 */
const postgresOnly: string[] = ['test/reliability/multi-instance.test.ts', 'test/learning/group-commit-postgres.test.ts', 'test/xapi/delivery-instances.test.ts'];

/**
 * Files that open both engines themselves (parity between SQLite and PostgreSQL, the PostgreSQL client and store):
 * they do not depend on MNEMO_TEST_BACKEND, so running them again in the postgres project would only repeat them.
 */
const engineIndependent: string[] = ['test/learning/postgres-parity.test.ts', 'test/content/postgres-parity.test.ts', 'test/db/postgres-*.test.ts', 'test/db/copy-to-postgres.test.ts', 'test/http/rate-limit-redis.test.ts', 'test/auth/failed-auth-redis.test.ts', 'test/xapi/lrs-client.test.ts'];

export default defineConfig({
  resolve: {
    // Node loads graphql's CommonJS build (package "main") for mercurius and for us; Vite would pick the ESM build
    // for our files, and graphql refuses objects from a second copy of itself.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // One PostgreSQL server per run (local, TEST_DATABASE_URL or a throw-away embedded one); files get their own database.
    globalSetup: ['test/helpers/postgres-global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'sqlite', exclude: postgresOnly } },
      // The same suite with every app built by buildTestApp on its own PostgreSQL database.
      { extends: true, test: { name: 'postgres', env: { MNEMO_TEST_BACKEND: 'postgres' }, exclude: [...sqliteOnly, ...engineIndependent] } },
    ],
  },
});
