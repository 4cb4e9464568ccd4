import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { ImportOptions, ImportResult } from './import-module.js';
import type { ModuleFormat } from './module-source/parse-module-source.js';

const formatsByExtension: Record<string, ModuleFormat> = { '.md': 'markdown', '.markdown': 'markdown', '.json': 'json' };

export const formatOfFile = (path: string): ModuleFormat | undefined => formatsByExtension[extname(path).toLowerCase()];

/** Module source files named by `paths`: files as given, directories expanded to their module files, sorted. */
export function moduleFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => {
    const full = resolve(path);
    if (!statSync(full).isDirectory()) return [full];
    return readdirSync(full)
      .filter((name) => formatOfFile(name) !== undefined)
      .sort()
      .map((name) => join(full, name));
  });
}

export interface FileImportOutcome {
  file: string;
  result?: ImportResult;
  error?: unknown;
}

type Importer = (source: string, format: ModuleFormat, options?: ImportOptions) => Promise<ImportResult>;

/** Imports one file (one transaction); failures are returned, not thrown, so one bad file does not stop others. */
export async function importFile(importModule: Importer, file: string, options: ImportOptions = {}): Promise<FileImportOutcome> {
  const format = formatOfFile(file);
  if (!format) return { file, error: new Error(`unsupported file type "${extname(file)}" (expected .md or .json)`) };
  try {
    return { file, result: await importModule(readFileSync(file, 'utf8'), format, options) };
  } catch (error) {
    return { file, error };
  }
}

/** Imports each file in turn. */
export async function importFiles(importModule: Importer, files: readonly string[], options: ImportOptions = {}): Promise<FileImportOutcome[]> {
  const outcomes: FileImportOutcome[] = [];
  for (const file of files) outcomes.push(await importFile(importModule, file, options));
  return outcomes;
}
