import { buildApp } from '../src/app.js';
import { testConfig } from '../src/config.js';
const maxTokens = Number(process.argv[2] ?? 5000);
const base = testConfig();
const app = await buildApp(testConfig({ graphql: { ...base.graphql, maxTokens } }));
await app.ready();
const shapes: Record<string, string> = {
  'sel 2400': '{' + ' a {'.repeat(2400) + ' b' + ' }'.repeat(2400) + ' }',
  'sel 100k': '{' + 'a{'.repeat(100000) + 'b' + '}'.repeat(100000) + '}',
  'list arg 2400': '{ apiVersion(x: ' + '['.repeat(2400) + ']'.repeat(2400) + ') }',
  'list arg 200k': '{ apiVersion(x: ' + '['.repeat(200000) + ']'.repeat(200000) + ') }',
  'obj arg 100k': '{ apiVersion(x: ' + '{a:'.repeat(100000) + '1' + '}'.repeat(100000) + ') }',
  'var type 200k': 'query($v: ' + '['.repeat(200000) + 'Int' + ']'.repeat(200000) + ') { apiVersion }',
  'var default 200k': 'query($v: Int = ' + '['.repeat(200000) + ']'.repeat(200000) + ') { apiVersion }',
  'frag spreads': 'query { ...F0 } ' + Array.from({ length: 3000 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} }`).join(' ') + ' fragment F3000 on Query { apiVersion }',
  'inline frags 100k': '{' + '...{'.repeat(100000) + 'apiVersion' + '}'.repeat(100000) + '}',
  'directives wide': '{ apiVersion' + ' @a'.repeat(200000) + ' }',
};
for (const [name, query] of Object.entries(shapes)) {
  const t = performance.now();
  const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query } });
  const body = res.json();
  console.log(name.padEnd(18), String(query.length).padStart(8), (performance.now() - t).toFixed(0).padStart(6), 'ms', res.statusCode, JSON.stringify(body.errors?.[0] ?? body).slice(0, 160));
}
await app.close();
