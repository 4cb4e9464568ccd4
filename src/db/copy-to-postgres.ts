import { createHash } from 'node:crypto';
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { DatabaseHandle } from './client.js';
import * as pgSchema from './schema-pg.js';

/** Every table, parents before children, so each row's foreign keys exist when it is inserted. */
const tables: PgTable[] = [
  pgSchema.modules,
  pgSchema.moduleTags,
  pgSchema.takeaways,
  pgSchema.flashcards,
  pgSchema.cheatSheetRows,
  pgSchema.revisionItems,
  pgSchema.moduleVersions,
  pgSchema.users,
  pgSchema.apiKeys,
  pgSchema.answers,
  pgSchema.cardStates,
  pgSchema.cardStateSnapshots,
  pgSchema.changes,
  pgSchema.searchIndex,
];

export interface TableCopy {
  table: string;
  rows: number;
  /** SHA-256 over the table's rows in key order, the same on both sides when the copy is faithful. */
  checksum: string;
}

export class CopyRefused extends Error {
  override readonly name = 'CopyRefused';
}

const insertRows = 500;
const pageRows = 5000;

interface Layout {
  name: string;
  /** Columns copied: every stored column (PostgreSQL's generated search document is computed there). */
  columns: string[];
  /** The key rows are ordered by for copying and checksums. */
  key: string[];
}

function layoutOf(table: PgTable): Layout {
  const config = getTableConfig(table);
  const columns = config.columns.filter((column) => !column.generated).map((column) => column.name);
  const key = config.primaryKeys[0]?.columns.map((column) => column.name) ?? config.columns.filter((column) => column.primary).map((column) => column.name);
  return { name: config.name, columns, key };
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Copies every row of a SQLite deployment into an empty PostgreSQL database (migrated), ids and sequence numbers
 * kept, in one PostgreSQL transaction: a failed copy leaves the target as it was. A target holding any row is
 * refused unless `force`, which empties it first. Afterwards each table's row count and checksum are compared on both
 * sides; a difference throws.
 */
export async function copyToPostgres(
  source: DatabaseHandle,
  target: pg.Pool,
  options: { force: boolean; onTable?: (table: string, rows: number) => void },
): Promise<TableCopy[]> {
  const layouts = tables.map(layoutOf);
  const client = await target.connect();
  try {
    await client.query('BEGIN');
    const held = await rowsIn(client, layouts);
    if (held > 0 && !options.force) throw new CopyRefused(`the target database already holds ${held} rows; add --force to replace them`);
    if (held > 0) await client.query(`TRUNCATE ${layouts.map((layout) => quote(layout.name)).join(', ')} RESTART IDENTITY CASCADE`);
    for (const layout of layouts) options.onTable?.(layout.name, await copyTable(source, client, layout));
    // The feed's numbers were copied as they were; the next one follows the last.
    await client.query(`SELECT setval(pg_get_serial_sequence('changes', 'seq'), coalesce((SELECT max(seq) FROM changes), 0) + 1, false)`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  return verify(source, target, layouts);
}

async function rowsIn(client: pg.PoolClient, layouts: Layout[]): Promise<number> {
  const counts = await client.query<{ n: string }>(layouts.map((layout) => `SELECT count(*) AS n FROM ${quote(layout.name)}`).join(' UNION ALL '));
  return counts.rows.reduce((total, row) => total + Number(row.n), 0);
}

async function copyTable(source: DatabaseHandle, client: pg.PoolClient, layout: Layout): Promise<number> {
  const select = source.sqlite.prepare(`SELECT ${layout.columns.map(quote).join(', ')} FROM ${quote(layout.name)} ORDER BY ${layout.key.map(quote).join(', ')}`).raw();
  // The feed's sequence numbers are an identity column there: kept as they are, not drawn anew.
  const overriding = layout.name === 'changes' ? ' OVERRIDING SYSTEM VALUE' : '';
  let batch: unknown[][] = [];
  let copied = 0;
  const flush = async () => {
    if (!batch.length) return;
    const width = layout.columns.length;
    const values = batch.map((_, row) => `(${layout.columns.map((__, column) => `$${row * width + column + 1}`).join(', ')})`).join(', ');
    await client.query(`INSERT INTO ${quote(layout.name)} (${layout.columns.map(quote).join(', ')})${overriding} VALUES ${values}`, batch.flat());
    copied += batch.length;
    batch = [];
  };
  for (const row of select.iterate() as IterableIterator<unknown[]>) {
    batch.push(row);
    if (batch.length === insertRows) await flush();
  }
  await flush();
  return copied;
}

/** Both sides' rows in key order, hashed the same way: a value's text, and a marker for NULL. */
function hashRows(hash: ReturnType<typeof createHash>, rows: unknown[][]): void {
  for (const row of rows) {
    for (const value of row) hash.update(value === null ? '\u0000N\u0001' : `${String(value)}\u0001`);
    hash.update('\u0002');
  }
}

async function verify(source: DatabaseHandle, target: pg.Pool, layouts: Layout[]): Promise<TableCopy[]> {
  const report: TableCopy[] = [];
  for (const layout of layouts) {
    const columns = layout.columns.map(quote).join(', ');
    const order = layout.key.map(quote).join(', ');
    const sourceHash = createHash('sha256');
    let sourceRows = 0;
    const select = source.sqlite.prepare(`SELECT ${columns} FROM ${quote(layout.name)} ORDER BY ${order}`).raw();
    let page: unknown[][] = [];
    for (const row of select.iterate() as IterableIterator<unknown[]>) {
      page.push(row);
      sourceRows++;
      if (page.length === pageRows) {
        hashRows(sourceHash, page);
        page = [];
      }
    }
    hashRows(sourceHash, page);

    const targetHash = createHash('sha256');
    let targetRows = 0;
    let after: unknown[] | undefined;
    const keyIndexes = layout.key.map((key) => layout.columns.indexOf(key));
    for (;;) {
      const where = after ? `WHERE (${order}) > (${layout.key.map((_, index) => `$${index + 1}`).join(', ')})` : '';
      const result = await target.query<unknown[]>({ text: `SELECT ${columns} FROM ${quote(layout.name)} ${where} ORDER BY ${order} LIMIT ${pageRows}`, values: after ?? [], rowMode: 'array' });
      hashRows(targetHash, result.rows);
      targetRows += result.rows.length;
      if (result.rows.length < pageRows) break;
      const last = result.rows.at(-1)!;
      after = keyIndexes.map((index) => last[index]);
    }
    const checksum = sourceHash.digest('hex');
    const copied = targetHash.digest('hex');
    if (sourceRows !== targetRows || checksum !== copied) {
      throw new Error(`${layout.name}: the copy differs from the source (${sourceRows} rows, checksum ${checksum.slice(0, 12)}; copied ${targetRows} rows, checksum ${copied.slice(0, 12)})`);
    }
    report.push({ table: layout.name, rows: sourceRows, checksum });
  }
  return report;
}
