import type { ModuleInput } from '../src/content/module-source/module-input.js';
import { Rng, Zipf } from './prng.js';

/**
 * Realistic-looking module sources for the benchmark dataset: technical prose drawn from a Zipf-distributed
 * vocabulary (a few words are everywhere, most are uncommon), with inline code, emphasis, links, lists,
 * multi-paragraph answers and fenced code blocks. Every text respects the import's validation rules: inline
 * texts are one line, block texts never contain headings (no line starts with `#`, no setext underlines).
 */

/** Real words first: they take the top ranks of the Zipf distribution, so they are the common search terms. */
const headWords = [
  'service', 'cache', 'request', 'query', 'index', 'container', 'cluster', 'replica', 'token', 'session',
  'schema', 'proxy', 'latency', 'partition', 'transaction', 'queue', 'network', 'process', 'thread', 'buffer',
  'stream', 'kernel', 'socket', 'router', 'gateway', 'certificate', 'handshake', 'checksum', 'snapshot', 'backup',
  'rollback', 'migration', 'optimizer', 'planner', 'join', 'aggregate', 'trigger', 'cursor', 'lock', 'deadlock',
  'mutex', 'semaphore', 'metric', 'trace', 'alert', 'dashboard', 'deployment', 'rollout', 'canary', 'node',
  'volume', 'filesystem', 'inode', 'journal', 'memory', 'page', 'swap', 'cgroup', 'namespace', 'capability',
  'firewall', 'subnet', 'resolver', 'endpoint', 'webhook', 'function', 'image', 'registry', 'layer', 'manifest',
  'pipeline', 'artifact', 'coverage', 'linter', 'bundler', 'module', 'package', 'dependency', 'version', 'branch',
  'commit', 'release', 'feature', 'flag', 'experiment', 'cohort', 'scheduler', 'compiler', 'parser', 'runtime',
  'heap', 'stack', 'pointer', 'closure', 'promise', 'encoder', 'decoder', 'protocol', 'throughput', 'bandwidth',
  'shard', 'broker', 'consumer', 'producer', 'offset', 'leader', 'follower', 'quorum', 'election', 'heartbeat',
  'timeout', 'retry', 'backoff', 'circuit', 'breaker', 'bulkhead', 'sidecar', 'mesh', 'ingress', 'egress',
  'policy', 'role', 'binding', 'secret', 'vault', 'cipher', 'signature', 'digest', 'nonce', 'entropy',
  'tenant', 'quota', 'limit', 'budget', 'workload', 'daemon', 'probe', 'liveness', 'readiness', 'signal',
  'allocator', 'collector', 'generation', 'fragment', 'segment', 'compaction', 'tombstone', 'bloom', 'filter', 'sketch',
  'histogram', 'percentile', 'sample', 'window', 'watermark', 'checkpoint', 'savepoint', 'isolation', 'phantom', 'anomaly',
  'vector', 'tensor', 'embedding', 'gradient', 'epoch', 'batch', 'kernel', 'shader', 'texture', 'frame',
  'packet', 'frame', 'datagram', 'congestion', 'window', 'multiplexing', 'stream', 'header', 'payload', 'trailer',
  'tokenizer', 'lexer', 'grammar', 'visitor', 'interpreter', 'bytecode', 'register', 'opcode', 'pipeline', 'branch',
];

const verbs = [
  'stores', 'routes', 'caches', 'validates', 'replicates', 'schedules', 'rejects', 'retries', 'compresses', 'indexes',
  'forwards', 'serialises', 'evicts', 'throttles', 'shards', 'signs', 'encrypts', 'balances', 'observes', 'restarts',
  'buffers', 'batches', 'flushes', 'drains', 'pins', 'locks', 'releases', 'rotates', 'renews', 'invalidates',
];

const adjectives = [
  'stale', 'idempotent', 'eventual', 'strict', 'durable', 'ephemeral', 'immutable', 'saturated', 'degraded', 'healthy',
  'partitioned', 'consistent', 'lazy', 'eager', 'bounded', 'unbounded', 'cold', 'warm', 'hot', 'noisy',
];

const tools = ['kubectl', 'docker', 'psql', 'redis-cli', 'curl', 'git', 'npm', 'terraform', 'helm', 'openssl', 'sqlite3', 'jq'];
const tagPool = [
  'kubernetes', 'networking', 'databases', 'security', 'observability', 'distributed-systems', 'storage', 'linux',
  'cloud', 'devops', 'compilers', 'frontend', 'backend', 'messaging', 'caching', 'performance', 'testing', 'ci-cd',
  'cryptography', 'machine-learning', 'graphics', 'protocols', 'concurrency', 'runtime', 'search', 'streaming',
  'reliability', 'architecture', 'data-engineering', 'api-design',
];
const cheatSheetHeadings = [
  ['Command', 'Purpose', 'Flags', 'Example', 'Notes'],
  ['Resource', 'Kind', 'Key Fields', 'Use Case', 'Gotchas'],
  ['Term', 'Layer', 'Default', 'Tuning', 'Notes'],
  ['Setting', 'Scope', 'Default', 'When to change', 'Risk'],
  ['Pattern', 'Problem', 'Mechanism', 'Trade-off', 'Example'],
];

const consonants = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'tr', 'st', 'kl', 'gr', 'pl'];
const vowels = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'y'];

function syllable(rng: Rng): string {
  return rng.pick(consonants) + rng.pick(vowels) + (rng.chance(0.4) ? rng.pick(['n', 'r', 'x', 'k', 'l', 's']) : '');
}

export interface Vocabulary {
  /** Ranked words: index 0 is the most frequent. */
  words: string[];
  zipf: Zipf;
}

/** The shared vocabulary: the real words, then invented jargon (tool and project names) for the long tail. */
export function createVocabulary(seed: number, tailSize = 2000): Vocabulary {
  const rng = new Rng(seed ^ 0x5bd1e995);
  const words = [...new Set(headWords)];
  const seen = new Set(words);
  while (words.length < headWords.length + tailSize) {
    const word = syllable(rng) + syllable(rng) + (rng.chance(0.5) ? syllable(rng) : '');
    if (word.length >= 5 && !seen.has(word)) {
      seen.add(word);
      words.push(word);
    }
  }
  return { words, zipf: new Zipf(words.length, 1.15, 8) };
}

/** Words most likely to appear everywhere (the common search terms). */
export const commonTerms = (vocabulary: Vocabulary, count: number) => vocabulary.words.slice(0, count);

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** Generates the texts of one module; `rareTerms` are used exactly once each, somewhere in the module. */
class ModuleWriter {
  private pendingRare: string[];

  constructor(
    private readonly rng: Rng,
    private readonly vocabulary: Vocabulary,
    private readonly slug: string,
    rareTerms: string[],
  ) {
    this.pendingRare = [...rareTerms];
  }

  word(): string {
    return this.vocabulary.words[this.vocabulary.zipf.draw(this.rng)]!;
  }

  /** A rare term if one is still waiting to be placed (a small chance per call), else an ordinary word. */
  noun(): string {
    if (this.pendingRare.length && this.rng.chance(0.02)) return this.pendingRare.pop()!;
    return this.word();
  }

  /** Places the rare terms that were not drawn by chance. */
  flushRare(text: string): string {
    if (!this.pendingRare.length) return text;
    const extra = this.pendingRare.map((term) => `See also the ${term} ${this.word()}.`).join(' ');
    this.pendingRare = [];
    return `${text} ${extra}`;
  }

  code(): string {
    switch (this.rng.int(0, 4)) {
      case 0:
        return `\`${this.word()}_${this.word()}\``;
      case 1:
        return `\`${this.word()}.${this.rng.pick(verbs).replace(/s$/, '')}()\``;
      case 2:
        return `\`--${this.word()}-${this.word()}\``;
      case 3:
        return `\`${capitalize(this.word())}Error\``;
      default:
        return `\`${this.word()}: ${this.rng.int(1, 512)}\``;
    }
  }

  /** A noun phrase, sometimes decorated with inline Markdown. */
  phrase(): string {
    const roll = this.rng.next();
    if (roll < 0.12) return this.code();
    if (roll < 0.2) return `*${this.noun()}*`;
    if (roll < 0.26) return `**${this.noun()} ${this.noun()}**`;
    if (roll < 0.3) return `[${this.noun()} ${this.noun()}](https://docs.example.com/${this.slug}/${this.word()})`;
    if (roll < 0.55) return `${this.rng.pick(adjectives)} ${this.noun()}`;
    if (roll < 0.75) return `${this.noun()} ${this.noun()}`;
    return this.noun();
  }

  sentence(): string {
    const subject = `${this.rng.pick(['The', 'A', 'Each', 'Every', 'One'])} ${this.noun()}`;
    const verb = this.rng.pick(verbs);
    const object = `${this.rng.pick(['the', 'a', 'every', 'its'])} ${this.phrase()}`;
    const clauses = [
      () => ` when the ${this.noun()} is ${this.rng.pick(adjectives)}`,
      () => ` before the ${this.noun()} ${this.rng.pick(verbs)} ${this.phrase()}`,
      () => ` so that the ${this.noun()} stays ${this.rng.pick(adjectives)}`,
      () => ` under ${this.rng.pick(['load', 'contention', 'failover', 'backpressure', 'a partition'])}`,
      () => ` across ${this.noun()} boundaries`,
      () => `, which keeps ${this.phrase()} ${this.rng.pick(adjectives)}`,
      () => ` within ${this.rng.int(2, 900)} ${this.rng.pick(['ms', 'seconds', 'requests', 'pages', 'MiB'])}`,
      () => '',
    ];
    return `${subject} ${verb} ${object}${this.rng.pick(clauses)()}.`;
  }

  sentences(min: number, max: number): string {
    return Array.from({ length: this.rng.int(min, max) }, () => this.sentence()).join(' ');
  }

  codeBlock(): string {
    const lines = (() => {
      switch (this.rng.int(0, 3)) {
        case 0:
          return ['```sh', `${this.rng.pick(tools)} ${this.rng.pick(verbs).replace(/s$/, '')} ${this.word()} --${this.word()}=${this.rng.int(1, 64)}`, '```'];
        case 1:
          return ['```ts', `const ${this.word()} = await ${this.word()}.${this.rng.pick(verbs).replace(/s$/, '')}({ ${this.word()}: ${this.rng.int(1, 1000)} });`, `if (!${this.word()}) throw new Error('${this.word()} ${this.rng.pick(adjectives)}');`, '```'];
        case 2:
          return ['```sql', `SELECT ${this.word()}, count(*) FROM ${this.word()}_${this.word()} WHERE ${this.word()} > ? GROUP BY 1;`, '```'];
        default:
          return ['```yaml', `${this.word()}:`, `  ${this.word()}: ${this.rng.int(1, 300)}`, `  ${this.word()}: ${this.rng.pick(adjectives)}`, '```'];
      }
    })();
    return lines.join('\n');
  }

  list(): string {
    return Array.from({ length: this.rng.int(2, 4) }, () => `- ${this.sentence()}`).join('\n');
  }

  /** A flashcard answer: short, medium, or several paragraphs with a list or a code block. */
  answer(): string {
    const roll = this.rng.next();
    if (roll < 0.4) return this.sentences(1, 2);
    if (roll < 0.75) return this.sentences(2, 4);
    const blocks = [this.sentences(1, 3)];
    const extra = this.rng.next();
    if (extra < 0.5) blocks.push(this.codeBlock());
    else if (extra < 0.75) blocks.push(this.list());
    blocks.push(this.sentences(1, 3));
    return blocks.join('\n\n');
  }

  question(): string {
    const templates = [
      () => `What does the ${this.noun()} ${this.rng.pick(verbs).replace(/s$/, '')} when the ${this.noun()} is ${this.rng.pick(adjectives)}?`,
      () => `How does ${this.code()} affect the ${this.noun()} ${this.noun()}?`,
      () => `Why would a ${this.noun()} ${this.rng.pick(verbs).replace(/s$/, '')} the ${this.noun()}?`,
      () => `Which ${this.noun()} handles ${this.noun()} ${this.noun()} under load?`,
      () => `When should you prefer *${this.noun()}* over ${this.noun()}?`,
      () => `What is the difference between a ${this.noun()} and a ${this.noun()} ${this.noun()}?`,
    ];
    return this.rng.pick(templates)();
  }

  title(): string {
    return `${capitalize(this.rng.pick(adjectives))} ${capitalize(this.noun())} ${capitalize(this.noun())}`;
  }

  cell(column: number): string {
    if (column === 0) return this.rng.chance(0.5) ? this.code() : capitalize(this.noun());
    const roll = this.rng.next();
    if (roll < 0.25) return this.code();
    if (roll < 0.5) return `${capitalize(this.rng.pick(adjectives))} ${this.noun()}`;
    return `${capitalize(this.noun())} ${this.rng.pick(verbs)} ${this.phrase()}.`;
  }
}

export interface ModuleShape {
  takeaways: number;
  flashcards: number;
  cheatSheetColumns: number;
  cheatSheetRows: number;
  revisionItems: number;
}

export interface GeneratedModule {
  input: ModuleInput;
  /** Terms that occur in this module only (once each): the rare search terms. */
  rareTerms: string[];
}

/** A unique, module-specific term: invented syllables keyed by the module's index, so no two modules share one. */
function rareTerm(rng: Rng, moduleIndex: number, termIndex: number): string {
  const base = syllable(rng) + syllable(rng);
  return `${base}${(moduleIndex * 7 + termIndex).toString(36)}q`.replace(/[^a-z0-9]/g, '');
}

/** Module `index` (0-based) of the dataset; deterministic in (seed, index). */
export function generateModule(seed: number, index: number, vocabulary: Vocabulary, shape: ModuleShape): GeneratedModule {
  const rng = new Rng((seed * 1_000_003 + index * 7919) >>> 0);
  const first = vocabulary.words[rng.int(0, 120)]!;
  const second = vocabulary.words[rng.int(0, 400)]!;
  const slug = `${first}-${second}-${index + 1}`;
  const rareTerms = Array.from({ length: 4 }, (_, term) => rareTerm(rng, index, term));
  const writer = new ModuleWriter(rng, vocabulary, slug, rareTerms);
  const headings = rng.pick(cheatSheetHeadings).slice(0, shape.cheatSheetColumns);
  while (headings.length < shape.cheatSheetColumns) headings.push(`Column ${headings.length + 1}`);

  const flashcards = Array.from({ length: shape.flashcards }, (_, card) => {
    const question = writer.question();
    const words = question.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    const key = `${words.slice(0, 5).join('-')}-${card + 1}`.slice(-64).replace(/^-+/, '');
    return { key, question, answer: writer.answer() };
  });
  // Whatever rare terms chance did not place go into the last answer, so each occurs exactly once.
  const last = flashcards.at(-1);
  if (last) last.answer = writer.flushRare(last.answer);

  const input: ModuleInput = {
    slug,
    title: `Module Review: ${capitalize(first)} ${capitalize(second)} ${index + 1}`,
    summary: `${writer.sentences(2, 3)}\n\n${writer.sentences(1, 2)}`,
    tags: rng.sample(tagPool, rng.int(2, 5)),
    takeaways: Array.from({ length: shape.takeaways }, () => ({ title: writer.title(), body: writer.sentences(2, 4) })),
    flashcards,
    cheatSheet: {
      columns: headings,
      rows: Array.from({ length: shape.cheatSheetRows }, () => headings.map((_, column) => writer.cell(column))),
    },
    revisionItems: Array.from({ length: shape.revisionItems }, () => ({
      term: rng.chance(0.3) ? writer.code() : `${capitalize(writer.noun())} ${writer.noun()}`,
      definition: rng.chance(0.2) ? `${writer.sentences(1, 2)}\n\n${writer.sentence()}` : writer.sentences(1, 2),
    })),
  };
  return { input, rareTerms };
}
