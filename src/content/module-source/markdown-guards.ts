import type { Nodes, Root } from 'mdast';
import * as commonmark from 'micromark-core-commonmark';
import type { Construct, Effects, Event, Extension, Resolver, State, Token, TokenizeContext, Tokenizer } from 'micromark-util-types';
import type { Processor } from 'unified';
import { sourceLimits } from './module-input.js';

/**
 * Bounds on the work the Markdown parser (micromark, under remark) may do for one source.
 *
 * Most of micromark is linear, but a few of its steps rescan what came before: matching emphasis and
 * strikethrough markers, resolving a link or image, looking a label up among link definitions, the GFM footnote
 * call check, setext headings, and any construct that reads far ahead and then fails (an unclosed code span, say).
 * With hostile input (`*a` repeated, `]` repeated, `a\n=\n` repeated, ...) each of these is quadratic: a 1 MiB
 * source would block the event loop for minutes. The guards here count that work as the parser does it and stop
 * the parse with a MarkdownTooComplexError (an author-facing 400, with the line) once a budget proportional to
 * the text is spent. Ordinary Markdown spends a few units per character; the budget allows many times that.
 *
 * They also bound nesting inside a paragraph (emphasis in strikethrough in emphasis ...; the parser resolves each
 * level recursively) and the depth of the finished tree, before remark-gfm's recursive transforms walk it.
 * Container nesting (blockquotes, lists) is rejected earlier, before parsing, by markdownStructureProblem.
 *
 * The guards wrap micromark's construct objects: the CommonMark ones once, here (they are shared), the GFM and
 * front matter ones per processor (remarkBounded). What they count mirrors micromark-core-commonmark 2 and the
 * GFM extensions; the hostile-source tests fail if an upgrade changes what they rely on.
 */

/** Work units per character of the text being parsed, and a floor for short texts. */
const workPerCharacter = 32;
const workFloor = 2_000_000;
/** Deepest mdast tree accepted: containers (two nodes a level), inline nesting and some slack. */
const maxTreeDepth = 3 * sourceLimits.nestingDepth + 16;
/** Events scanned or moved count this many times: resolving a match adds events between the ones counted. */
const rescanFactor = 4;

export const markdownWorkBudget = (length: number) => workFloor + workPerCharacter * length;

export class MarkdownTooComplexError extends Error {
  override readonly name = 'MarkdownTooComplexError';
  constructor(
    /** 1-based line within the parsed text, when known. */
    readonly line: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

const tooMuchWork = (line: number | undefined) =>
  new MarkdownTooComplexError(
    line,
    'the Markdown from here on is too complex to read (very many unmatched *, _, ~, ` or ] characters, link definitions or ' +
      'similar); escape characters meant literally with a backslash, such as \\*, or shorten the text',
  );

const tooDeep = (line: number | undefined, what: string) =>
  new MarkdownTooComplexError(line, `${what} nest more than ${sourceLimits.nestingDepth} deep here; at most ${sourceLimits.nestingDepth} levels are allowed`);

interface Meter {
  left: number;
  /** Current recursion depth of emphasis/strikethrough resolution: the nesting of spans inside a paragraph. */
  spans: number;
}

let meter: Meter | undefined;

/**
 * Runs `run` with a work budget for every Markdown parse inside it. Nested calls share the outermost budget, so
 * one import (the whole source, then each field rendered) spends from one budget. Parsers with the remarkBounded
 * plugin open their own budget when none is open.
 */
export function withMarkdownBudget<T>(units: number, run: () => T): T {
  if (meter) return run();
  meter = { left: units, spans: 0 };
  try {
    return run();
  } finally {
    meter = undefined;
  }
}

/** For benchmarks: the work units `run` spends, under a budget of `units` (effectively unlimited by default). */
export function measureMarkdownWork<T>(run: () => T, units = Number.MAX_SAFE_INTEGER): { result: T; work: number } {
  if (meter) throw new Error('measureMarkdownWork cannot run inside another budget');
  meter = { left: units, spans: 0 };
  try {
    const result = run();
    return { result, work: units - meter.left };
  } finally {
    meter = undefined;
  }
}

function spend(units: number, line: number | undefined): void {
  if (!meter) return;
  meter.left -= units;
  if (meter.left < 0) throw tooMuchWork(line);
}

const lineOf = (events: readonly Event[], index: number): number | undefined => events[Math.min(index, events.length - 1)]?.[1].start.line;
const size = (token: Token) => token.end.offset - token.start.offset;

// ---- Counting what tokenizers read --------------------------------------------------------------------------

const metered = new WeakSet<Effects>();

/**
 * Every character a tokenizer consumes costs one unit, so a construct that reads far ahead and then fails (and
 * the text is read again by the next one) pays for each reading.
 */
function meterEffects(effects: Effects, context: TokenizeContext): void {
  if (metered.has(effects)) return;
  metered.add(effects);
  const consume = effects.consume;
  effects.consume = (code) => {
    if (meter && --meter.left < 0) throw tooMuchWork(context.now().line);
    consume(code);
  };
}

/** Wraps a construct's tokenizer: meters what it reads and charges `extra` (a function of the context) up front. */
function guardTokenizer(construct: Construct, extra?: (context: TokenizeContext) => number): void {
  const tokenize = construct.tokenize;
  construct.tokenize = function (this: TokenizeContext, effects, ok, nok): State {
    meterEffects(effects, this);
    if (extra && meter) spend(extra(this), this.now().line);
    return tokenize.call(this, effects, ok, nok);
  };
}

// ---- Resolvers that rescan events -------------------------------------------------------------------------

/**
 * Emphasis (`*`, `_`) and strikethrough (`~`) are resolved by walking back from each closing sequence to an
 * opening one, then splicing the pair into the event list and resolving what is between recursively. This
 * estimates that walk in one forward pass, with the same rules (same marker; for emphasis the rule of three and
 * partly used sequences; for strikethrough equal lengths), before the real resolver runs. Where the estimate
 * could diverge from micromark (a rule-of-three skip), every later closer is charged a walk to the start.
 */
function sequenceWork(events: readonly Event[], type: string, context: TokenizeContext, emphasis: boolean): number {
  const openers = new Map<number, { index: number; left: number; token: Token }[]>();
  const leftAfterClosing = new Map<Token, number>();
  const total = events.length;
  let work = total;
  let diverged = false;
  for (let index = 0; index < total; index++) {
    const [kind, token] = events[index]!;
    if (token.type !== type) continue;
    // Emphasis pairs `*` with `*` and `_` with `_`; strikethrough pairs sequences of the same length.
    const key = emphasis ? context.sliceSerialize(token).charCodeAt(0) : size(token);
    if (kind === 'enter' && token._close) {
      let left = size(token);
      const stack = openers.get(key) ?? [];
      while (left > 0) {
        const top = stack.at(-1);
        if (diverged || !top) {
          work += rescanFactor * (index + total);
          break;
        }
        if (emphasis && (top.token._close || token._open) && left % 3 && !((top.left + left) % 3)) {
          diverged = true;
          continue;
        }
        const use = emphasis && top.left > 1 && left > 1 ? 2 : emphasis ? 1 : left;
        work += rescanFactor * (index - top.index + total - top.index);
        top.left -= emphasis ? use : top.left;
        left -= use;
        if (top.left <= 0) stack.pop();
      }
      leftAfterClosing.set(token, left);
    } else if (kind === 'exit' && token._open) {
      const left = leftAfterClosing.get(token) ?? size(token);
      if (left > 0) {
        const stack = openers.get(key) ?? [];
        stack.push({ index, left, token });
        openers.set(key, stack);
      }
    }
  }
  return work;
}

/** Guards a span resolver (emphasis, strikethrough): charges its estimated walk and bounds its recursion. */
function guardSpanResolver(construct: Pick<Construct, 'resolveAll'>, type: string, emphasis: boolean): void {
  const resolveAll = construct.resolveAll;
  if (!resolveAll) return;
  construct.resolveAll = function (events, context) {
    if (!meter) return resolveAll(events, context);
    if (meter.spans >= sourceLimits.nestingDepth) throw tooDeep(lineOf(events, 0), 'emphasis, strikethrough and links');
    spend(sequenceWork(events, type, context, emphasis), lineOf(events, 0));
    meter.spans += 1;
    try {
      return resolveAll(events, context);
    } finally {
      meter.spans -= 1;
    }
  } satisfies Resolver;
}

/** Resolving a link or image copies and re-resolves everything after its opening bracket. */
function labelResolveWork(events: readonly Event[]): number {
  let index = events.length;
  let close = false;
  while (index--) {
    const [kind, token] = events[index]!;
    if (!close) {
      close = token.type === 'labelEnd';
    } else if (kind === 'enter' && (token.type === 'labelImage' || token.type === 'labelLink') && !token._balanced) {
      break;
    }
  }
  return rescanFactor * (events.length - Math.max(index, 0));
}

/** The label a `]` closes: the innermost `[` or `![` still open (what label-end's tokenizer looks at). */
function openLabel(context: TokenizeContext): Token | undefined {
  const starts = context._labelStarts;
  if (!starts) return undefined;
  let index = starts.length;
  while (index-- > 0) if (!starts[index]!._balanced) return starts[index];
  return undefined;
}

const definitionsOf = (context: TokenizeContext) => context.parser.defined.length;
const footnotesOf = (context: TokenizeContext) => (context.parser as { gfmFootnotes?: string[] }).gfmFootnotes?.length ?? 0;

// ---- The CommonMark constructs, guarded once ----------------------------------------------------------------

const guarded = new WeakSet<object>();

function guardCommonmark(): void {
  for (const construct of Object.values(commonmark) as Construct[]) {
    if (typeof construct?.tokenize !== 'function' || guarded.has(construct)) continue;
    guarded.add(construct);
    switch (construct.name) {
      case 'labelEnd':
        // Each `]` normalises its label and looks it up among the definitions.
        guardTokenizer(construct, (context) => {
          const label = openLabel(context);
          return 1 + definitionsOf(context) + (label && !label._inactive ? context.now().offset - label.end.offset : 0);
        });
        if (construct.resolveTo) {
          const resolveTo = construct.resolveTo;
          construct.resolveTo = (events, context) => {
            spend(labelResolveWork(events), lineOf(events, events.length - 1));
            return resolveTo(events, context);
          };
        }
        break;
      case 'definition':
        guardTokenizer(construct, (context) => 1 + definitionsOf(context));
        break;
      case 'setextUnderline': {
        // The underline looks back for its paragraph, and resolving it rebuilds every event of the document.
        guardTokenizer(construct, (context) => {
          let index = context.events.length;
          while (index-- && ['lineEnding', 'linePrefix', 'content'].includes(context.events[index]![1].type));
          return 1 + context.events.length - index;
        });
        const resolveTo = construct.resolveTo;
        if (resolveTo) {
          construct.resolveTo = (events, context) => {
            spend(2 * events.length, lineOf(events, events.length - 1));
            return resolveTo(events, context);
          };
        }
        break;
      }
      case 'attention':
        guardTokenizer(construct);
        guardSpanResolver(construct, 'attentionSequence', true);
        break;
      default:
        guardTokenizer(construct);
    }
  }
}

guardCommonmark();

// ---- Extension constructs (GFM, front matter), guarded per processor -----------------------------------------

function guardExtensionConstruct(construct: Construct): void {
  if (guarded.has(construct)) return;
  guarded.add(construct);
  switch (construct.name) {
    case 'strikethrough':
      guardTokenizer(construct);
      guardSpanResolver(construct, 'strikethroughSequenceTemporary', false);
      return;
    case 'gfmPotentialFootnoteCall': {
      // After every `]`, GFM walks back through the paragraph for a `![^label` footnote call. The walk can only
      // succeed when the document defines footnotes; without definitions it is skipped (its answer is known).
      const tokenize = construct.tokenize;
      construct.tokenize = function (this: TokenizeContext, effects, ok, nok): State {
        if (footnotesOf(this) === 0) return nok;
        meterEffects(effects, this);
        let index = this.events.length;
        const stops = ['labelImage', 'gfmFootnoteCall', 'labelLink', 'label', 'image', 'link'];
        while (index-- && !stops.includes(this.events[index]![1].type));
        const label = openLabel(this);
        spend(1 + this.events.length - index + footnotesOf(this) + (label ? this.now().offset - label.end.offset : 0), this.now().line);
        return tokenize.call(this, effects, ok, nok);
      } satisfies Tokenizer;
      return;
    }
    case 'gfmFootnoteCall':
    case 'gfmFootnoteDefinition':
      guardTokenizer(construct, (context) => 1 + footnotesOf(context));
      return;
    default:
      guardTokenizer(construct);
  }
}

function guardExtension(extension: Extension | Extension[]): void {
  if (Array.isArray(extension)) {
    extension.forEach(guardExtension);
    return;
  }
  for (const field of ['document', 'contentInitial', 'flowInitial', 'flow', 'string', 'text'] as const) {
    for (const entry of Object.values(extension[field] ?? {})) {
      for (const construct of Array.isArray(entry) ? entry : entry ? [entry] : []) guardExtensionConstruct(construct);
    }
  }
}

// ---- The finished tree --------------------------------------------------------------------------------------

/** Rejects a tree deeper than maxTreeDepth, walking it without recursion; runs before any other mdast transform. */
function assertTreeDepth(tree: Root): undefined {
  const stack: [Nodes, number][] = [[tree, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (depth > maxTreeDepth) throw tooDeep(node.position?.start.line, 'blocks and spans');
    if ('children' in node) for (const child of node.children) stack.push([child, depth + 1]);
  }
  return undefined;
}

/**
 * unified plugin, used after remark-parse and remark-gfm (and remark-frontmatter): guards the parser's constructs
 * and gives every parse a work budget (unless one is already open, see withMarkdownBudget). A parse that still
 * runs out of stack is reported as too deeply nested, never as an internal error.
 */
export function remarkBounded(this: Processor): undefined {
  const data = this.data();
  guardExtension((data.micromarkExtensions ?? []) as Extension[]);
  data.fromMarkdownExtensions = [{ transforms: [assertTreeDepth] }, ...(data.fromMarkdownExtensions ?? [])];
  const parse = this.parser;
  if (!parse) throw new Error('remarkBounded must be used after remark-parse');
  this.parser = (document, file) =>
    withMarkdownBudget(markdownWorkBudget(document.length), () => {
      try {
        return parse(document, file);
      } catch (error) {
        if (error instanceof RangeError) throw tooDeep(undefined, 'blocks and spans');
        throw error;
      }
    });
  return undefined;
}
