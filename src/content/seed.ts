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

type Importer = (source: string, format: ModuleFormat, options?: ImportOptions) => ImportResult;

/** Imports each file on its own (one transaction each), so one bad file does not stop the others. */
export function importFiles(importModule: Importer, files: readonly string[], options: ImportOptions = {}): FileImportOutcome[] {
  return files.map((file) => {
    const format = formatOfFile(file);
    if (!format) return { file, error: new Error(`unsupported file type "${extname(file)}" (expected .md or .json)`) };
    try {
      return { file, result: importModule(readFileSync(file, 'utf8'), format, options) };
    } catch (error) {
      return { file, error };
    }
  });
}
