import remarkGfm from 'remark-gfm';
import remarkParse from 'remark-parse';
import remarkFrontmatter from 'remark-frontmatter';
import { unified } from 'unified';
const parser = unified().use(remarkParse).use(remarkGfm).use(remarkFrontmatter, ['yaml']);
const cpu = (f: () => void) => { const s = process.cpuUsage(); try { f(); } catch { return 99999; } const d = process.cpuUsage(s); return (d.user + d.system) / 1000; };
parser.parse('warm *up* [a](b) `c` <d> ~~e~~ | f |\n|--|\n'.repeat(2000));
const atoms = ['[', ']', '*', '_', '`', '<', '>', '!', '(', ')', '\\', '&', '~', '|', 'a', ' ', ':', '"', "'", '-', '#', '=', '^', '@', '.', 'www.', 'http://', '\n', '[^', '](', '**', '<a ', '![', '&#', '~~', '``', '\t'];
const units = new Set<string>(process.argv.slice(2).length ? process.argv.slice(2) : []);
if (!units.size) { for (const a of atoms) for (const b of atoms) units.add(a + b); }
const rows: [string, number, number][] = [];
for (const u of units) {
  const mk = (n: number) => u.repeat(Math.ceil(n / u.length)).slice(0, n);
  const small = cpu(() => parser.parse(mk(8000)));
  if (small < 3 && !process.argv[2]) continue; // too fast to matter
  const big = cpu(() => parser.parse(mk(32000)));
  rows.push([u, small, big]);
}
rows.sort((a, b) => b[2] / Math.max(b[1], 0.5) - a[2] / Math.max(a[1], 0.5));
for (const [u, s, b] of rows.slice(0, 40)) console.log(JSON.stringify(u).padEnd(14), s.toFixed(1).padStart(8), b.toFixed(1).padStart(9), (b / Math.max(s, 0.5)).toFixed(1));
