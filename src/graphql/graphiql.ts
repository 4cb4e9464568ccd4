import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createFileRepresentation, representationRoute, sendRepresentation, type Representation } from '../http/representation.js';

const require = createRequire(import.meta.url);

interface Asset {
  /** Path under /graphiql/assets/, with the package version in it so the URL can be cached for good. */
  path: string;
  file: string;
  type: string;
}

const javascript = 'text/javascript; charset=utf-8';
const css = 'text/css; charset=utf-8';
const sourceMap = 'application/json; charset=utf-8';

/** The installed package's folder and version (resolved from its package.json, which every one of them exports). */
function installed(name: string): { dir: string; version: string } {
  const manifest = require.resolve(`${name}/package.json`);
  return { dir: dirname(manifest), version: (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version };
}

/**
 * React, ReactDOM and GraphiQL's UMD bundles (GraphiQL 3 is the last line that ships one), served from
 * node_modules: the page never loads code from a CDN, so it works offline and its CSP can allow 'self' only.
 * The source maps the bundles point at are served too.
 */
function graphiqlAssets(): { scripts: Asset[]; styles: Asset[]; all: Asset[] } {
  const react = installed('react');
  const reactDom = installed('react-dom');
  const graphiql = installed('graphiql');
  const asset = (pkg: string, version: string, dir: string, file: string, type: string): Asset => ({
    path: `${pkg}@${version}/${file.split('/').at(-1)}`,
    file: join(dir, file),
    type,
  });
  const scripts = [
    asset('react', react.version, react.dir, 'umd/react.production.min.js', javascript),
    asset('react-dom', reactDom.version, reactDom.dir, 'umd/react-dom.production.min.js', javascript),
    asset('graphiql', graphiql.version, graphiql.dir, 'graphiql.min.js', javascript),
  ];
  const styles = [asset('graphiql', graphiql.version, graphiql.dir, 'graphiql.min.css', css)];
  const maps = [
    asset('graphiql', graphiql.version, graphiql.dir, 'graphiql.min.js.map', sourceMap),
    asset('graphiql', graphiql.version, graphiql.dir, 'graphiql.min.css.map', sourceMap),
  ];
  return { scripts, styles, all: [...scripts, ...styles, ...maps] };
}

const escapeAttribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The page's policy: code, styles and requests from this origin only. GraphiQL's stylesheet embeds its fonts as
 * data: URLs, and its components set inline styles, hence 'unsafe-inline' for styles (never for scripts).
 */
export const graphiqlContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * GraphiQL at `/graphiql`: an HTML page, a start script and the bundles, all same-origin. Files are read on first
 * request and kept (a few MB, only when GraphiQL is turned on).
 */
export function registerGraphiql(app: FastifyInstance, options: { graphqlPath: string }): void {
  const assets = graphiqlAssets();
  const prefix = '/graphiql/assets/';
  const startScript = createFileRepresentation(
    `'use strict';\n` +
      `(function () {\n` +
      `  var fetcher = GraphiQL.createFetcher({ url: new URL(${JSON.stringify(options.graphqlPath)}, window.location.href).href });\n` +
      `  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, { fetcher: fetcher }));\n` +
      `})();\n`,
    javascript,
  );
  const page = createFileRepresentation(
    [
      '<!DOCTYPE html>',
      '<html lang="en">',
      '<head>',
      '  <meta charset="utf-8">',
      '  <meta name="robots" content="noindex">',
      '  <meta name="viewport" content="width=device-width, initial-scale=1">',
      '  <title>mnemo GraphiQL</title>',
      ...assets.styles.map((style) => `  <link rel="stylesheet" href="${escapeAttribute(prefix + style.path)}">`),
      '  <link rel="stylesheet" href="/graphiql/page.css">',
      '</head>',
      '<body>',
      '  <div id="graphiql">Loading GraphiQL…</div>',
      ...assets.scripts.map((script) => `  <script src="${escapeAttribute(prefix + script.path)}"></script>`),
      '  <script src="/graphiql/start.js"></script>',
      '</body>',
      '</html>',
      '',
    ].join('\n'),
    'text/html; charset=utf-8',
  );
  const pageStyle = createFileRepresentation('body { margin: 0; overflow: hidden; }\n#graphiql { height: 100vh; }\n', css);
  const files = new Map<string, Representation>();
  const byPath = new Map(assets.all.map((asset) => [asset.path, asset]));

  // The page and its start script can change with a deploy: revalidated. Bundle URLs carry their version.
  const routeOptions = { schema: { hide: true }, ...representationRoute } as const;
  app.get('/graphiql', routeOptions, (request, reply) =>
    sendRepresentation(request, reply.header('content-security-policy', graphiqlContentSecurityPolicy), page, 'no-cache'),
  );
  app.get('/graphiql/start.js', routeOptions, (request, reply) => sendRepresentation(request, reply, startScript, 'no-cache'));
  app.get('/graphiql/page.css', routeOptions, (request, reply) => sendRepresentation(request, reply, pageStyle, 'no-cache'));
  app.get<{ Params: { '*': string } }>(`${prefix}*`, routeOptions, async (request, reply) => {
    const asset = byPath.get(request.params['*']);
    if (!asset) {
      reply.callNotFound();
      return reply;
    }
    let file = files.get(asset.path);
    if (!file) {
      file = createFileRepresentation(await readFile(asset.file), asset.type);
      files.set(asset.path, file);
    }
    return sendRepresentation(request, reply, file, 'public, max-age=31536000, immutable');
  });
}
