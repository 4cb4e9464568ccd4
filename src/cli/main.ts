import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { relative, resolve } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { importFile, moduleFiles, type FileImportOutcome } from '../content/seed.js';
import { includingArchived } from '../content/visibility.js';
import { openDatabase } from '../db/client.js';
import { copyToPostgres, CopyFailed, CopyRefused, foreignTables } from '../db/copy-to-postgres.js';
import { DatabaseUrlError, openPostgres, type PostgresHandle } from '../db/postgres.js';
import { repositoriesOf } from '../db/repositories.js';
import { openPostgresStore, sqliteStore, type Store } from '../db/store.js';
import { redactUrl } from '../lib/redact-url.js';
import { roles } from '../db/schema.js';
import { isAppError } from '../errors.js';
import { createServices } from '../services.js';
import { jsonPathPosition, positionAt, type SourcePosition } from './source-position.js';

const usage = `Usage: npm run cli -- <command> [options]

Commands:
  import <file-or-dir>...   Import module sources (.md, .json); directories are expanded
      --dry-run             Validate and report what would change without writing
  seed                      Import every module in SEED_DIR (default ./seed); unchanged modules keep their version
  export <slug> [--format md|json]
                            Print a module's current version as a source that re-imports unchanged
  keys create --role admin|integration --name NAME [--json]
                            Create an API key; the token is printed once (--json: one JSON line)
  keys create --role learner --user USER_ID --name NAME [--json]
                            Create a learner key for an existing learner
  keys list [--json]        List keys (never their tokens)
  keys revoke ID            Revoke a key; it stops working immediately
  backup <file>             Copy the database to <file> with SQLite's online backup API (safe while the
                            server is writing); the copy is checked with PRAGMA integrity_check
  vacuum                    Rewrite the database file (VACUUM) so that no remnant of deleted rows stays in it,
                            then truncate the WAL; holds the write lock while it runs
  copy-to <postgres-url> [--force]
                            Move the SQLite database (DATABASE_PATH) to PostgreSQL: migrate the target, copy every
                            table with its ids in one transaction (from one snapshot, so the server may keep
                            running), compare each table's row count and SHA-256 checksum on both sides, and
                            commit only if all agree. Refuses a target that holds rows unless --force (which
                            replaces them); a failed copy leaves the target's rows as they were. The password
                            may come from PGPASSWORD instead of the URL
  xapi backfill [--since <ISO time>]
                            Queue the xAPI statements of answers recorded before the LRS was configured (received
                            at or after --since; every answer without it) for the server to send; answers already
                            queued are skipped. Needs LRS_ENDPOINT, as the server that sends them does
  help                      Show this help

Options for every command that opens the database:
  --create                  Create the database if it does not exist (seed and import always may)

The database is DATABASE_URL (PostgreSQL) when it is set, otherwise DATABASE_PATH (SQLite; default ./data/mnemo.db;
relative paths start from the current folder, which npm run makes the project folder): use the server's. The CLI
names the database it opened on stderr, and can run while the server does. On PostgreSQL, backups are pg_dump's
and vacuuming is the server's own: backup and vacuum are for SQLite.`;

/** Commands that may create the database they write to; the others refuse a missing file unless --create. */
const creatingCommands = new Set(['seed', 'import']);

/**
 * Refuses a database file that does not exist when the command may not create it: a key created in a new, empty
 * database would "work" here and be unknown to the server.
 */
function missingDatabase(config: Config, command: string, create: boolean): string | undefined {
  if (config.postgres) return undefined;
  const path = config.databasePath;
  if (path === ':memory:' || create || creatingCommands.has(command) || existsSync(resolve(path))) return undefined;
  const origin = process.env.DATABASE_PATH === undefined ? 'DATABASE_PATH is not set; the default is ./data/mnemo.db' : `DATABASE_PATH=${path}`;
  return [
    `mnemo: no database at ${resolve(path)} (${origin}).`,
    '  Set DATABASE_PATH to the file the server uses, or add --create to start a new, empty one.',
  ].join('\n');
}

/** Opens the database and says which file it is on stderr (stdout stays clean for --json and exports). */
function open(config: Config) {
  const path = config.databasePath;
  const existed = path === ':memory:' || existsSync(resolve(path));
  const database = openDatabase({ path, synchronous: config.sqlite.synchronous, busyTimeoutMs: config.sqlite.busyTimeoutMs });
  if (path === ':memory:') console.error('mnemo: database :memory: (a throw-away store: nothing is kept)');
  else console.error(`mnemo: database ${resolve(path)}${existed ? '' : ' (new: created now)'}`);
  return database;
}

/**
 * The services exactly as the server assembles them (createServices), so CLI imports feed search and the change
 * feed, on the engine the configuration names. No content cache: each command reads a module at most once.
 */
async function openServices(config: Config) {
  let store: Store;
  if (config.postgres) {
    store = await openPostgresStore(config.postgres, (error) => console.error(`mnemo: ${error.message}`));
    console.error(`mnemo: database ${redactUrl(config.postgres.url)}`);
  } else {
    store = sqliteStore(open(config));
  }
  const services = createServices(repositoriesOf(store), { ...config, contentCacheEntries: 0 });
  return {
    services,
    close: async () => {
      await services.close();
      await store.close();
    },
  };
}

async function runExport(config: Config, slug: string | undefined, format: string | undefined): Promise<number> {
  if (!slug || !['md', 'markdown', 'json', undefined].includes(format)) {
    console.error('mnemo: export needs a module slug and --format md|json');
    return 2;
  }
  const { services, close } = await openServices(config);
  try {
    // The operator at the CLI sees archived modules, as an admin does.
    process.stdout.write(await services.content.exportModule(slug, format === 'json' ? 'json' : 'markdown', includingArchived));
    return 0;
  } catch (error) {
    console.error(`mnemo: ${isAppError(error) ? error.message : String(error)}`);
    return 1;
  } finally {
    await close();
  }
}

async function runXapi(config: Config, [action]: string[], since: string | undefined): Promise<number> {
  if (action !== 'backfill') {
    console.error('mnemo: xapi takes one command: backfill [--since <ISO time>]');
    return 2;
  }
  if (since !== undefined && (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(since) || Number.isNaN(Date.parse(since)))) {
    console.error(`mnemo: --since must be an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00:00Z), got "${since}"`);
    return 2;
  }
  if (!config.xapi.lrs) {
    console.error('mnemo: LRS_ENDPOINT is not set: nothing would send the statements; set it as the server has it');
    return 2;
  }
  const { services, close } = await openServices(config);
  try {
    const from = since === undefined ? undefined : new Date(since).toISOString();
    const { queued } = await services.xapi.backfill(from);
    console.log(`Queued ${queued} statement${queued === 1 ? '' : 's'}${from ? ` of answers received since ${from}` : ''}; the server sends them to ${redactUrl(config.xapi.lrs.endpoint)}`);
    return 0;
  } finally {
    await close();
  }
}

interface KeyOptions {
  role?: string | undefined;
  name?: string | undefined;
  user?: string | undefined;
  json: boolean;
}

async function runKeys(config: Config, [action, ...rest]: string[], options: KeyOptions): Promise<number> {
  const { services, close } = await openServices(config);
  try {
    const { auth } = services;
    switch (action) {
      case 'create': {
        const role = roles.find((candidate) => candidate === options.role);
        const name = options.name?.trim();
        if (!role || !name) {
          console.error(`mnemo: keys create needs --role (${roles.join('|')}) and --name`);
          return 2;
        }
        if ((role === 'learner') !== (options.user !== undefined)) {
          console.error('mnemo: --user goes with --role learner, and a learner key needs it');
          return 2;
        }
        if (options.user !== undefined && !(await services.learning.users.findUser(options.user))) {
          console.error(`mnemo: no user with id "${options.user}"`);
          return 1;
        }
        const key = await auth.createKey({ role, name, userId: options.user ?? null }, null);
        if (options.json) console.log(JSON.stringify({ id: key.id, token: key.token, role: key.role, name: key.name }));
        else console.log(`Created ${key.role} key ${key.id} (${key.name}).\nToken (shown once, store it now): ${key.token}`);
        return 0;
      }
      case 'list': {
        const keys = await auth.listKeys();
        if (options.json) {
          for (const key of keys) console.log(JSON.stringify(key));
          return 0;
        }
        for (const key of keys) {
          const status = key.revokedAt ? `revoked ${key.revokedAt}` : 'active';
          console.log(`${key.id}  ${key.role.padEnd(11)}  ${status.padEnd(32)}  ${key.name}${key.userId ? ` (user ${key.userId})` : ''}`);
        }
        if (!keys.length) console.log('No keys yet: npm run cli -- keys create --role admin --name NAME');
        return 0;
      }
      case 'revoke': {
        const [id] = rest;
        if (!id) {
          console.error('mnemo: keys revoke needs a key id');
          return 2;
        }
        const key = await auth.getKey(id);
        if (!key) {
          console.error(`mnemo: no API key with id "${id}"`);
          return 1;
        }
        await auth.revokeKey(id);
        console.log(`Revoked ${id}.`);
        return 0;
      }
      default:
        console.error(`mnemo: unknown keys action "${action ?? ''}" (create, list, revoke)`);
        return 2;
    }
  } finally {
    await close();
  }
}

async function runBackup(config: Config, target: string | undefined): Promise<number> {
  if (!target) {
    console.error('mnemo: backup needs a target file');
    return 2;
  }
  if (existsSync(target)) {
    console.error(`mnemo: ${target} exists; choose a new file`);
    return 2;
  }
  const database = open(config);
  try {
    // The backup API copies pages in steps, letting the server's writers interleave, and restarts a step when
    // a page changes under it, so the copy is a consistent snapshot.
    await database.sqlite.backup(target);
  } finally {
    database.close();
  }
  const copy = new Database(target, { readonly: true });
  try {
    const result = copy.pragma('integrity_check', { simple: true });
    if (result !== 'ok') {
      console.error(`mnemo: the backup failed its integrity check: ${String(result)}`);
      return 1;
    }
    const size = statSync(target).size;
    console.log(`Backed up ${config.databasePath} to ${target} (${size} bytes); integrity_check ok.`);
    return 0;
  } finally {
    copy.close();
  }
}

function runVacuum(config: Config): number {
  const database = open(config);
  try {
    const size = () => (config.databasePath === ':memory:' ? 0 : statSync(config.databasePath).size);
    const before = size();
    // VACUUM copies the live rows into fresh pages and replaces the file's content with them, so nothing that was
    // ever deleted (rows, free pages, unused space inside pages) survives; truncating the WAL removes the old pages
    // it held.
    database.sqlite.exec('VACUUM');
    const [checkpoint] = database.sqlite.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (checkpoint?.busy) {
      console.error('mnemo: vacuumed, but another connection is reading, so the WAL could not be truncated yet; run vacuum again later');
      return 1;
    }
    console.log(`Vacuumed ${config.databasePath}: ${before} -> ${size()} bytes; WAL truncated.`);
    return 0;
  } finally {
    database.close();
  }
}

/** Shows a message about the target without its password, wherever a driver or server may have echoed the URL. */
function withoutSecrets(message: string, url: string): string {
  const password = new URL(url).password;
  if (!password) return message;
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // A malformed escape: the driver used the password as written.
  }
  const secrets = new Set([password, decoded]);
  let shown = message.split(url).join(redactUrl(url));
  for (const secret of secrets) shown = shown.split(secret).join('***');
  return shown;
}

/**
 * `copy-to`: the SQLite database at DATABASE_PATH into the PostgreSQL database at the URL (db/copy-to-postgres.ts).
 * Exit 0 when every table was copied and compared equal, 2 when refused (usage, a target holding rows without
 * --force, a source that is not this version's), 1 when the copy failed.
 */
async function runCopyTo(config: Config, args: string[], force: boolean): Promise<number> {
  const [url, ...extra] = args;
  if (url === undefined || extra.length || !URL.canParse(url) || !['postgres:', 'postgresql:'].includes(new URL(url).protocol)) {
    console.error(`mnemo: copy-to needs one postgres:// or postgresql:// URL${url === undefined ? '' : ` (got ${[url, ...extra].map(redactUrl).join(' ')})`}\n  npm run cli -- copy-to postgres://user@host:5432/mnemo [--force]`);
    return 2;
  }
  if (config.postgres) {
    console.error('mnemo: copy-to reads the SQLite database at DATABASE_PATH; unset DATABASE_URL for this command (the target is its argument)');
    return 2;
  }
  if (config.databasePath === ':memory:' || !existsSync(resolve(config.databasePath))) {
    const origin = process.env.DATABASE_PATH === undefined ? 'DATABASE_PATH is not set; the default is ./data/mnemo.db' : `DATABASE_PATH=${config.databasePath}`;
    console.error(`mnemo: no database at ${config.databasePath === ':memory:' ? ':memory:' : resolve(config.databasePath)} (${origin}); copy-to copies an existing SQLite database: set DATABASE_PATH to the server's file`);
    return 1;
  }
  const shown = redactUrl(url);
  // Pool size, timeouts: those the server would use with this URL as DATABASE_URL (two connections are enough).
  const postgres = { ...loadConfig({ ...process.env, DATABASE_URL: url }).postgres!, poolMax: 2 };
  const source = open(config);
  let target: PostgresHandle | undefined;
  try {
    try {
      // Another application's database is refused before anything is migrated into it.
      const probe = await openPostgres({ ...postgres, migrate: false });
      const foreign = await foreignTables(probe.pool).finally(() => probe.close());
      if (foreign.length) {
        const listed = `${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? `, and ${foreign.length - 5} more` : ''}`;
        console.error(`mnemo: copy-to refused, nothing was copied: the target ${shown} holds tables that are not mnemo's (${listed}); copy into an empty database or one mnemo created`);
        return 2;
      }
      target = await openPostgres(postgres, (error) => console.error(`mnemo: ${withoutSecrets(error.message, url)}`));
    } catch (error) {
      const reason = error instanceof DatabaseUrlError ? error.message.replace(/^DATABASE_URL=\S*: /, '') : String(error);
      console.error(`mnemo: cannot open the target ${shown} (nothing was copied): ${withoutSecrets(reason, url)}`);
      return 1;
    }
    console.error(`mnemo: copying to ${shown} (migrated)`);
    const started = performance.now();
    const report = await copyToPostgres(source, target.pool, { force, onTable: (table, rows) => console.error(`  ${table}: ${rows} rows copied`) });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const width = Math.max(...report.map((table) => table.table.length));
    const total = report.reduce((sum, table) => sum + table.rows, 0);
    console.log(`Copied ${resolve(config.databasePath)} to ${shown} in ${seconds} s${report.replaced.length ? ` (replacing the rows of ${report.replaced.join(', ')})` : ''}:`);
    for (const table of report) console.log(`  ${table.table.padEnd(width)}  ${String(table.rows).padStart(10)} rows  sha256 ${table.checksum.slice(0, 16)}`);
    console.log(`  ${'total'.padEnd(width)}  ${String(total).padStart(10)} rows`);
    for (const sequence of report.sequences) console.log(`The next ${sequence.table}.${sequence.column} is ${sequence.next}.`);
    console.log('Every table has the same rows on both sides (counts and checksums compared). Point DATABASE_URL at the target to serve from it; back it up with pg_dump.');
    return 0;
  } catch (error) {
    const message = withoutSecrets(error instanceof Error ? error.message : String(error), url);
    if (error instanceof CopyRefused) {
      console.error(`mnemo: copy-to refused, nothing was copied: ${message}`);
      return 2;
    }
    if (error instanceof CopyFailed && error.committed) console.error(`mnemo: copy-to committed, then failed its check: ${message}`);
    else console.error(`mnemo: copy-to failed and was rolled back, the target's rows are as they were: ${message}`);
    return 1;
  } finally {
    source.close();
    await target?.close();
  }
}

async function runImport(config: Config, paths: string[], dryRun: boolean): Promise<number> {
  let files: string[];
  try {
    files = moduleFiles(paths);
  } catch (error) {
    console.error(`mnemo: ${(error as Error).message}`);
    return 2;
  }
  if (!files.length) {
    console.error('mnemo: no module files (.md, .json) found');
    return 2;
  }
  const { services, close } = await openServices(config);
  try {
    const outcomes: FileImportOutcome[] = [];
    const progress = createProgress(files.length);
    for (const [index, file] of files.entries()) {
      progress.start(index, file);
      const outcome = await importFile(services.content.importModule, file, { dryRun, importedBy: 'cli' });
      outcomes.push(outcome);
      progress.done(index + 1, outcome);
    }
    progress.finish();
    printSummary(outcomes, dryRun);
    return outcomes.some((outcome) => outcome.error !== undefined) ? 1 : 0;
  } finally {
    await close();
  }
}

const display = (file: string) => relative(process.cwd(), file) || file;

/**
 * On a terminal, one progress line redrawn in place, with failures printed above it; otherwise (CI, pipes) a plain
 * line per file.
 */
function createProgress(total: number) {
  const tty = process.stdout.isTTY === true;
  const width = 24;
  const bar = (done: number) => `[${'#'.repeat(Math.round((done / total) * width)).padEnd(width, '.')}] ${done}/${total}`;
  const clear = () => process.stdout.write('\r\x1b[2K');
  return {
    start(index: number, file: string) {
      if (tty) {
        clear();
        process.stdout.write(`${bar(index)} ${display(file)}`);
      }
    },
    done(done: number, outcome: FileImportOutcome) {
      if (tty) clear();
      if (!tty || outcome.error !== undefined) reportOutcome(done, total, outcome);
      if (tty) process.stdout.write(bar(done));
    },
    finish() {
      if (tty) process.stdout.write('\n');
    },
  };
}

function reportOutcome(done: number, total: number, outcome: FileImportOutcome): void {
  const prefix = `[${done}/${total}]`;
  if (outcome.result) {
    const { slug, status, version } = outcome.result;
    console.log(`${prefix} ${display(outcome.file)}: ${slug} ${status} (version ${version})`);
    return;
  }
  const error = outcome.error;
  console.log(`${prefix} ${display(outcome.file)}: failed`);
  // One `file:line:column: message` line per error (column 1 where only the line is known), the form compilers
  // print and editors and CI problem matchers pick up.
  const located = (position: SourcePosition, message: string) => console.log(`${display(outcome.file)}:${position.line}:${position.column}: ${message}`);
  if (isAppError(error) && error.errors?.length) {
    let source: string | undefined;
    for (const detail of error.errors) {
      const where = detail.path && !detail.message.startsWith(detail.path) ? `${detail.path}: ` : '';
      let position: SourcePosition | undefined = detail.line !== undefined ? { line: detail.line, column: 1 } : undefined;
      if (outcome.file.endsWith('.json')) {
        source ??= readFileSync(outcome.file, 'utf8');
        const offset = /at position (\d+)/.exec(detail.message)?.[1];
        if (offset !== undefined) position = positionAt(source, Number(offset));
        else if (detail.path !== undefined) position = jsonPathPosition(source, detail.path) ?? position;
      }
      located(position ?? { line: 1, column: 1 }, `${where}${detail.message}`);
    }
  } else {
    located({ line: 1, column: 1 }, error instanceof Error ? error.message : String(error));
  }
}

function printSummary(outcomes: FileImportOutcome[], dryRun: boolean): void {
  const counts = { created: 0, updated: 0, unchanged: 0, failed: 0 };
  for (const outcome of outcomes) counts[outcome.result?.status ?? 'failed'] += 1;
  const rows = Object.entries(counts);
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`\n${dryRun ? 'Dry run (nothing written)' : 'Import summary'}`);
  for (const [name, count] of rows) console.log(`  ${name.padEnd(width)}  ${count}`);
}

function main(argv: string[]): number | Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      json: { type: 'boolean', default: false },
      role: { type: 'string' },
      name: { type: 'string' },
      user: { type: 'string' },
      format: { type: 'string' },
      create: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      since: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    console.log(usage);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (config.postgres && ['backup', 'vacuum'].includes(command)) {
    console.error(`mnemo: ${command} is for SQLite; on PostgreSQL use pg_dump for backups, and the server vacuums itself`);
    return 2;
  }
  if (['import', 'seed', 'export', 'backup', 'keys', 'vacuum', 'xapi'].includes(command)) {
    const refusal = missingDatabase(config, command, values.create);
    if (refusal !== undefined) {
      console.error(refusal);
      return 1;
    }
  }
  switch (command) {
    case 'import':
      if (!rest.length) {
        console.error('mnemo: import needs at least one file or directory\n\n' + usage);
        return 2;
      }
      return runImport(config, rest, values['dry-run']);
    case 'seed':
      return runImport(config, [config.seedDir], values['dry-run']);
    case 'export':
      return runExport(config, rest[0], values.format);
    case 'backup':
      return runBackup(config, rest[0]);
    case 'keys':
      return runKeys(config, rest, { role: values.role, name: values.name, user: values.user, json: values.json });
    case 'vacuum':
      return runVacuum(config);
    case 'copy-to':
      return runCopyTo(config, rest, values.force);
    case 'xapi':
      return runXapi(config, rest, values.since);
    default:
      console.error(`mnemo: unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(`mnemo: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
