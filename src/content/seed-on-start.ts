import { existsSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import { isAppError } from '../errors.js';
import { importFiles, moduleFiles } from './seed.js';
import type { ContentService } from './service.js';

/**
 * On first start (no module has ever been imported) load every module in the seed folder. A seed that fails to
 * import stops startup: serving an empty store silently would hide the problem.
 */
export async function seedIfEmpty(content: ContentService, seedDir: string, log: FastifyBaseLogger): Promise<void> {
  if (!(await content.isEmpty())) return;
  if (!existsSync(seedDir)) {
    log.warn({ seedDir }, 'store is empty and the seed folder does not exist; starting without content');
    return;
  }
  const outcomes = await importFiles(content.importModule, moduleFiles([seedDir]), { importedBy: 'seed' });
  const failures = outcomes.filter((outcome) => outcome.error !== undefined);
  for (const failure of failures) {
    const error = failure.error;
    log.error({ file: failure.file, errors: isAppError(error) ? error.errors : undefined }, isAppError(error) ? error.message : String(error));
  }
  if (failures.length) throw new Error(`seed import failed for ${failures.length} file(s) in ${seedDir}`);
  log.info({ modules: outcomes.map((outcome) => outcome.result?.slug) }, `seeded ${outcomes.length} module(s) from ${seedDir}`);
}
