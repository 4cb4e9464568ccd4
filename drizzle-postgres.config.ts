import { defineConfig } from 'drizzle-kit';

/** PostgreSQL's migrations, generated from src/db/schema-pg.ts beside SQLite's (drizzle.config.ts). */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema-pg.ts',
  out: './migrations/postgres',
  strict: true,
  verbose: true,
});
