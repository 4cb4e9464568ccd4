import type { Blockquote, Heading, List, ListItem, Node, Paragraph, PhrasingContent, Root, RootContent, Table, Yaml } from 'mdast';
import remarkFrontmatter from 'remark-frontmatter';
import remarkGfm from 'remark-gfm';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { ErrorDetail } from '../../errors.js';
import { SourceMap } from './source-errors.js';

export interface ParsedSource {
  /** Unvalidated module input; the caller validates it with `moduleInputSchema`. */
  input: Record<string, unknown>;
  map: SourceMap;
  /** Structural errors found while reading the document (validation errors come later). */
  errors: ErrorDetail[];
  /** Front-matter fields whose validation errors would only repeat a front-matter syntax error. */
  unreadable: string[];
}

type SectionKind = 'takeaways' | 'flashcards' | 'cheatSheet' | 'revisionItems';

/** Each section's heading, then its aliases: the only spellings accepted, and the ones the README documents. */
const sectionHeadings: Record<SectionKind, readonly string[]> = {
  takeaways: ['Key Takeaways', 'Takeaways'],
  flashcards: ['Flashcards', 'Cards'],
  cheatSheet: ['Cheat Sheet'],
  revisionItems: ['Quick Revision', 'Revision', 'Revision Items'],
};

/** Matching ignores case, spaces, punctuation and a leading number ("2. Flashcards", "cheat-sheet"). */
const normalizeHeading = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/^\d+[.)]?\s*/, '')
    .replace(/[^a-z]/g, '');

const sectionEntries = Object.entries(sectionHeadings) as [SectionKind, readonly string[]][];

const sectionAliases: Record<string, SectionKind> = Object.fromEntries(
  sectionEntries.flatMap(([kind, headings]) => headings.map((heading) => [normalizeHeading(heading), kind])),
);

const sectionNames = Object.fromEntries(sectionEntries.map(([kind, headings]) => [kind, headings[0]!])) as Record<SectionKind, string>;

/** Every accepted spelling, as the unknown-section error lists it. */
const acceptedSections = sectionEntries
  .map(([, [name, ...aliases]]) => `"${name}"${aliases.length ? ` (or ${aliases.map((alias) => `"${alias}"`).join(', ')})` : ''}`)
  .join(', ');

const frontMatterKeys = new Set(['slug', 'title', 'summary', 'tags']);

const parser = unified().use(remarkParse).use(remarkGfm).use(remarkFrontmatter, ['yaml']);

/**
 * Reads the Markdown module format from its mdast (remark + GFM), keeping each field's exact Markdown source by
 * slicing the document at node offsets, so authors' text is stored as written.
 */
export function parseMarkdownModule(source: string): ParsedSource {
  return new MarkdownModuleReader(source).read();
}

class MarkdownModuleReader {
  private readonly input: Record<string, unknown> = {};
  private readonly map = new SourceMap();
  private readonly errors: ErrorDetail[] = [];
  private readonly seenSections = new Map<SectionKind, number>();
  private unreadable: string[] = [];
  private headingTitle: { text: string; line: number } | undefined;

  constructor(private readonly source: string) {}

  read(): ParsedSource {
    const root = parser.parse(this.source) as Root;
    let index = 0;
    const first = root.children[0];
    if (first?.type === 'yaml') {
      this.readFrontMatter(first);
      index = 1;
    }

    // kind null: an unknown section, already reported; its content is skipped rather than reported again.
    let section: { kind: SectionKind | null; nodes: RootContent[] } | undefined;
    const flush = () => {
      if (section?.kind) this.readSection(section.kind, section.nodes);
      section = undefined;
    };

    for (const node of root.children.slice(index)) {
      if (node.type === 'heading' && node.depth <= 2) {
        flush();
        if (node.depth === 1) this.readTitleHeading(node);
        else section = this.openSection(node);
        continue;
      }
      if (section) {
        section.nodes.push(node);
      } else if (node.type === 'blockquote' && this.input.summary === undefined && this.seenSections.size === 0) {
        this.readSummary(node);
      } else if (node.type !== 'html' || !isComment(this.slice(node))) {
        this.error(node, `unexpected ${describe(node)} outside a section; content belongs under a "## " section heading`);
      }
    }
    flush();

    if (this.input.title === undefined && this.headingTitle) {
      this.input.title = this.headingTitle.text;
      this.map.set(['title'], this.headingTitle.line);
    }
    for (const kind of ['takeaways', 'flashcards', 'revisionItems'] as const) this.input[kind] ??= [];
    return { input: this.input, map: this.map, errors: this.errors, unreadable: this.unreadable };
  }

  private readFrontMatter(node: Yaml): void {
    const lineCounter = new LineCounter();
    const doc = parseDocument(node.value, { lineCounter, uniqueKeys: true, prettyErrors: false });
    // The YAML value starts on the line after the opening `---`.
    const firstLine = line(node) + 1;
    const at = (offset: number | undefined) =>
      offset === undefined ? firstLine : firstLine + lineCounter.linePos(offset).line - 1;
    for (const error of doc.errors) {
      this.errors.push({ line: at(error.pos[0]), path: 'frontMatter', message: `front matter: ${error.message}` });
    }
    if (doc.errors.length) {
      this.unreadable = [...frontMatterKeys];
      return;
    }
    if (doc.contents === null) return;
    if (!isMap(doc.contents)) {
      this.errors.push({ line: firstLine, path: 'frontMatter', message: 'front matter must be a YAML mapping of slug, title, summary, tags' });
      return;
    }
    let data: Record<string, unknown>;
    try {
      data = doc.toJS({ maxAliasCount: 50 }) as Record<string, unknown>;
    } catch (error) {
      this.errors.push({ line: firstLine, path: 'frontMatter', message: `front matter: ${(error as Error).message}` });
      this.unreadable = [...frontMatterKeys];
      return;
    }
    for (const pair of doc.contents.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const keyLine = at(isScalar(pair.key) ? pair.key.range?.[0] : undefined);
      if (!frontMatterKeys.has(key)) {
        this.errors.push({ line: keyLine, path: key, message: `unknown front matter field "${key}" (expected slug, title, summary or tags)` });
        continue;
      }
      this.input[key] = data[key];
      this.map.set([key], keyLine);
    }
  }

  private readTitleHeading(node: Heading): void {
    if (this.headingTitle) {
      this.error(node, 'a module has one "# " title heading; use "## " for sections and "### " for flashcards');
      return;
    }
    this.headingTitle = { text: this.inlineSource(node.children, node), line: line(node) };
  }

  private readSummary(node: Blockquote): void {
    const lines = this.slice(node)
      .split('\n')
      .map((text) => stripBlockquoteMarker(text));
    // GitHub alert syntax: the first line is a marker such as [!NOTE], not part of the summary.
    const firstParagraph = node.children[0];
    const firstText = firstParagraph?.type === 'paragraph' ? firstParagraph.children[0] : undefined;
    const marker = firstText?.type === 'text' ? /^\[![A-Za-z]+\]/.exec(firstText.value) : null;
    if (marker && lines[0] !== undefined) lines[0] = lines[0].trimStart().slice(marker[0].length);
    this.input.summary = lines.join('\n').trim();
    this.map.set(['summary'], line(node));
  }

  private openSection(node: Heading): { kind: SectionKind | null; nodes: RootContent[] } {
    const heading = this.inlineText(node.children);
    const kind = sectionAliases[normalizeHeading(heading)];
    if (!kind) {
      this.error(node, `unknown section "${heading}"; accepted headings: ${acceptedSections}`);
      return { kind: null, nodes: [] };
    }
    const previous = this.seenSections.get(kind);
    if (previous !== undefined) {
      this.error(node, `duplicate section "${heading}" (${sectionNames[kind]} already started on line ${previous})`);
      return { kind: null, nodes: [] };
    }
    this.seenSections.set(kind, line(node));
    this.map.set([kind], line(node));
    return { kind, nodes: [] };
  }

  private readSection(kind: SectionKind, nodes: RootContent[]): void {
    switch (kind) {
      case 'takeaways':
        this.input.takeaways = this.readLeadInList(nodes, 'takeaways', 'title', 'body');
        return;
      case 'revisionItems':
        this.input.revisionItems = this.readLeadInList(nodes, 'revisionItems', 'term', 'definition');
        return;
      case 'flashcards':
        this.input.flashcards = this.readFlashcards(nodes);
        return;
      case 'cheatSheet':
        this.readCheatSheet(nodes);
        return;
    }
  }

  /** `- **Lead-in**: rest` items, used by takeaways (title/body) and revision items (term/definition). */
  private readLeadInList<L extends string, R extends string>(
    nodes: RootContent[],
    section: SectionKind,
    leadKey: L,
    restKey: R,
  ): Record<L | R, string>[] {
    const items: Record<L | R, string>[] = [];
    const example = `"- **${capitalize(leadKey)}**: ${restKey}"`;
    for (const node of nodes) {
      if (node.type !== 'list') {
        if (!(node.type === 'html' && isComment(this.slice(node)))) {
          this.error(node, `unexpected ${describe(node)} in ${sectionNames[section]}; expected list items like ${example}`);
        }
        continue;
      }
      for (const item of (node as List).children) {
        const parsed = this.readLeadInItem(item);
        if (!parsed) {
          this.error(item, `list item must start with a bold lead-in followed by a colon, like ${example}`);
          continue;
        }
        this.map.set([section, items.length], line(item));
        items.push({ [leadKey]: parsed.lead, [restKey]: parsed.rest } as Record<L | R, string>);
      }
    }
    return items;
  }

  private readLeadInItem(item: ListItem): { lead: string; rest: string } | undefined {
    const paragraph = item.children[0];
    if (paragraph?.type !== 'paragraph') return undefined;
    const strong = paragraph.children[0];
    if (strong?.type !== 'strong' || strong.children.length === 0) return undefined;
    const innerStart = start(strong.children[0]!);
    let innerEnd = end(strong.children.at(-1)!);
    let restStart: number;
    if (this.source[end(strong)] === ':') {
      restStart = end(strong) + 1; // **Lead**: rest
    } else if (this.source[innerEnd - 1] === ':') {
      innerEnd -= 1; // **Lead:** rest
      restStart = end(strong);
    } else {
      return undefined;
    }
    const indent = column(paragraph) - 1;
    return {
      lead: this.source.slice(innerStart, innerEnd).trim(),
      rest: dedent(this.source.slice(restStart, end(item)), indent).trim(),
    };
  }

  private readFlashcards(nodes: RootContent[]): { key?: string; question: string; answer: string }[] {
    const cards: { key?: string; question: string; answer: string }[] = [];
    let current: { heading: Heading; blocks: RootContent[] } | undefined;
    const flush = () => {
      if (!current) return;
      cards.push(this.readFlashcard(current.heading, current.blocks, cards.length));
      current = undefined;
    };
    for (const node of nodes) {
      if (node.type === 'heading') {
        if (node.depth !== 3) {
          this.error(node, `unexpected level-${node.depth} heading in Flashcards; each flashcard is a "### Question" heading`);
          continue;
        }
        flush();
        current = { heading: node, blocks: [] };
      } else if (current) {
        current.blocks.push(node);
      } else if (!(node.type === 'html' && isComment(this.slice(node)))) {
        this.error(node, `unexpected ${describe(node)} in Flashcards before the first "### Question" heading`);
      }
    }
    flush();
    return cards;
  }

  private readFlashcard(heading: Heading, blocks: RootContent[], index: number) {
    this.map.set(['flashcards', index], line(heading));
    let questionEnd = heading.children.length ? end(heading.children.at(-1)!) : end(heading);
    let key: string | undefined;
    const last = heading.children.at(-1);
    const suffix = last?.type === 'text' ? /\{#([^}]*)\}\s*$/.exec(last.value) : null;
    if (suffix) {
      key = suffix[1]!.trim();
      questionEnd = this.source.lastIndexOf('{#', questionEnd);
    }
    const questionStart = heading.children.length ? start(heading.children[0]!) : end(heading);
    const question = this.source.slice(questionStart, Math.max(questionStart, questionEnd)).trim();
    const firstBlock = blocks[0];
    const answer = firstBlock ? this.source.slice(start(firstBlock), end(blocks.at(-1)!)).trim() : '';
    if (firstBlock) this.map.set(['flashcards', index, 'answer'], line(firstBlock));
    return { ...(key !== undefined ? { key } : {}), question, answer };
  }

  private readCheatSheet(nodes: RootContent[]): void {
    const tables = nodes.filter((node): node is Table => node.type === 'table');
    for (const node of nodes) {
      if (node.type === 'table' || (node.type === 'html' && isComment(this.slice(node)))) continue;
      this.error(node, `unexpected ${describe(node)} in Cheat Sheet; expected one GFM table`);
    }
    for (const extra of tables.slice(1)) this.error(extra, 'a cheat sheet has one table; found another');
    const table = tables[0];
    if (!table) {
      if (!nodes.length) this.errors.push({ line: this.seenSections.get('cheatSheet'), message: 'Cheat Sheet section has no table' });
      return;
    }
    const [header, ...rows] = table.children;
    const cells = (row: typeof header) => (row ? row.children.map((cell) => this.cellSource(cell.children)) : []);
    this.input.cheatSheet = { columns: cells(header), rows: rows.map(cells) };
    this.map.set(['cheatSheet'], line(table));
    this.map.set(['cheatSheet', 'columns'], line(table));
    rows.forEach((row, index) => this.map.set(['cheatSheet', 'rows', index], line(row)));
  }

  /** GFM unescapes `\|` at the table level, before inline parsing; do the same so a cell holds its real text. */
  private cellSource(children: PhrasingContent[]): string {
    if (!children.length) return '';
    return this.source.slice(start(children[0]!), end(children.at(-1)!)).replaceAll('\\|', '|').trim();
  }

  private inlineSource(children: PhrasingContent[], parent: Node): string {
    if (!children.length) return '';
    const text = this.source.slice(start(children[0]!), end(children.at(-1)!));
    return dedent(text, column(parent) - 1).trim();
  }

  private inlineText(children: PhrasingContent[]): string {
    return children
      .map((child) => ('value' in child ? child.value : 'children' in child ? this.inlineText(child.children) : ''))
      .join('')
      .trim();
  }

  private slice(node: Node): string {
    return this.source.slice(start(node), end(node));
  }

  private error(node: Node, message: string): void {
    this.errors.push({ line: line(node), message });
  }
}

const start = (node: Node) => node.position!.start.offset!;
const end = (node: Node) => node.position!.end.offset!;
const line = (node: Node) => node.position!.start.line;
const column = (node: Node) => node.position!.start.column;

function describe(node: Node): string {
  if (node.type === 'heading') return `level-${(node as Heading).depth} heading`;
  if (node.type === 'paragraph') return `paragraph "${truncate(plain(node as Paragraph))}"`;
  return node.type === 'html' ? 'raw HTML' : node.type;
}

function plain(node: Paragraph): string {
  return node.children.map((child) => ('value' in child ? child.value : '')).join('');
}

const truncate = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}...` : text);
const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const isComment = (html: string) => html.startsWith('<!--') && html.trimEnd().endsWith('-->');

/** Continuation lines of a list item or blockquote carry the container's indentation; remove it. */
function dedent(text: string, indent: number): string {
  if (indent <= 0 || !text.includes('\n')) return text;
  const [first, ...rest] = text.split('\n');
  return [first, ...rest.map((lineText) => lineText.replace(new RegExp(`^ {0,${indent}}`), ''))].join('\n');
}

/** Removes one level of `>` container marker from a line that the parser placed inside a blockquote. */
function stripBlockquoteMarker(text: string): string {
  const trimmed = text.replace(/^ {0,3}/, '');
  if (!trimmed.startsWith('>')) return text;
  return trimmed.slice(trimmed.startsWith('> ') ? 2 : 1);
}
