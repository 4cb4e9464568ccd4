import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/content/module-source/render.js';

describe('rendering Markdown to HTML and plain text', () => {
  it('keeps the Markdown source as the markdown rendering', () => {
    expect(renderMarkdown('Use `kubectl` *now*', 'inline').markdown).toBe('Use `kubectl` *now*');
  });

  it('renders inline fields without a wrapping paragraph, block fields with one', () => {
    expect(renderMarkdown('`type: ClusterIP`, `selector`', 'inline').html).toBe('<code>type: ClusterIP</code>, <code>selector</code>');
    expect(renderMarkdown('One.\n\nTwo.', 'block').html).toBe('<p>One.</p>\n<p>Two.</p>');
    expect(renderMarkdown('Just *one*.', 'block').html).toBe('<p>Just <em>one</em>.</p>');
  });

  it('renders emphasis, links, code blocks and tables', () => {
    const { html } = renderMarkdown('**b** [site](https://example.com)\n\n```sh\necho hi\n```\n\n| a |\n|---|\n| 1 |', 'block');
    expect(html).toContain('<strong>b</strong> <a href="https://example.com">site</a>');
    expect(html).toContain('<pre><code class="language-sh">echo hi\n</code></pre>');
    expect(html).toContain('<table>');
  });

  it('escapes raw HTML instead of interpreting it', () => {
    const { html } = renderMarkdown('Use <b>bold</b> and <script>alert(1)</script>', 'inline');
    expect(html).not.toMatch(/<b>|<script/);
    expect(html).toContain('&#x3C;script>alert(1)&#x3C;/script>');
    const block = renderMarkdown('<div onclick="steal()">x</div>', 'block').html;
    expect(block).toBe('<p>&#x3C;div onclick="steal()">x&#x3C;/div></p>');
    expect(block).not.toMatch(/<[a-z]+\s[^>]*\bon\w+=/i);
  });

  it('lets no script URL or event handler through', () => {
    for (const source of ['[x](javascript:alert(1))', '![i](javascript:alert(1))', '[x](vbscript:msgbox)', '<a href="javascript:x" onmouseover="y">z</a>']) {
      const { html } = renderMarkdown(source, 'inline');
      // Only real elements matter: escaped text such as &#x3C;a href="javascript:x"> is inert.
      expect(html).not.toMatch(/<(a|img)\s[^>]*(href|src)="(javascript|vbscript):/i);
      expect(html).not.toMatch(/<[a-z]+\s[^>]*\bon\w+=/i);
    }
  });

  it('renders plain text without markup', () => {
    expect(renderMarkdown('Use `kubectl` *now* with [docs](https://x.y)', 'inline').text).toBe('Use kubectl now with docs');
    expect(renderMarkdown('Para one\ncontinues.\n\n```\ncode\n```\n\n- a\n- b', 'block').text).toBe('Para one continues.\n\ncode\n\na\nb');
    expect(renderMarkdown('Show <b>tags</b> literally', 'inline').text).toBe('Show <b>tags</b> literally');
  });
});
