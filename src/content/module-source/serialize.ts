import { stringify } from 'yaml';
import type { ModuleInput, NormalizedModule } from './module-input.js';

/**
 * Sources that re-import as `unchanged`: the JSON and Markdown formats written from a module's normalised
 * source. Authored text is written as it was stored; only container syntax (list indentation, blockquote
 * markers, escaped table pipes) is added around it.
 */
export function toJsonSource(module: NormalizedModule): string {
  const input: ModuleInput = {
    slug: module.slug,
    title: module.title,
    ...(module.summary !== null ? { summary: module.summary } : {}),
    tags: module.tags,
    takeaways: module.takeaways,
    flashcards: module.flashcards,
    ...(module.cheatSheet ? { cheatSheet: module.cheatSheet } : {}),
    revisionItems: module.revisionItems,
  };
  return `${JSON.stringify(input, null, 2)}\n`;
}

export function toMarkdownSource(module: NormalizedModule): string {
  // Tags are kebab-case slugs, safe unquoted in a YAML flow sequence; the title is quoted by the YAML library.
  const frontMatter = `${stringify({ slug: module.slug, title: module.title }).trimEnd()}\ntags: [${module.tags.join(', ')}]`;
  const parts = [`---\n${frontMatter}\n---`, `# ${module.title}`];
  if (module.summary !== null) parts.push(['> [!NOTE]', ...module.summary.split('\n').map((line) => (line ? `> ${line}` : '>'))].join('\n'));

  const leadIn = (lead: string, rest: string) => `- **${lead}**: ${indent(rest, '  ')}`;
  parts.push(['## Key Takeaways', ...module.takeaways.map((item) => leadIn(item.title, item.body))].join('\n\n'));
  parts.push(['## Flashcards', ...module.flashcards.map((card) => `### ${card.question} {#${card.key}}\n\n${card.answer}`)].join('\n\n'));
  if (module.cheatSheet) {
    const row = (cells: string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
    const { columns, rows } = module.cheatSheet;
    parts.push(['## Cheat Sheet', [row(columns), `|${columns.map(() => '---').join('|')}|`, ...rows.map(row)].join('\n')].join('\n\n'));
  }
  parts.push(['## Quick Revision', ...module.revisionItems.map((item) => leadIn(item.term, item.definition))].join('\n\n'));
  return `${parts.join('\n\n')}\n`;
}

/** Continuation lines of a list item are indented to its content column (blank lines stay blank). */
function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((line, index) => (index === 0 || line === '' ? line : `${by}${line}`))
    .join('\n');
}
