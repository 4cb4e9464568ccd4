/**
 * How long a module source of each hostile shape takes to be answered, in process (parse, validate, render: the
 * work the import worker does), next to a realistic module: the structural bounds must refuse hostile shapes
 * before any parser runs. Run: `npm run bench:parsers`.
 */
import { parseModuleSource, type ModuleFormat } from '../src/content/module-source/parse-module-source.js';
import { renderModule } from '../src/content/module-source/render-module.js';

const limit = 1024 * 1024 - 64;
const fit = (text: string) => text.slice(0, limit);
const card = (body: string) => fit(`---\nslug: hostile\ntitle: Hostile\n---\n\n## Flashcards\n\n### Q {#q}\n\n${body}\n`);
const para = 'TCP uses a **three-way handshake** (`SYN`, `SYN-ACK`, `ACK`) to open a connection; see [RFC 793](https://example.org/rfc793).';

function realistic(answerParagraphs: number): string {
  let source = '---\nslug: big\ntitle: Big\n---\n\n> A summary\n\n## Key Takeaways\n\n';
  for (let index = 0; index < 200; index++) source += `- **Point ${index}**: ${para}\n`;
  source += '\n## Flashcards\n\n';
  for (let index = 0; index < 500; index++) source += `### Question ${index}? {#q-${index}}\n\n${`${para}\n\n`.repeat(answerParagraphs)}`;
  source += '## Quick Revision\n\n';
  for (let index = 0; index < 500; index++) source += `- **Term ${index}**: ${para}\n`;
  return source;
}

const shapes: [string, ModuleFormat, string][] = [
  ['20,000 nested blockquotes', 'markdown', card('>'.repeat(20_000) + ' a')],
  ['1 MiB of nested blockquotes', 'markdown', card('>'.repeat(limit))],
  ['1 MiB of nested list markers', 'markdown', card('- '.repeat(limit / 2))],
  ['1 MiB of unmatched emphasis (*a)', 'markdown', card('*a'.repeat(limit / 2))],
  ['1 MiB of unclosed links ([a)', 'markdown', card('[a'.repeat(limit / 2))],
  ['1 MiB table row', 'markdown', card('|a'.repeat(limit / 2))],
  ['1 MiB of list items', 'markdown', card('- **a**: b\n'.repeat(limit / 11))],
  ['deep YAML flow (10,000 [)', 'markdown', `---\nslug: ${'['.repeat(10_000)}\n---\n`],
  ['1 MiB front matter', 'markdown', `---\n${'k: v\n'.repeat(limit / 5 - 10)}---\n`],
  ['1 MiB of nested JSON arrays', 'json', '['.repeat(limit)],
  ['realistic module, 500 cards x 1 paragraph', 'markdown', realistic(1)],
  ['realistic module, 500 cards x 6 paragraphs', 'markdown', realistic(6)],
];

const rounds = Number(process.env.PARSER_BENCH_ROUNDS ?? 3);
console.log('| source | bytes | median ms | answer |');
console.log('| --- | ---: | ---: | --- |');
for (const [name, format, source] of shapes) {
  const times: number[] = [];
  let answer = 'accepted';
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    try {
      renderModule(parseModuleSource(source, format));
    } catch (error) {
      answer = (error as Error).message.slice(0, 70);
    }
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`| ${name} | ${Buffer.byteLength(source)} | ${times[Math.floor(times.length / 2)]!.toFixed(1)} | ${answer} |`);
}
