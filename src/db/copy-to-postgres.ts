import { createHash, type Hash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { is } from 'drizzle-orm';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { DatabaseHandle } from './client.js';
import * as pgSchema from './schema-pg.js';

/**
 * Moving a SQLite deployment to PostgreSQL (`npm run cli -- copy-to postgres://...`).
 *
 * - Source: one SQLite read transaction from the first row read to the last, so a server writing meanwhile is
 *   neither stopped nor half-copied: every table comes from the same snapshot (WAL readers do not block writers).
 * - Target: one PostgreSQL transaction holding an EXCLUSIVE lock on every table (readers pass, writers and a second
 *   copy wait): emptiness is checked, rows are inserted in batches with their ids, identity sequences are moved past
 *   the copied numbers, and every table's row count and checksum are compared with the source's before COMMIT. Any
 *   failure rolls the whole transaction back, so the target keeps the rows it had (--force's TRUNCATE included).
 * - Memory: a batch of rows (at most `batchRows`) being built while the previous one is inserted, and a page of rows
 *   being hashed; never a table.
 */

/** Why the copy did not start: a target that holds rows without `force`, a source or target that does not fit. */
export class CopyRefused extends Error {
  override readonly name = 'CopyRefused';
}

/** The copy failed. `committed` is false when the target's transaction was rolled back (its rows are as they were). */
export class CopyFailed extends Error {
  override readonly name = 'CopyFailed';
  constructor(
    message: string,
    readonly committed: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface TableCopy {
  table: string;
  rows: number;
  /** SHA-256 over the table's canonical rows in key order: the same on both sides, or the copy fails. */
  checksum: string;
}

export interface SequenceCopy {
  table: string;
  column: string;
  /** The number the target's next row gets. */
  next: number;
}

/** Every table copied, in copy order (parents first), with what else the copy did. */
export type CopyReport = TableCopy[] & {
  sequences: SequenceCopy[];
  /** Tables of the target that held rows and were emptied first (only with `force`). */
  replaced: string[];
};

export interface CopyOptions {
  /** Replace the rows of a target that holds any (TRUNCATE in the copy's transaction), instead of refusing. */
  force: boolean;
  /** Told as each table has been copied (before the verification). */
  onTable?: (table: string, rows: number) => void;
  /** Rows per INSERT (capped so a statement stays under PostgreSQL's 65,535 parameters). */
  batchRows?: number;
  /** How long taking the target's table locks may wait (another copy, a server's long transaction). */
  lockTimeoutMs?: number;
}

export type ColumnKind = 'text' | 'int16' | 'int32' | 'int64' | 'float';

interface Column {
  name: string;
  kind: ColumnKind;
}

interface Layout {
  name: string;
  /** Every stored column (PostgreSQL's generated search document is computed there, and left out here). */
  columns: Column[];
  /** The primary key: the order rows are copied, hashed and compared in on both sides. */
  key: string[];
}

const integerRanges: Record<'int16' | 'int32' | 'int64', readonly [bigint, bigint]> = {
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function kindOf(table: string, column: { name: string; getSQLType(): string }): ColumnKind {
  const type = column.getSQLType().toLowerCase();
  if (/^(text|varchar|character varying)\b/.test(type)) return 'text';
  if (type === 'smallint') return 'int16';
  if (type === 'integer') return 'int32';
  if (type === 'bigint') return 'int64';
  if (type === 'double precision' || type === 'real') return 'float';
  // A column type added to the schema later must be given a canonical form here before it is copied.
  throw new Error(`copy-to does not know how to copy ${table}.${column.name} (${type})`);
}

function layoutOf(table: PgTable): Layout {
  const config = getTableConfig(table);
  const columns = config.columns.filter((column) => !column.generated).map((column) => ({ name: column.name, kind: kindOf(config.name, column) }));
  const key = config.primaryKeys[0]?.columns.map((column) => column.name) ?? config.columns.filter((column) => column.primary).map((column) => column.name);
  if (!key.length) throw new Error(`copy-to needs a primary key on ${config.name} to compare its rows`);
  return { name: config.name, columns, key };
}

/** Every table of the PostgreSQL schema, parents before children, so each row's foreign keys exist when it is inserted. */
function copiedLayouts(): Layout[] {
  const tables = (Object.values(pgSchema) as unknown[]).filter((value): value is PgTable => is(value, PgTable));
  const parents = new Map(tables.map((table) => [table, getTableConfig(table).foreignKeys.map((key) => key.reference().foreignTable).filter((parent) => parent !== table)]));
  const ordered: PgTable[] = [];
  const visit = (table: PgTable, path: PgTable[]) => {
    if (ordered.includes(table)) return;
    if (path.includes(table)) throw new Error(`copy-to cannot order tables with a cycle of foreign keys (${getTableConfig(table).name})`);
    for (const parent of parents.get(table) ?? []) visit(parent, [...path, table]);
    ordered.push(table);
  };
  for (const table of tables) visit(table, []);
  return ordered.map(layoutOf);
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

const describeValue = (value: unknown) =>
  value === null ? 'NULL' : Buffer.isBuffer(value) ? `a ${value.length}-byte BLOB` : typeof value === 'string' ? `text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}` : `${typeof value} ${String(value)}`;

function integerOf(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return undefined;
}

function floatOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  if (typeof value === 'bigint') return Number(value);
  // PostgreSQL's text forms, should a type parser hand them over unparsed.
  if (typeof value === 'string' && /^(-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?|-?Infinity)$/i.test(value)) return Number(value);
  return undefined;
}

const floatBits = new DataView(new ArrayBuffer(8));

/**
 * A value's canonical form for the checksum, the same whichever driver read it: SQLite's (integers as bigint, reals
 * as numbers, text as strings) or PostgreSQL's (int4 and float8 as numbers, int8 as strings). Text is compared
 * exactly (length-prefixed, so no separator is ambiguous), integers by their decimal digits, floats by their
 * IEEE-754 bits (0.1 + 0.2 and -0 included), NULL apart from any value. Undefined when the value has no place in
 * the column.
 */
export function canonicalValue(kind: ColumnKind, value: unknown): string | undefined {
  if (value === null || value === undefined) return 'n';
  if (kind === 'text') return typeof value === 'string' ? `s${value.length}:${value}` : undefined;
  if (kind === 'float') {
    const number = floatOf(value);
    if (number === undefined) return undefined;
    floatBits.setFloat64(0, number);
    return `f${floatBits.getBigUint64(0).toString(16).padStart(16, '0')}`;
  }
  const integer = integerOf(value);
  const [min, max] = integerRanges[kind];
  return integer !== undefined && integer >= min && integer <= max ? `i${integer};` : undefined;
}

/** The parameter sent to PostgreSQL for a source value (its text form; pg would turn -0 into "0"). */
function parameterOf(kind: ColumnKind, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (kind === 'text') return value;
  if (kind === 'float') {
    const number = floatOf(value)!;
    return Object.is(number, -0) ? '-0' : String(number);
  }
  return integerOf(value)!.toString();
}

function hashRow(hash: Hash, layout: Layout, row: unknown[], side: string): void {
  let line = 'r';
  for (const [index, column] of layout.columns.entries()) {
    const canonical = canonicalValue(column.kind, row[index]);
    if (canonical === undefined) {
      const key = layout.key.map((name) => `${name}=${String(row[layout.columns.findIndex((candidate) => candidate.name === name)])}`).join(', ');
      throw new Error(`${layout.name}.${column.name} holds ${describeValue(row[index])} on the ${side} (row ${key}), which does not fit PostgreSQL's ${column.kind} column`);
    }
    line += canonical;
  }
  hash.update(line);
}

/** Checks that the SQLite database has every table and column copied (a database of another version would not). */
function checkSource(source: Database.Database, layouts: Layout[]): void {
  for (const layout of layouts) {
    const present = new Set((source.prepare(`PRAGMA table_info(${quote(layout.name)})`).all() as { name: string }[]).map((column) => column.name));
    if (!present.size) throw new CopyRefused(`the SQLite database has no table ${layout.name}: is it a mnemo database?`);
    const missing = layout.columns.filter((column) => !present.has(column.name)).map((column) => column.name);
    if (missing.length) throw new CopyRefused(`the SQLite table ${layout.name} lacks ${missing.join(', ')}: start this version's server on it once (it migrates the file), then copy`);
  }
}

interface TargetColumn {
  table_name: string;
  column_name: string;
  identity_generation: string | null;
  sequence: string | null;
}

/**
 * Copies every row of the SQLite database into the PostgreSQL database (migrated) with their ids; see the top of
 * this file. `source` is a connection the copy has to itself while it runs (its read transaction spans the copy).
 * Refuses (CopyRefused) a target holding rows unless `force`; a failure is a CopyFailed saying whether anything was
 * committed.
 */
export async function copyToPostgres(from: DatabaseHandle | Database.Database, target: pg.Pool, options: CopyOptions): Promise<CopyReport> {
  const source = 'sqlite' in from ? from.sqlite : from;
  // The copy's transaction holds one connection; the read-back after COMMIT needs another.
  if ((target.options.max ?? 10) < 2) throw new Error('copy-to needs a pool of at least 2 connections');
  const layouts = copiedLayouts();
  checkSource(source, layouts);
  if (source.inTransaction) throw new Error('copy-to needs a SQLite connection of its own, outside any transaction');
  const names = layouts.map((layout) => quote(layout.name)).join(', ');
  const client = await target.connect();
  let committed = false;
  try {
    // One read transaction on the source: every table from the same snapshot, pinned by the first read.
    source.exec('BEGIN');
    source.prepare('SELECT count(*) FROM sqlite_master').get();
    await client.query('BEGIN');
    // Floats leave the server with every digit (PostgreSQL < 12 rounds them to 15 otherwise).
    await client.query('SET LOCAL extra_float_digits = 3');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs ?? 10_000))}`);
    const columns = await client.query<TargetColumn>(
      `SELECT table_name, column_name, identity_generation,
              pg_get_serial_sequence(format('%I.%I', table_schema, table_name), column_name) AS sequence
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1)`,
      [layouts.map((layout) => layout.name)],
    );
    for (const layout of layouts) {
      const present = new Set(columns.rows.filter((row) => row.table_name === layout.name).map((row) => row.column_name));
      const missing = layout.columns.filter((column) => !present.has(column.name)).map((column) => column.name);
      if (missing.length) throw new CopyRefused(`the target's table ${layout.name} lacks ${missing.length === layout.columns.length ? 'every column' : missing.join(', ')}: its migrations are not this version's`);
    }

    // Writers (a server pointed at the target too early, a second copy) wait until the copy commits or rolls back.
    await lockOrRefuse(client, `LOCK TABLE ${names} IN EXCLUSIVE MODE`);
    const held = await tablesHoldingRows(client, layouts);
    if (held.length && !options.force) {
      throw new CopyRefused(`the target database already holds rows (${held.join(', ')}); add --force to replace them with the source's`);
    }
    if (held.length) await lockOrRefuse(client, `TRUNCATE ${names} RESTART IDENTITY`);

    const copies: TableCopy[] = [];
    for (const layout of layouts) {
      const overriding = columns.rows.some((row) => row.table_name === layout.name && row.identity_generation === 'ALWAYS');
      const copy = await copyTable(source, client, layout, { overriding, batchRows: options.batchRows ?? 1000 });
      copies.push(copy);
      options.onTable?.(layout.name, copy.rows);
    }
    for (const [index, layout] of layouts.entries()) {
      const copied = await checksumTarget(client, layout);
      const expected = copies[index]!;
      if (copied.rows !== expected.rows || copied.checksum !== expected.checksum) {
        throw new Error(
          `${layout.name} differs after the copy: the source has ${expected.rows} rows (sha256 ${expected.checksum.slice(0, 16)}), the target ${copied.rows} (sha256 ${copied.checksum.slice(0, 16)})`,
        );
      }
    }
    const sequences = await advanceSequences(source, client, columns.rows);
    await client.query('COMMIT');
    committed = true;

    // Read back on another connection once committed: what any server on the target will see.
    const counts = await target.query<{ table: string; n: string }>(layouts.map((layout) => `SELECT ${pgLiteral(layout.name)} AS table, count(*) AS n FROM ${quote(layout.name)}`).join(' UNION ALL '));
    for (const copy of copies) {
      const seen = Number(counts.rows.find((row) => row.table === copy.table)?.n);
      if (seen !== copy.rows) throw new Error(`${copy.table}: ${copy.rows} rows were committed, but another connection counts ${seen}`);
    }
    // Planner statistics for the new rows now rather than whenever autovacuum comes by; the copy stands without them.
    await target.query(`ANALYZE ${names}`).catch(() => {});
    return Object.assign(copies, { sequences, replaced: held });
  } catch (error) {
    if (!committed) await client.query('ROLLBACK').catch(() => {});
    if (error instanceof CopyRefused) throw error;
    throw new CopyFailed(describeError(error), committed, { cause: error });
  } finally {
    client.release();
    if (source.inTransaction) source.exec('ROLLBACK');
  }
}

/** A statement that takes table locks; lock_timeout running out means someone else holds them. */
async function lockOrRefuse(client: pg.PoolClient, statement: string): Promise<void> {
  try {
    await client.query(statement);
  } catch (error) {
    if ((error as { code?: string }).code !== '55P03') throw error;
    throw new CopyRefused('the target is in use: its tables could not be locked in time (another copy-to, or a server on the target, holds them); stop it and try again');
  }
}

const pgLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, detail } = error as { code?: string; detail?: string };
  return `${error.message}${detail ? ` (${detail})` : ''}${code && /^[0-9A-Z]{5}$/.test(code) ? ` [SQLSTATE ${code}]` : ''}`;
}

async function tablesHoldingRows(client: pg.PoolClient, layouts: Layout[]): Promise<string[]> {
  const result = await client.query<{ table: string }>(
    layouts.map((layout) => `SELECT ${pgLiteral(layout.name)} AS table WHERE EXISTS (SELECT 1 FROM ${quote(layout.name)})`).join(' UNION ALL '),
  );
  return result.rows.map((row) => row.table);
}

/**
 * Inserts the table's rows in key order, a batch per statement, reading the next batch from SQLite while PostgreSQL
 * inserts the previous one; hashes each row as read (the source side of the checksum).
 */
async function copyTable(source: Database.Database, client: pg.PoolClient, layout: Layout, options: { overriding: boolean; batchRows: number }): Promise<TableCopy> {
  const width = layout.columns.length;
  const batchRows = Math.max(1, Math.min(options.batchRows, Math.floor(65_535 / width)));
  const columnList = layout.columns.map((column) => quote(column.name)).join(', ');
  const select = source.prepare(`SELECT ${columnList} FROM ${quote(layout.name)} ORDER BY ${layout.key.map(quote).join(', ')}`).raw(true).safeIntegers(true);
  const insertText = (rows: number) =>
    `INSERT INTO ${quote(layout.name)} (${columnList})${options.overriding ? ' OVERRIDING SYSTEM VALUE' : ''} VALUES ${Array.from({ length: rows }, (_, row) => `(${layout.columns.map((_, column) => `$${row * width + column + 1}`).join(', ')})`).join(', ')}`;
  // Prepared once per connection: the same text for every full batch.
  const fullBatch = { name: `mnemo_copy_${layout.name}_${batchRows}${options.overriding ? '_o' : ''}`, text: insertText(batchRows) };

  const hash = createHash('sha256');
  let rows = 0;
  let values: unknown[] = [];
  let inFlight: Promise<unknown> | undefined;
  const settle = async () => {
    try {
      await inFlight;
    } catch (error) {
      throw new Error(`${layout.name}: PostgreSQL refused a batch of rows: ${describeError(error)}`, { cause: error });
    }
  };
  const send = async (count: number) => {
    await settle();
    const statement = count === batchRows ? fullBatch : { text: insertText(count) };
    const sent = client.query({ ...statement, values });
    // Settled before the next batch or at the end; marked handled so that a failure meanwhile is not "unhandled".
    sent.catch(() => {});
    inFlight = sent;
    values = [];
  };
  let pending = 0;
  for (const row of select.iterate() as IterableIterator<unknown[]>) {
    hashRow(hash, layout, row, 'source');
    for (const [index, column] of layout.columns.entries()) values.push(parameterOf(column.kind, row[index]));
    rows++;
    if (++pending === batchRows) {
      await send(pending);
      pending = 0;
    }
  }
  if (pending) await send(pending);
  await settle();
  return { table: layout.name, rows, checksum: hash.digest('hex') };
}

/** The target side of the checksum: the rows the transaction holds, in key order, a page at a time through a cursor. */
async function checksumTarget(client: pg.PoolClient, layout: Layout): Promise<TableCopy> {
  const hash = createHash('sha256');
  let rows = 0;
  await client.query(`DECLARE mnemo_copy_check NO SCROLL CURSOR FOR SELECT ${layout.columns.map((column) => quote(column.name)).join(', ')} FROM ${quote(layout.name)} ORDER BY ${layout.key.map(quote).join(', ')}`);
  for (;;) {
    const page = await client.query<unknown[]>({ text: 'FETCH FORWARD 5000 FROM mnemo_copy_check', rowMode: 'array' });
    for (const row of page.rows) hashRow(hash, layout, row, 'target');
    rows += page.rows.length;
    if (page.rows.length < 5000) break;
  }
  await client.query('CLOSE mnemo_copy_check');
  return { table: layout.name, rows, checksum: hash.digest('hex') };
}

/**
 * Moves every identity or serial sequence past the numbers copied (and past SQLite's AUTOINCREMENT high-water mark,
 * which remembers numbers of deleted rows), so that the next row continues the feed instead of reusing a number.
 */
async function advanceSequences(source: Database.Database, client: pg.PoolClient, columns: TargetColumn[]): Promise<SequenceCopy[]> {
  const hasSequenceTable = source.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get() !== undefined;
  const sequences: SequenceCopy[] = [];
  for (const column of columns.filter((candidate) => candidate.sequence !== null)) {
    const highWater = hasSequenceTable ? (source.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').safeIntegers(true).pluck().get(column.table_name) as bigint | undefined) : undefined;
    const result = await client.query<{ next: string }>(
      `SELECT setval($1, greatest(coalesce((SELECT max(${quote(column.column_name)}) FROM ${quote(column.table_name)}), 0), $2::bigint) + 1, false) AS next`,
      [column.sequence, (highWater ?? 0n).toString()],
    );
    sequences.push({ table: column.table_name, column: column.column_name, next: Number(result.rows[0]!.next) });
  }
  return sequences;
}

/**
 * Tables in the target's schema that are not mnemo's: another application's database, which copy-to must not
 * migrate into (it would add mnemo's tables, triggers and migration record beside that application's).
 */
export async function foreignTables(pool: pg.Pool): Promise<string[]> {
  const ours = new Set(Object.values(pgSchema).flatMap((table) => (is(table, PgTable) ? [getTableConfig(table).name] : [])));
  const { rows } = await pool.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`);
  return rows.map((row) => row.name).filter((name) => !ours.has(name));
}
