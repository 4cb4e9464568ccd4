import type { ErrorDetail } from '../../errors.js';

export interface ParsedJsonSource {
  input: unknown;
  errors: ErrorDetail[];
}

/** The JSON module format is the ModuleInput shape itself; only syntax is checked here. */
export function parseJsonModule(source: string): ParsedJsonSource {
  try {
    return { input: JSON.parse(source) as unknown, errors: [] };
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    const line = position ? source.slice(0, Number(position[1])).split('\n').length : undefined;
    return { input: undefined, errors: [{ ...(line !== undefined ? { line } : {}), message: `invalid JSON: ${message}` }] };
  }
}
