import type { z } from 'zod';
import type { ErrorDetail } from '../../errors.js';

export type SourcePath = readonly (string | number)[];

/** Where each part of a parsed source came from, so validation errors can name a line. */
export class SourceMap {
  private readonly lines = new Map<string, number>();

  set(path: SourcePath, line: number | undefined): void {
    if (line !== undefined) this.lines.set(path.join('.'), line);
  }

  /** The line of the longest recorded prefix of `path`; line 1 (the front matter) for a missing top-level field. */
  lineOf(path: SourcePath): number {
    for (let length = path.length; length > 0; length--) {
      const line = this.lines.get(path.slice(0, length).join('.'));
      if (line !== undefined) return line;
    }
    return 1;
  }
}

export function zodIssuesToDetails(issues: readonly z.core.$ZodIssue[], map?: SourceMap): ErrorDetail[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => detail([...issue.path, key].map(pathPart), `unknown field "${key}"`, map));
    }
    return [detail(issue.path.map(pathPart), issue.message, map)];
  });
}

function pathPart(part: PropertyKey): string | number {
  return typeof part === 'number' ? part : String(part);
}

function detail(path: SourcePath, message: string, map?: SourceMap): ErrorDetail {
  const line = map?.lineOf(path);
  return {
    ...(line !== undefined ? { line } : {}),
    ...(path.length ? { path: path.join('.') } : {}),
    message,
  };
}

export const byLine = (a: ErrorDetail, b: ErrorDetail) => (a.line ?? 0) - (b.line ?? 0);
