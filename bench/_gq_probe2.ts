import { buildApp } from '../src/app.js';
import { testConfig } from '../src/config.js';
const base = testConfig();
const app = await buildApp(testConfig({ graphql: { ...base.graphql, maxTokens: 1_000_000, maxDepth: 100 } }));
await app.ready();
const shapes: Record<string, (n: number) => string> = {
  sel: (n) => '{' + ' modules {'.repeat(n) + ' b' + ' }'.repeat(n) + ' }',
  inline: (n) => '{' + '...{'.repeat(n) + 'apiVersion' + '}'.repeat(n) + '}',
  list: (n) => '{ apiVersion(x: ' + '['.repeat(n) + ']'.repeat(n) + ') }',
  obj: (n) => '{ apiVersion(x: ' + '{a:'.repeat(n) + '1' + '}'.repeat(n) + ') }',
  vartype: (n) => 'query($v: ' + '['.repeat(n) + 'Int' + ']'.repeat(n) + ') { apiVersion }',
  fragchain: (n) => 'query { ...F0 } ' + Array.from({ length: n }, (_, i) => `fragment F${i} on Query { ...F${i + 1} }`).join(' ') + ` fragment F${n} on Query { apiVersion }`,
  fragchainsel: (n) => 'query { ...F0 } ' + Array.from({ length: n }, (_, i) => `fragment F${i} on Query { modules { ...F${i + 1} } }`).join(' ') + ` fragment F${n} on Query { apiVersion }`,
};
for (const [name, make] of Object.entries(shapes)) {
  const row = [name.padEnd(12)];
  for (const n of [2000, 2500, 3000, 4000, 6000]) {
    const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query: make(n) } });
    const e = res.json().errors?.[0];
    row.push(`${n}:${res.statusCode}${/call stack/.test(e?.message ?? '') ? '!STACK' : e?.extensions?.code === 'MNEMO_INTERNAL' ? '!500' : ''}`);
  }
  console.log(row.join(' '));
}
await app.close();
