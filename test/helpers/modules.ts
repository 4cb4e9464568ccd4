import type { ModuleInput } from '../../src/content/module-source/module-input.js';

/** A deterministic module with `size` items in every section, for parity, paging and limit tests. */
export function generatedModule(slug: string, size: number, overrides: Partial<ModuleInput> = {}): ModuleInput {
  const range = Array.from({ length: size }, (_, index) => index + 1);
  return {
    slug,
    title: `Generated *module* ${slug}`,
    summary: `A generated module with ${size} items per section.\n\nIt has **two** paragraphs.`,
    tags: ['generated', `size-${size}`],
    takeaways: range.map((n) => ({ title: `Takeaway ${n}`, body: `Body ${n} with \`code ${n}\` and a [link](https://example.com/${n}).` })),
    flashcards: range.map((n) => ({
      key: `card-${n}`,
      question: `What is *item* ${n}?`,
      answer: `Answer ${n}.\n\n\`\`\`sh\necho ${n}\n\`\`\``,
    })),
    cheatSheet: {
      columns: ['Name', 'Value', 'Notes'],
      rows: range.map((n) => [`Row ${n}`, `\`${n}\``, `note | with pipe ${n}`]),
    },
    revisionItems: range.map((n) => ({ term: `Term ${n}`, definition: `Definition ${n}, **bold**.` })),
    ...overrides,
  };
}
