import { z } from 'zod';

/**
 * The one place where zod issues become messages an integrator can act on: "clientAnswerId is required", "limit
 * must be between 1 and 100", "unknown field `flashcardID`; did you mean `flashcardId`?", "format must be one of
 * markdown, html, text". Installed as zod's global error map (below), so every parse gets them: route validation
 * (REST), batch items, GraphQL arguments checked with the REST schemas, module sources and the configuration.
 * A message a schema sets itself still wins over these.
 */

type Schema = z.core.$ZodType;
type Path = readonly PropertyKey[];
type BoundIssue = z.core.$ZodRawIssue<z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig>;

/** A loose view of zod's internal definitions, enough to read shapes and bounds. */
interface LooseDef {
  type?: string;
  check?: string;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
  items?: Schema[];
  rest?: Schema | null;
  innerType?: Schema;
  in?: Schema;
  out?: Schema;
  getter?: () => Schema;
  checks?: { _zod: { def: LooseDef } }[];
  value?: unknown;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  length?: number;
}

const defOf = (schema: unknown): LooseDef => ((schema as { _zod?: { def?: LooseDef } } | undefined)?._zod?.def ?? {});

/** The name an author knows a field by: the last key of its path (`rating`, `tags[2]`), or none for the root. */
export function fieldLabel(path: Path): string | undefined {
  let indexes = '';
  for (let index = path.length - 1; index >= 0; index--) {
    const part = path[index];
    if (typeof part === 'number') indexes = `[${part}]${indexes}`;
    else return `${String(part)}${indexes}`;
  }
  return indexes ? `item ${indexes}` : undefined;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const rows: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[x.length]![y.length]!;
}

/** The known name one or two edits away from `key` (one for names of up to 3 characters), if there is one. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  const allowed = key.length <= 3 ? 1 : 2;
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    if (name === key) continue;
    const distance = editDistance(key, name);
    if (distance <= allowed && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** "unknown field `flashcardID`; did you mean `flashcardId`?" (`noun`: "query parameter" for query strings). */
export function unknownFieldMessage(key: string, known: readonly string[], noun = 'field'): string {
  const suggestion = didYouMean(key, known);
  return `unknown ${noun} \`${key}\`${suggestion ? `; did you mean \`${suggestion}\`?` : ''}`;
}

/** Unwraps optional, default, pipe (its input side), lazy and similar wrappers down to the schema that shapes the value. */
function unwrap(schema: Schema | undefined): Schema | undefined {
  let current = schema;
  for (let depth = 0; current && depth < 32; depth++) {
    const def = defOf(current);
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe') current = defOf(def.in).type === 'transform' ? def.out : def.in;
    else if (def.type === 'lazy' && def.getter) current = def.getter();
    else return current;
  }
  return current;
}

/** The names of the fields of the object at `path` inside `schema`, or none when that is not a plain object. */
export function knownFieldsAt(schema: unknown, path: Path): string[] {
  let current = unwrap(schema as Schema | undefined);
  for (const part of path) {
    const def = defOf(current);
    if (def.type === 'object' && def.shape) current = def.shape[String(part)];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else if (def.type === 'tuple') current = def.items?.[Number(part)] ?? def.rest ?? undefined;
    else return [];
    current = unwrap(current);
  }
  const shape = defOf(current).shape;
  return defOf(current).type === 'object' && shape ? Object.keys(shape) : [];
}

interface Bounds {
  min?: number;
  minInclusive?: boolean;
  max?: number;
  maxInclusive?: boolean;
  exact?: number;
}

/** The bounds a schema's own checks set (`min(1).max(100)`), read from the schema that raised the issue. */
function boundsOf(schema: unknown): Bounds {
  const bounds: Bounds = {};
  for (const check of defOf(schema).checks ?? []) {
    const def = check._zod.def;
    if (def.check === 'greater_than' && typeof def.value === 'number') Object.assign(bounds, { min: def.value, minInclusive: def.inclusive !== false });
    if (def.check === 'less_than' && typeof def.value === 'number') Object.assign(bounds, { max: def.value, maxInclusive: def.inclusive !== false });
    if ((def.check === 'min_length' || def.check === 'min_size') && typeof def.minimum === 'number') Object.assign(bounds, { min: def.minimum, minInclusive: true });
    if ((def.check === 'max_length' || def.check === 'max_size') && typeof def.maximum === 'number') Object.assign(bounds, { max: def.maximum, maxInclusive: true });
    if ((def.check === 'length_equals' || def.check === 'size_equals') && typeof def.length === 'number') bounds.exact = def.length;
  }
  return bounds;
}

const plural = (count: number | bigint, unit: string) => `${count} ${unit}${count === 1 || count === 1n ? '' : 's'}`;

function numberBound(issue: BoundIssue, bounds: Bounds): string {
  const { min, max, minInclusive, maxInclusive } = bounds;
  if (min !== undefined && max !== undefined && minInclusive && maxInclusive) return `must be between ${min} and ${max}`;
  if (issue.code === 'too_small') return issue.inclusive === false ? `must be greater than ${issue.minimum}` : `must be at least ${issue.minimum}`;
  return issue.inclusive === false ? `must be less than ${issue.maximum}` : `must be at most ${issue.maximum}`;
}

function sizeBound(issue: BoundIssue, unit: string): string {
  if (issue.exact) return `must be exactly ${plural(issue.code === 'too_small' ? issue.minimum : issue.maximum, unit)}${unit === 'character' ? ' long' : ''}`;
  if (issue.code === 'too_small') {
    if (Number(issue.minimum) <= 1) return 'must not be empty';
    return unit === 'character' ? `must be at least ${plural(issue.minimum, unit)} long` : `must have at least ${plural(issue.minimum, unit)}`;
  }
  return unit === 'character' ? `must be at most ${plural(issue.maximum, unit)} long` : `must have at most ${plural(issue.maximum, unit)}`;
}

const typeNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  bigint: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  tuple: 'an array',
  record: 'an object',
  null: 'null',
  date: 'a date',
};

function describeValue(value: unknown): string | undefined {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isNaN(value) ? undefined : 'a number';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return 'an object';
    default:
      return undefined;
  }
}

const formatNames: Record<string, string> = {
  uuid: 'a UUID',
  guid: 'a UUID',
  datetime: 'an ISO-8601 date-time with a time zone, e.g. 2026-11-26T09:30:00Z',
  date: 'a date like 2026-11-26',
  time: 'a time like 09:30:00',
  email: 'an email address',
  url: 'a URL',
};

const listValues = (values: readonly unknown[]) => values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join(', ');

/** The predicate part of a message ("is required", "must be between 1 and 100"), or undefined to fall back. */
function predicate(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected = typeNames[issue.expected] ?? `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
      const received = describeValue(issue.input);
      return `must be ${expected}${received && !(issue.expected === 'int' && received === 'a number') ? `, not ${received}` : ''}`;
    }
    case 'too_small':
    case 'too_big': {
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') return numberBound(issue, boundsOf(issue.schema));
      if (issue.origin === 'string') return sizeBound(issue, 'character');
      if (issue.origin === 'array' || issue.origin === 'set') return sizeBound(issue, 'item');
      return undefined;
    }
    case 'invalid_format': {
      if (issue.format === 'regex') return `must match the pattern ${issue.pattern ?? ''}`.trimEnd();
      if (issue.format === 'starts_with') return `must start with "${String(issue.prefix)}"`;
      if (issue.format === 'ends_with') return `must end with "${String(issue.suffix)}"`;
      if (issue.format === 'includes') return `must contain "${String(issue.includes)}"`;
      return `must be ${formatNames[issue.format] ?? `a valid ${issue.format}`}`;
    }
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${listValues(issue.values)}` : `must be one of ${listValues(issue.values)}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_union':
      return 'does not match any of the accepted forms';
    case 'invalid_key':
      return 'has an invalid key';
    case 'invalid_element':
      return 'has an invalid element';
    default:
      return undefined;
  }
}

/** zod's error map for the whole process. Returns undefined (zod's own English message) for custom refinements. */
export const validationErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'unrecognized_keys') {
    const known = knownFieldsAt(issue.inst, []);
    return issue.keys.map((key) => unknownFieldMessage(key, known)).join('; ');
  }
  const path = issue.path ?? [];
  const label = fieldLabel(path);
  if (!label) {
    // The value itself: a request body, a batch item.
    if (issue.code === 'invalid_type' && issue.input === undefined) return 'a request body is required';
    if (issue.code === 'invalid_type' && issue.expected === 'object') return `must be a JSON object${describeValue(issue.input) ? `, not ${describeValue(issue.input)}` : ''}`;
  }
  const text = predicate(issue);
  return text === undefined ? undefined : `${label ?? 'the value'} ${text}`;
};

/**
 * For a schema's own message that describes a present value ("must be a UUID"): a missing value still says
 * "… is required" rather than the schema's message.
 */
export const unlessMissing =
  (message: string | ((field: string) => string)): z.core.$ZodErrorMap =>
  (issue) =>
    issue.input === undefined ? undefined : typeof message === 'string' ? message : message(fieldLabel(issue.path ?? []) ?? 'the value');

z.config({ customError: validationErrorMap });
