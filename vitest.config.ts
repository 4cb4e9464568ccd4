import { defineConfig } from 'vitest/config';

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
  },
});
