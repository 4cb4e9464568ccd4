import type { Nodes, Parent } from 'mdast';
import rehypeSanitize from 'rehype-sanitize';
import rehypeStringify from 'rehype-stringify';
import remarkGfm from 'remark-gfm';
import remarkParse from 'remark-parse';
import remarkRehype from 'remark-rehype';
import { unified } from 'unified';

import type { RenderedText, TextKind } from './text-format.js';

const markdownParser = unified().use(remarkParse).use(remarkGfm);
// rehype-sanitize (GitHub's schema) is the backstop: no script, no event-handler attributes, no javascript: URLs.
const htmlRenderer = unified().use(remarkRehype).use(rehypeSanitize).use(rehypeStringify);

export function renderMarkdown(markdown: string, kind: TextKind): RenderedText {
  const tree = markdownParser.parse(markdown);
  rawHtmlToText(tree);
  const hast = htmlRenderer.runSync(tree);
  const blocks = hast.children.filter((child) => !(child.type === 'text' && child.value.trim() === ''));
  const only = blocks.length === 1 ? blocks[0] : undefined;
  if (kind === 'inline' && only?.type === 'element' && only.tagName === 'p') hast.children = only.children;
  const html = htmlRenderer.stringify(hast).trim();
  return { markdown, html, text: plainText(tree).trim() };
}

/**
 * Raw HTML in a source is shown, not interpreted: turning html nodes into text nodes makes the HTML renderer
 * escape it (`<b>` becomes `&#x3C;b>`), which is what authors writing about HTML expect.
 */
function rawHtmlToText(node: Nodes): void {
  if (!('children' in node)) return;
  const parent = node as Parent;
  parent.children = parent.children.map((child) => {
    if (child.type !== 'html') {
      rawHtmlToText(child);
      return child;
    }
    const text = { type: 'text' as const, value: child.value };
    return parent.type === 'root' || parent.type === 'blockquote' || parent.type === 'listItem'
      ? { type: 'paragraph' as const, children: [text] }
      : text;
  }) as typeof parent.children;
}

/** Plain text: what a reader sees, without markup. Blocks are separated by blank lines. */
function plainText(node: Nodes): string {
  switch (node.type) {
    case 'text':
    case 'html':
      return node.value.replace(/\s*\n\s*/g, ' ');
    case 'inlineCode':
    case 'code':
      return node.value;
    case 'break':
      return '\n';
    case 'image':
    case 'imageReference':
      return node.alt ?? '';
    case 'definition':
    case 'thematicBreak':
    case 'yaml':
      return '';
    case 'root':
    case 'blockquote':
    case 'listItem':
    case 'footnoteDefinition':
      return node.children.map(plainText).filter(Boolean).join('\n\n');
    case 'list':
      return node.children.map(plainText).join('\n');
    case 'table':
      return node.children.map(plainText).join('\n');
    case 'tableRow':
      return node.children.map(plainText).join('\t');
    default:
      return 'children' in node ? (node.children as Nodes[]).map(plainText).join('') : '';
  }
}
