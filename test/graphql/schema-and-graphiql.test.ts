import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { buildClientSchema, buildSchema, getIntrospectionQuery, printSchema, type IntrospectionQuery } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig, type Config } from '../../src/config.js';
import { buildTestApp } from '../helpers/app.js';
import { gql } from '../helpers/graphql.js';
import { bearer } from '../helpers/learners.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** An app on the defaults that follow from `env` (e.g. NODE_ENV=production, GRAPHQL_INTROSPECTION=false). */
async function appWithEnv(env: Record<string, string>, overrides: Partial<Config> = {}): Promise<FastifyInstance> {
  const config = testConfig({}, env);
  app = await buildTestApp({ config: { env: config.env, graphql: config.graphql, ...overrides } });
  return app;
}

describe('GET /graphql/schema.graphql', () => {
  it('serves the final schema as SDL, the same schema introspection describes, on by default in production', async () => {
    await appWithEnv({ NODE_ENV: 'production' });
    const response = await app!.inject('/graphql/schema.graphql');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.headers['cache-control']).toBe('public, no-cache');
    const sdl = response.body;
    expect(sdl).toBe(`${printSchema(app!.graphql.schema)}\n`);
    // Every slice's extensions are merged in: content, learning, search and the mutations.
    for (const piece of ['type Query', 'type Mutation', 'type Module', 'myState: CardState', 'recordAnswer(', 'enum TextFormat']) expect(sdl).toContain(piece);
    expect(sdl).not.toMatch(/^extend /m);
    // A client generator gets the same schema from either source.
    const introspection = await gql<IntrospectionQuery>(app!, getIntrospectionQuery());
    expect(printSchema(buildClientSchema(introspection.data!))).toBe(printSchema(buildSchema(sdl)));
  });

  it('revalidates with its ETag (304) and answers HEAD', async () => {
    await appWithEnv({});
    const first = await app!.inject('/graphql/schema.graphql');
    const etag = first.headers.etag as string;
    // A strong ETag per encoding, like every cached representation (sendRepresentation).
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await app!.inject({ url: '/graphql/schema.graphql', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await app!.inject({ method: 'HEAD', url: '/graphql/schema.graphql' })).statusCode).toBe(200);
  });

  it('is absent (404) when GRAPHQL_INTROSPECTION=false', async () => {
    await appWithEnv({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'false' });
    const response = await app!.inject('/graphql/schema.graphql');
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('MNEMO_ROUTE_NOT_FOUND');
  });

  it('needs a key like /graphql itself when CONTENT_REQUIRES_AUTH is on', async () => {
    await appWithEnv({}, { contentRequiresAuth: true });
    const anonymous = await app!.inject('/graphql/schema.graphql');
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json().code).toBe('MNEMO_AUTH_REQUIRED');
    const key = bearer((await app!.auth.createKey({ role: 'admin', name: 'admin' }, null)).token);
    const withKey = await app!.inject({ url: '/graphql/schema.graphql', headers: key });
    expect(withKey.statusCode).toBe(200);
    expect(withKey.headers['cache-control']).toBe('private, no-cache');
  });
});

/** Every `src` and `href` of the page, in order. */
const references = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);

const packageDir = (name: string) => dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
/** A file of an installed package (found from its package.json: React's exports do not list the UMD files). */
const installedFile = (name: string, file: string) => readFileSync(join(packageDir(name), file));

describe('GraphiQL', () => {
  it('loads only same-origin URLs, each of which answers 200 with the installed package files', async () => {
    await appWithEnv({ NODE_ENV: 'development' });
    const page = await app!.inject('/graphiql');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = page.body;
    expect(html).not.toMatch(/unpkg|esm\.sh|jsdelivr|cdnjs|https?:|\/\//);
    // No inline script: the CSP allows scripts from this origin only.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/https?:|unsafe-eval|\*/);

    const urls = references(html);
    expect(urls.length).toBeGreaterThanOrEqual(6);
    const served = new Map<string, { type: string; body: Buffer }>();
    for (const url of urls) {
      expect(url, 'a same-origin absolute path').toMatch(/^\/(?!\/)/);
      const response = await app!.inject(url);
      expect(response.statusCode, url).toBe(200);
      served.set(url, { type: String(response.headers['content-type']), body: response.rawPayload });
      if (url.endsWith('.js')) expect(response.headers['content-type'], url).toBe('text/javascript; charset=utf-8');
      if (url.endsWith('.css')) expect(response.headers['content-type'], url).toBe('text/css; charset=utf-8');
    }

    // The bundles are the installed packages' own files, byte for byte; their source maps answer too.
    const bundles: [string, Buffer][] = [
      ['react.production.min.js', installedFile('react', 'umd/react.production.min.js')],
      ['react-dom.production.min.js', installedFile('react-dom', 'umd/react-dom.production.min.js')],
      ['graphiql.min.js', installedFile('graphiql', 'graphiql.min.js')],
      ['graphiql.min.css', installedFile('graphiql', 'graphiql.min.css')],
    ];
    for (const [name, bytes] of bundles) {
      const url = urls.find((candidate) => candidate.endsWith(`/${name}`));
      expect(url, name).toBeDefined();
      expect(served.get(url!)!.body.equals(bytes), name).toBe(true);
      const map = /sourceMappingURL=([^\s*]+)/.exec(bytes.toString('utf8').slice(-300))?.[1];
      if (map) expect((await app!.inject(new URL(map, `http://localhost${url}`).pathname)).statusCode, `${name} -> ${map}`).toBe(200);
    }
    // The stylesheet's own references are embedded (data: fonts), never fetched from elsewhere.
    const stylesheet = bundles[3]![1].toString('utf8');
    for (const match of stylesheet.matchAll(/url\(([^)]*)\)/g)) expect(match[1]).toMatch(/^["']?data:/);
    expect(stylesheet).not.toMatch(/@import/);
  });

  it('starts GraphiQL on /graphql with the globals the bundles define', async () => {
    await appWithEnv({ NODE_ENV: 'development' });
    const start = (await app!.inject('/graphiql/start.js')).body;
    expect(start).toContain('GraphiQL.createFetcher');
    expect(start).toContain('"/graphql"');
    // React and ReactDOM's UMD bundles define what the start script calls (GraphiQL's needs a DOM to load).
    const sandbox: Record<string, unknown> = {};
    sandbox.window = sandbox;
    sandbox.self = sandbox;
    runInNewContext(installedFile('react', 'umd/react.production.min.js').toString('utf8'), sandbox);
    runInNewContext(installedFile('react-dom', 'umd/react-dom.production.min.js').toString('utf8'), sandbox);
    expect(typeof (sandbox.React as { createElement?: unknown }).createElement).toBe('function');
    expect(typeof (sandbox.ReactDOM as { createRoot?: unknown }).createRoot).toBe('function');
    const graphiql = installedFile('graphiql', 'graphiql.min.js').toString('utf8');
    expect(graphiql).toContain('window.GraphiQL = __webpack_exports__["default"]');
    expect(graphiql).toContain('createFetcher');
  });

  it('revalidates the page and caches versioned bundles for good; unknown assets are 404', async () => {
    await appWithEnv({ NODE_ENV: 'development' });
    const page = await app!.inject('/graphiql');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect((await app!.inject({ url: '/graphiql', headers: { 'if-none-match': page.headers.etag as string } })).statusCode).toBe(304);
    const bundle = references(page.body).find((url) => url.includes('/graphiql/assets/graphiql@'))!;
    const response = await app!.inject({ url: bundle, headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(response.headers['content-encoding']).toBe('gzip');
    expect((await app!.inject('/graphiql/assets/graphiql@0.0.0/graphiql.min.js')).statusCode).toBe(404);
    expect((await app!.inject('/graphiql/assets/..%2Fpackage.json')).statusCode).toBe(404);
  });

  it('is off in production unless GRAPHIQL=true', async () => {
    await appWithEnv({ NODE_ENV: 'production' });
    for (const url of ['/graphiql', '/graphiql/start.js', '/graphiql/main.js']) expect((await app!.inject(url)).statusCode, url).toBe(404);
    await app!.close();
    await appWithEnv({ NODE_ENV: 'production', GRAPHIQL: 'true' });
    expect((await app!.inject('/graphiql')).statusCode).toBe(200);
  });
});
