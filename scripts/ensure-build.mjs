#!/usr/bin/env node
// Builds dist/ with `tsc -p tsconfig.build.json` only when it is missing or older than its sources, so that
// `npm start` starts the built server at once instead of type-checking the whole project first (about 13 s).
//
//   node scripts/ensure-build.mjs            build if needed (npm start, cli, seed, test)
//   node scripts/ensure-build.mjs --always   build regardless (npm run build)
//   node scripts/ensure-build.mjs --prepare  as at install (npm ci / npm install): without TypeScript (a
//                                            production install) it warns instead of failing
//
// "Older" compares modification times: every file under src/, the two tsconfig files and package.json against
// dist/.build-stamp, which is written only after a successful build and dated when that build started (a source
// saved during a build is newer than the stamp, so it is built next time). Plain JavaScript, no dependencies:
// it runs before anything is compiled. Messages go to stderr; stdout is left to the command that follows.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');
const entries = ['dist/main.js', 'dist/cli/main.js'];
const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

const args = new Set(process.argv.slice(2));
const always = args.has('--always');
const prepare = args.has('--prepare');

/** The newest modification time under `path` (a file or a folder), and the file that has it. */
function newest(path) {
  const stats = statSync(path);
  if (!stats.isDirectory()) return { time: stats.mtimeMs, file: path };
  let found = { time: stats.mtimeMs, file: path };
  for (const name of readdirSync(path)) {
    const candidate = newest(join(path, name));
    if (candidate.time > found.time) found = candidate;
  }
  return found;
}

/** Why dist/ must be built, or undefined when it is up to date. */
function staleness() {
  if (always) return 'asked to build';
  if (!existsSync(stamp) || entries.some((entry) => !existsSync(join(root, entry)))) return 'dist/ is missing or incomplete';
  const built = statSync(stamp).mtimeMs;
  for (const input of ['src', ...inputs]) {
    const { time, file } = newest(join(root, input));
    if (time > built) return `${file.slice(root.length + 1)} changed since the last build`;
  }
  return undefined;
}

function tscPath() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return undefined;
  }
}

/**
 * dist/main.js, the server, is one file bundled by esbuild from src/main.ts over tsc's checked output: loading some
 * 900 modules one by one was most of the server's start (about 450 of 850 ms on the 2-core VM). Left outside:
 * the native driver, and packages that read files beside their own code (Swagger UI's assets). The import worker
 * and the CLI stay tsc's output. PostgreSQL's modules are split into dist/chunks/, loaded on demand.
 */
async function bundleServer() {
  let esbuild;
  try {
    esbuild = await import(createRequire(import.meta.url).resolve('esbuild'));
  } catch {
    console.error('mnemo: esbuild is not installed; dist/main.js is left as tsc emitted it (unbundled)');
    return;
  }
  // Chunks of an earlier build would pile up under new hashes.
  rmSync(join(root, 'dist', 'chunks'), { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [join(root, 'src/main.ts')],
    outdir: join(root, 'dist'),
    entryNames: '[name]',
    // Code behind a dynamic import() (PostgreSQL's driver, dialect and repositories) goes to its own chunk, parsed
    // only by a server that uses it: a SQLite server starts without them.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // Whitespace and syntax only: V8 parses a smaller file sooner, and names stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    external: ['better-sqlite3', '@fastify/swagger-ui', 'pino', 'thread-stream', 'pg-native'],
    // CommonJS packages inside an ES module bundle still call require().
    banner: { js: "import { createRequire as __mnemoCreateRequire } from 'node:module'; const require = __mnemoCreateRequire(import.meta.url);" },
  });
}

const reason = staleness();
if (reason === undefined) process.exit(0);

const tsc = tscPath();
if (!tsc) {
  const message = `TypeScript is not installed, so dist/ cannot be built (${reason}); install the dev dependencies (npm ci)`;
  console.error(`mnemo: ${message}${prepare ? '; skipping the build' : ''}`);
  process.exit(prepare ? 0 : 1);
}

// With outputs missing, the incremental build info would make tsc believe there is nothing to emit.
if (entries.some((entry) => !existsSync(join(root, entry)))) rmSync(join(root, 'dist', '.tsbuildinfo'), { force: true });

const startedAt = new Date();
if (!always) console.error(`mnemo: building dist/ (${reason})...`);
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 2, 2] });
if (result.status !== 0) {
  console.error('mnemo: the build failed; dist/ is not up to date');
  process.exit(result.status ?? 1);
}
await bundleServer();
writeFileSync(stamp, `built ${startedAt.toISOString()}\n`);
utimesSync(stamp, startedAt, startedAt);
