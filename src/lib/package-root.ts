import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of mnemo's package.json, found upwards from this file: the same whether the code runs from `src/`
 * (tests), from `dist/` as tsc emits it, or bundled into `dist/main.js`, where every module shares one URL.
 */
function findPackageRoot(start: string): string {
  for (let folder = start; ; folder = dirname(folder)) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mnemo') return folder;
    if (dirname(folder) === folder) throw new Error(`mnemo's package.json was not found above ${start}`);
  }
}

export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** Whether this code runs from the TypeScript sources (tests, tsx) rather than from the build. */
export const runningFromSources = import.meta.url.endsWith('.ts');
