import { createHash } from 'node:crypto';
import { AppError, type ErrorDetail } from '../../errors.js';
import { parseJsonModule } from './json.js';
import { parseMarkdownModule } from './markdown.js';
import { moduleInputSchema, normalizeModule, sourceLimits, type NormalizedModule } from './module-input.js';
import { moduleTexts, representabilityErrors } from './representable.js';
import { jsonSourceBoundError, markdownBoundError, markdownSourceBoundError, parserBounds, type MarkupTally } from './source-bounds.js';
import { byLine, zodIssuesToDetails, type SourceMap } from './source-errors.js';

export const moduleFormats = ['markdown', 'json'] as const;
export type ModuleFormat = (typeof moduleFormats)[number];

/**
 * The one entry point from a module source (either format) to a validated, normalised module. Every error found
 * is reported at once, with its line (Markdown) or path (JSON); nothing is returned unless the source is valid.
 */
export function parseModuleSource(source: string, format: ModuleFormat): NormalizedModule {
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > sourceLimits.sourceBytes) {
    throw new AppError(
      'MNEMO_IMPORT_TOO_LARGE',
      `module source is ${bytes} bytes; the limit is ${sourceLimits.sourceBytes} bytes`,
    );
  }
  let input: unknown;
  let map: SourceMap | undefined;
  let errors: ErrorDetail[];
  let unreadable: string[] = [];
  // Structural bounds first: the parsers below recurse or pay per construct (see source-bounds.ts).
  if (format === 'markdown') {
    assertWithin(markdownSourceBoundError(source));
    ({ input, map, errors, unreadable } = parseMarkdownModule(source));
  } else {
    assertWithin(jsonSourceBoundError(source));
    ({ input, errors } = parseJsonModule(source));
    if (errors.length) throw invalid(errors);
  }
  const result = moduleInputSchema.safeParse(input);
  if (!result.success) {
    const details = zodIssuesToDetails(result.error.issues, map);
    errors = [...errors, ...details.filter((detail) => !unreadable.includes(detail.path?.split('.')[0] ?? ''))];
  }
  if (errors.length || !result.success) throw invalid(errors);
  const module = normalizeModule(result.data);
  // A Markdown source's texts are slices of it, already scanned; a JSON source's texts are scanned here.
  if (format === 'json') {
    const tally: MarkupTally = { markers: 0, items: 0 };
    for (const [path, text] of moduleTexts(module)) {
      const error = markdownBoundError(text, tally);
      if (error) assertWithin({ path: path.join('.'), message: error.message });
    }
  }
  const unrepresentable = representabilityErrors(module, map);
  if (unrepresentable.length) throw invalid(unrepresentable);
  return module;
}

function assertWithin(outOfBounds: ErrorDetail | undefined): void {
  if (outOfBounds) throw invalid([outOfBounds]);
}

function invalid(errors: ErrorDetail[]): AppError {
  const sorted = [...errors].sort(byLine);
  const first = sorted[0];
  const where = first?.line !== undefined ? `line ${first.line}: ` : first?.path ? `${first.path}: ` : '';
  const more = sorted.length > 1 ? ` (and ${sorted.length - 1} more)` : '';
  // A source can break a rule thousands of times; the first ones are enough to act on.
  const listed = sorted.slice(0, parserBounds.reportedErrors);
  return new AppError('MNEMO_IMPORT_INVALID', `${where}${first?.message ?? 'invalid module source'}${more}`, listed);
}

/** Identifies a module's content: equal hashes mean a re-import changes nothing. */
export function contentHash(module: NormalizedModule): string {
  return createHash('sha256').update(JSON.stringify(module)).digest('base64url');
}
