import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase } from '../src/db/client.js';
import { copyToPostgres } from '../src/db/copy-to-postgres.js';
import { openPostgres, postgresMigrationsFolder } from '../src/db/postgres.js';
import { redactUrl } from '../src/lib/redact-url.js';
import { dataRoot, type Dataset } from './dataset.js';

/**
 * `--backend postgres`: the same dataset on PostgreSQL. The SQLite dataset is copied once (the CLI's copy-to,
 * verified by counts and checksums) into a template database named after the dataset's key and PostgreSQL's
 * migrations; every run then gets its own `CREATE DATABASE ... TEMPLATE`, a file-level copy, as the SQLite run
 * copies its file, so the write scenarios never change the template.
 */

/** The server the benchmark's databases live on: BENCH_POSTGRES_URL, else the local server's `postgres` database. */
export const benchPostgresUrl = (): string => process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const databaseUrl = (adminUrl: string, name: string) => {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

async function withAdmin<T>(adminUrl: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`BENCH_POSTGRES_URL=${redactUrl(adminUrl)}: ${(error as Error).message} (set BENCH_POSTGRES_URL to a server the benchmark may create databases on)`);
  }
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

const exists = async (client: pg.Client, name: string) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;

/** The template holding `dataset`, built (copied from the SQLite file) when missing, from another build, or when `rebuild`. */
export async function ensurePostgresTemplate(dataset: Dataset, adminUrl: string, rebuild: boolean, log: (line: string) => void = console.log): Promise<{ name: string; reused: boolean; copySeconds: number }> {
  const journal = readFileSync(join(postgresMigrationsFolder, 'meta', '_journal.json'), 'utf8');
  const name = `mnemo_bench_${dataset.manifest.key}_${createHash('sha256').update(journal).digest('hex').slice(0, 8)}`;
  const building = `${name}_building`;
  // The template names the build it was copied from: a dataset rebuilt under the same key (--rebuild, another
  // checkout, a deleted bench/.data) has other tokens and ids, and a template of the old one would answer 401s.
  const builtFrom = `mnemo bench dataset built ${dataset.manifest.builtAt}`;
  const reused = await withAdmin(adminUrl, async (client) => {
    if (!rebuild && (await exists(client, name))) {
      const comment = await client.query<{ comment: string | null }>(`SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`, [name]);
      if (comment.rows[0]?.comment === builtFrom) return true;
    }
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${building}`);
    return false;
  });
  if (reused) return { name, reused, copySeconds: 0 };

  log(`Copying the dataset to PostgreSQL (${name}) ...`);
  const started = performance.now();
  const source = openDatabase({ path: dataset.dbPath, synchronous: 'NORMAL', busyTimeoutMs: 5000, migrate: false });
  const target = await openPostgres({ url: databaseUrl(adminUrl, building), poolMax: 2, statementTimeoutMs: 0, connectTimeoutMs: 5000 });
  try {
    const tables = await copyToPostgres(source, target.pool, { force: false });
    log(`  ${tables.map((table) => `${table.table} ${table.rows.toLocaleString('en-US')}`).join(', ')}`);
    await target.pool.query('VACUUM ANALYZE');
  } finally {
    await target.close();
    source.close();
  }
  await withAdmin(adminUrl, async (client) => {
    // Templates of datasets that are gone from bench/.data (rebuilt by a newer generator or schema) are never used
    // again; those of other sizes still there (--quick and full) stay.
    const live = new Set(readdirSync(dataRoot).map((entry) => entry.slice(entry.lastIndexOf('-') + 1)));
    const templates = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'mnemo\\_bench\\_%' AND datname NOT LIKE 'mnemo\\_bench\\_run\\_%' AND datname <> $1`, [building]);
    const stale = templates.rows.filter(({ datname }) => !live.has(datname.split('_')[2] ?? '') || (datname.split('_')[2] === dataset.manifest.key && datname !== name));
    for (const { datname } of stale) await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await client.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
    await client.query(`COMMENT ON DATABASE ${name} IS ${client.escapeLiteral(builtFrom)}`);
  });
  const copySeconds = (performance.now() - started) / 1000;
  log(`  copied in ${copySeconds.toFixed(1)} s`);
  return { name, reused, copySeconds };
}

/** A throw-away copy of the template for one run; `drop` removes it. */
export async function createRunDatabase(adminUrl: string, template: string): Promise<{ url: string; bytes: number; drop: () => Promise<void> }> {
  const name = `mnemo_bench_run_${process.pid}`;
  const bytes = await withAdmin(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    return Number((await client.query<{ bytes: string }>('SELECT pg_database_size($1) AS bytes', [name])).rows[0]!.bytes);
  });
  return {
    url: databaseUrl(adminUrl, name),
    bytes,
    drop: () => withAdmin(adminUrl, async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
