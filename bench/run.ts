/**
 * `npm run bench`: the mnemo benchmark suite. See `npm run bench -- --help` and bench/README.md.
 *
 * 1. Ensures the dataset (bench/dataset.ts): built once into bench/.data/, reused afterwards.
 * 2. Copies it to a temporary file, so write scenarios never touch the cached one.
 * 3. Measures the baseline: a bare node:http server in its own process (bench/baseline.ts); again at the end.
 * 4. Starts the production server (`node dist/main.js`) on the copy; startup is the median of three starts.
 * 5. Requests every module once (steady-state caches), then runs every scenario (bench/scenarios.ts) with
 *    autocannon after a warm-up; readers first, writers last.
 * 6. Waits (up to 10 s) for the WAL to shrink below 1 MiB once the writers have stopped, reads the server's peak
 *    RSS and the WAL's peak size (sampled during the whole run), stops the server, measures the baseline again,
 *    scores every scenario against the mean of both baselines, prints the table and writes bench/results.json.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config.js';
import { redactUrl } from '../src/lib/redact-url.js';
import { replicaKey, startBaseline, type BaselineKind, type CapturedResponses } from './baseline.js';
import { datasetDir, ensureDataset } from './dataset.js';
import { closeIdleConnections, send, type HttpResponse } from './http.js';
import { runLoad, type LoadResult, type LoadSettings, type LoadSpec } from './load.js';
import { parseOptions, usage, UsageError, type Backend, type BenchOptions } from './options.js';
import { benchPostgresUrl, createRunDatabase, ensurePostgresTemplate } from './postgres.js';
import { freePort, processMemory, repoRoot, sampleWal, spawnServer, type WalSampler } from './process.js';
import {
  formatScenarioLine,
  renderReport,
  targetMet,
  writeResults,
  type BenchResults,
  type ProcessFigure,
  type ScenarioOutcome,
  type WalAfterWrites,
  type Target,
} from './report.js';
import { nextRequest, primeServer, scenarios, sendSample, type Scenario, type ScenarioContext } from './scenarios.js';

/** bench/results.json for SQLite, results-postgres.json; a run with --lrs adds -lrs, so it never replaces a run without. */
const resultsPathOf = (backend: Backend, lrs: boolean) =>
  fileURLToPath(new URL(`./results${backend === 'sqlite' ? '' : `-${backend}`}${lrs ? '-lrs' : ''}.json`, import.meta.url));
/** The performance issue's process targets: startup to /readyz on the big database <= 0.5 s, peak RSS <= 250 MB. */
const startupTarget: Target = { kind: 'max', max: 500, unit: 'ms', inclusive: true };
const peakRssTarget: Target = { kind: 'max', max: 250 * 1024 * 1024, unit: 'bytes', inclusive: true };
/** The WAL's size while the scenarios run, and once the writers stop (the operations issue's targets). */
const walPeakTarget: Target = { kind: 'max', max: 16 * 1024 * 1024, unit: 'bytes' };
const walAfterWritesTarget: Target = { kind: 'max', max: 1024 * 1024, unit: 'bytes' };
const walAfterWritesPatienceMs = 10_000;
const startupSamples = 3;

/** Things to undo on exit, including Ctrl-C: child processes and the temporary database. */
const cleanups: (() => Promise<void> | void)[] = [];
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error('cleanup failed:', error);
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  });
}

/** Node flags for the server alone, e.g. a CPU profile: BENCH_SERVER_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'. */
const serverNodeFlags = () => (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

/**
 * The server's environment: the mnemo settings of the caller's environment pass through (to benchmark another
 * configuration, e.g. CONTENT_CACHE_ENTRIES=100), and the benchmark's own settings win.
 */
function serverEnv(database: { path: string } | { url: string }, port: number, loadShedding: boolean): Record<string, string> {
  const passthrough = Object.fromEntries(
    Object.keys(configSchema.shape)
      .map((name) => [name, process.env[name]] as const)
      .filter((entry): entry is readonly [string, string] => entry[1] !== undefined && entry[1] !== ''),
  );
  return {
    ...passthrough,
    PATH: process.env.PATH ?? '',
    ...('url' in database ? { DATABASE_URL: database.url } : { DATABASE_PATH: database.path, DATABASE_URL: '' }),
    HOST: '127.0.0.1',
    PORT: String(port),
    NODE_ENV: 'production',
    SEED_ON_START: 'false',
    LOG_LEVEL: 'warn',
    // Rate limiting and load shedding would measure the guards, not the server's capacity.
    RATE_LIMIT_PER_MINUTE: '0',
    ...(loadShedding ? {} : { MAX_EVENT_LOOP_DELAY_MS: '0' }),
  };
}

/**
 * A tiny-JSON baseline, or the replica of captured module responses driven with a scenario's own requests (the
 * same paths and headers, so the same bytes, ETags and 304s).
 */
async function measureBaseline(settings: LoadSettings, label = 'tiny', replica?: Replica): Promise<LoadResult> {
  const baseline = await startBaseline(replica?.file);
  cleanups.push(() => baseline.stop());
  try {
    const spec = replica ? replica.spec : { requests: [{ method: 'GET' as const, path: '/' }] };
    const result = await runLoad({ url: baseline.baseUrl, ...spec }, settings);
    console.log(`baseline ${label}: ${Math.round(result.successRate).toLocaleString('en-US')} req/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms (startup ${Math.round(baseline.startupMs)} ms)`);
    return result;
  } finally {
    await baseline.stop();
  }
}

/** A replica baseline: its captured responses and the requests it is driven with. */
interface Replica {
  file: string;
  spec: Omit<LoadSpec, 'url'>;
}

/** A response as the replica sends it back: its body and headers, less those of the connection or the request. */
const captureOf = (response: HttpResponse): CapturedResponses[string] => ({
  body: response.body,
  headers: Object.fromEntries(
    Object.entries(response.headers).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && !['date', 'connection', 'keep-alive', 'content-length', 'x-request-id'].includes(entry[0]),
    ),
  ),
});

/** Every module's response as the server sends it to autocannon (uncompressed), for the replica baselines. */
async function captureModuleResponses(baseUrl: string, slugs: readonly string[], workDir: string): Promise<string> {
  const captured: CapturedResponses = {};
  for (const slug of slugs) {
    const path = `/v1/modules/${slug}`;
    const response = await send(`${baseUrl}${path}`);
    if (response.status !== 200) throw new Error(`capturing ${path} answered ${response.status}`);
    captured[replicaKey('GET', path)] = captureOf(response);
  }
  const file = join(workDir, 'module-responses.json');
  writeFileSync(file, JSON.stringify(captured));
  return file;
}

/**
 * A `replica` scenario's response to every distinct request it makes (drawn until ten times as many draws as there
 * are distinct requests bring none new), and the scenario's requests from their start to drive the replica with.
 */
async function captureScenarioResponses(scenario: Scenario, context: ScenarioContext, workDir: string): Promise<Replica> {
  const drawn = await scenario.prepare(context);
  const captured: CapturedResponses = {};
  let distinct = 0;
  for (let sinceNew = 0; sinceNew < Math.max(100, 10 * distinct); sinceNew++) {
    const { path, ...init } = nextRequest(drawn.requests[0]!);
    const key = replicaKey(init.method, path, init.body);
    if (key in captured) continue;
    const response = await send(`${context.baseUrl}${path}`, init);
    if (response.status !== 200) throw new Error(`capturing ${init.method} ${path} answered ${response.status}`);
    captured[key] = captureOf(response);
    distinct += 1;
    sinceNew = -1;
  }
  const file = join(workDir, `${scenario.name}-responses.json`);
  writeFileSync(file, JSON.stringify(captured));
  return { file, spec: { requests: (await scenario.prepare(context)).requests } };
}

const pairOf = (before: LoadResult, after: LoadResult) => ({ before, after, requestsPerSecond: (before.successRate + after.successRate) / 2 });

/**
 * Waits until the server answers /healthz with 200 twice in a row: after a heavy scenario the load-shedding guard
 * may still answer 503 for a moment, and that must not be charged to the next scenario.
 */
async function waitUntilHealthy(baseUrl: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let healthy = 0;
  while (healthy < 2) {
    if (performance.now() > deadline) throw new Error(`the server did not answer /healthz with 200 within ${timeoutMs} ms`);
    const response = await send(`${baseUrl}/healthz`).catch(() => undefined);
    healthy = response?.status === 200 ? healthy + 1 : 0;
    await sleep(100);
  }
}

function targetOf(scenario: Scenario, backend: Backend): Target | undefined {
  const own = backend === 'postgres' ? scenario.postgres : undefined;
  if (scenario.units) return { kind: 'rate', min: own?.minPerSecond ?? scenario.units.minPerSecond, unit: `${scenario.units.name}/s` };
  const minRatio = own?.minRatio ?? scenario.minRatio;
  return minRatio === undefined ? undefined : { kind: 'ratio', min: minRatio };
}

/** Prepares, checks and loads one scenario; its ratio is filled in once both baselines are known. */
async function runScenario(scenario: Scenario, context: ScenarioContext, settings: LoadSettings, backend: Backend): Promise<ScenarioOutcome> {
  const target = targetOf(scenario, backend);
  const outcome: ScenarioOutcome = { name: scenario.name, description: scenario.description, writes: scenario.writes, ...(target ? { target } : {}), met: target ? false : null };
  try {
    await waitUntilHealthy(context.baseUrl);
    const prepared = await scenario.prepare(context);
    // One request sent before the load, so a broken scenario is reported as such instead of as a fast 4xx.
    const sample = await sendSample(context.baseUrl, prepared.requests[0]!);
    const problem = prepared.check(sample);
    if (problem) throw new Error(`sample request: ${problem}`);
    outcome.load = await runLoad({ url: context.baseUrl, requests: prepared.requests, ...(scenario.alsoSuccessful ? { alsoSuccessful: scenario.alsoSuccessful } : {}) }, settings);
    if (scenario.units) {
      outcome.units = { name: scenario.units.name, perRequest: scenario.units.perRequest, perSecond: outcome.load.successRate * scenario.units.perRequest };
    }
  } catch (error) {
    outcome.error = error instanceof Error ? error.message : String(error);
  }
  return outcome;
}

function score(outcome: ScenarioOutcome, baselineRate: number): void {
  if (!outcome.load || outcome.error) return;
  outcome.ratio = outcome.load.successRate / baselineRate;
  if (outcome.replica) outcome.replica.ratio = outcome.replica.requestsPerSecond / baselineRate;
  const value = outcome.target?.kind === 'rate' ? outcome.units?.perSecond : outcome.ratio;
  outcome.met = outcome.target ? targetMet(value, outcome.target) : null;
}

/**
 * Polls the WAL after the last write scenario: how long it took to fall below the target, or its size once
 * `walAfterWritesPatienceMs` have passed since the writes ended.
 */
async function walAfterWrites(wal: WalSampler, writesEndedAt: number): Promise<WalAfterWrites> {
  const target = walAfterWritesTarget as { max: number };
  for (;;) {
    const bytes = wal.size();
    const elapsed = performance.now() - writesEndedAt;
    if (bytes < target.max || elapsed >= walAfterWritesPatienceMs) {
      const seconds = Math.round(elapsed) / 1000;
      const met = targetMet(bytes, walAfterWritesTarget) && elapsed <= walAfterWritesPatienceMs;
      console.log(`WAL after the writes: ${(bytes / 1024 / 1024).toFixed(2)} MiB ${seconds.toFixed(1)} s after they ended`);
      return { value: bytes, seconds, target: walAfterWritesTarget, met };
    }
    await sleep(50);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function main(options: BenchOptions): Promise<void> {
  const results: BenchResults[] = [];
  for (const backend of options.backends) results.push(await runOn(backend, options));
  if (results.length === 2) console.log(`\n${compareEngines(results[0]!, results[1]!)}`);
  if (results.some((result) => result.summary.failed.length)) process.exitCode = 1;
}

/**
 * With both engines in one invocation: each scenario served from memory on PostgreSQL against SQLite (each ratio
 * against its own run's baseline), target within 10%.
 */
function compareEngines(sqlite: BenchResults, postgres: BenchResults): string {
  const lines = ['PostgreSQL against SQLite (ratio to each run\'s own baseline; served-from-memory reads must stay within 10%):'];
  for (const outcome of postgres.scenarios) {
    const other = sqlite.scenarios.find((candidate) => candidate.name === outcome.name);
    if (outcome.ratio === undefined || other?.ratio === undefined) continue;
    const relative = outcome.ratio / other.ratio;
    const fromMemory = scenarios.find((scenario) => scenario.name === outcome.name)?.servedFromMemory === true;
    lines.push(`  ${outcome.name.padEnd(20)} sqlite ${other.ratio.toFixed(3)}  postgres ${outcome.ratio.toFixed(3)}  = ${(relative * 100).toFixed(0)}%${fromMemory ? (relative >= 0.9 ? '  met' : '  MISSED') : ''}`);
  }
  return lines.join('\n');
}

async function runOn(backend: Backend, options: BenchOptions): Promise<BenchResults> {
  const started = performance.now();
  const cpuList = cpus();
  const machine = {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cpuCount: cpuList.length,
    totalMemoryBytes: totalmem(),
    platform: platform(),
    release: release(),
    node: process.version,
    loadAverageAtStart: loadavg(),
  };
  console.log(`mnemo benchmark (${options.profile}, ${backend}): ${options.scenarios.length} scenarios, ${options.connections} connections, ` +
    `${options.durationSeconds} s each after ${options.warmupSeconds} s warm-up; ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}`);

  if (!existsSync(join(repoRoot, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run bench` (it builds first) or `npm run build`');

  // 1. Dataset.
  if (options.rebuild) rmSync(datasetDir(options.dataset), { recursive: true, force: true });
  const datasetStarted = performance.now();
  const dataset = await ensureDataset(options.dataset);
  if (dataset.reused) console.log(`Dataset: reusing ${dataset.dir} (built in ${dataset.manifest.buildSeconds.toFixed(1)} s on ${dataset.manifest.builtAt})`);
  else console.log(`Dataset generation took ${((performance.now() - datasetStarted) / 1000).toFixed(1)} s`);

  // 2. A throw-away copy for this run: a file for SQLite, a database made from the dataset's template for PostgreSQL.
  const workDir = mkdtempSync(join(tmpdir(), 'mnemo-bench-'));
  cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
  const copyStarted = performance.now();
  const dbPath = join(workDir, 'mnemo.db');
  let database: { path: string } | { url: string };
  let dbBytes: number;
  if (backend === 'postgres') {
    const adminUrl = benchPostgresUrl();
    const template = await ensurePostgresTemplate(dataset, adminUrl, options.rebuild);
    const run = await createRunDatabase(adminUrl, template.name);
    cleanups.push(run.drop);
    database = { url: run.url };
    dbBytes = run.bytes;
    console.log(`PostgreSQL: ${template.reused ? 'reusing' : 'built'} template ${template.name}; this run's database made from it in ${((performance.now() - copyStarted) / 1000).toFixed(1)} s`);
  } else {
    copyFileSync(dataset.dbPath, dbPath);
    database = { path: dbPath };
    dbBytes = statSync(dbPath).size;
    console.log(`Copied the dataset (${(dbBytes / 1024 / 1024).toFixed(0)} MB) to ${dbPath} in ${((performance.now() - copyStarted) / 1000).toFixed(1)} s`);
  }
  const copySeconds = (performance.now() - copyStarted) / 1000;
  // The WAL's size, sampled from here to the server's stop (startup probes, scenarios, the wait after the writes);
  // PostgreSQL's WAL is the server's own business.
  const wal = backend === 'sqlite' ? sampleWal(dbPath) : undefined;
  cleanups.push(() => wal?.stop());

  const settings: LoadSettings = {
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    warmupSeconds: options.warmupSeconds,
    timeoutSeconds: options.timeoutSeconds,
  };

  // 3. Baseline, alone on the machine; measured again at the end, and the ratios use the mean of both.
  const baselineBefore = await measureBaseline(settings);

  // 4. The server under test. Startup is noisy on a small machine: it is measured over a few starts (median).
  const port = await freePort();
  const env = serverEnv(database, port, options.loadShedding);
  if (options.lrs) {
    const sink = await startBaseline();
    cleanups.push(() => sink.stop());
    env.LRS_ENDPOINT = `${sink.baseUrl}/xapi/`;
    console.log(`LRS: a sink at ${env.LRS_ENDPOINT} (every answer's statement is queued and delivered during the run)`);
  }
  const spawnMnemo = () => spawnServer({ name: 'mnemo', args: [...serverNodeFlags(), 'dist/main.js'], env, port, readyPath: '/readyz' });
  const startups: number[] = [];
  for (let probe = 1; probe < startupSamples; probe++) {
    const starting = await spawnMnemo();
    startups.push(starting.startupMs);
    await starting.stop();
  }
  const server = await spawnMnemo();
  startups.push(server.startupMs);
  cleanups.push(() => server.stop());
  const rssAfterStartup = processMemory(server.pid, 'VmRSS');
  console.log(
    `Server ready in ${startups.map((value) => `${Math.round(value)} ms`).join(', ')} (median ${Math.round(median(startups))} ms; ` +
      `pid ${server.pid}, RSS ${rssAfterStartup === null ? 'n/a' : `${(rssAfterStartup / 1024 / 1024).toFixed(0)} MB`})`,
  );

  // 5. Scenarios: readers first, so the writers' new answers do not change what the readers see.
  const selected = scenarios.filter((scenario) => options.scenarios.includes(scenario.name));
  const ordered = [...selected.filter((scenario) => !scenario.writes), ...selected.filter((scenario) => scenario.writes)];
  const primeStarted = performance.now();
  const context: ScenarioContext = { baseUrl: server.baseUrl, dataset, etags: await primeServer(server.baseUrl, dataset) };
  console.log(`Primed: requested all ${context.etags.size} modules once in ${Math.round(performance.now() - primeStarted)} ms`);
  // Same-bytes and 304 baselines, in the same batch (the server is up but idle): a replica of every module
  // response, driven with the module-get and module-get-304 scenarios' own requests.
  const responsesFile = await captureModuleResponses(server.baseUrl, dataset.manifest.modules.map((module) => module.slug), workDir);
  const replicaOf = async (kind: Exclude<BaselineKind, 'tiny'>) => {
    const scenario = scenarios.find((candidate) => candidate.baseline === kind)!;
    const prepared = await scenario.prepare(context);
    return { file: responsesFile, spec: { requests: prepared.requests, ...(scenario.alsoSuccessful ? { alsoSuccessful: scenario.alsoSuccessful } : {}) } };
  };
  const replicas = { 'same-bytes': await replicaOf('same-bytes'), 'not-modified': await replicaOf('not-modified') };
  const firstBaselines: Record<BaselineKind, LoadResult> = {
    tiny: baselineBefore,
    'same-bytes': await measureBaseline(settings, 'same-bytes', replicas['same-bytes']),
    'not-modified': await measureBaseline(settings, 'not-modified', replicas['not-modified']),
  };
  const outcomes: ScenarioOutcome[] = [];
  const baselineOf = (scenario: Scenario) => scenario.baseline ?? 'tiny';
  let writesEndedAt: number | undefined;
  for (const scenario of ordered) {
    wal?.startWindow();
    const outcome = await runScenario(scenario, context, settings, backend);
    if (wal) outcome.walPeakBytes = wal.windowPeak();
    if (scenario.writes) writesEndedAt = performance.now();
    if (scenario.replica && outcome.load) {
      const replica = await captureScenarioResponses(scenario, context, workDir);
      outcome.replica = { requestsPerSecond: (await measureBaseline(settings, `replica of ${scenario.name}`, replica)).successRate, ratio: 0 };
    }
    score(outcome, firstBaselines[baselineOf(scenario)].successRate);
    console.log(formatScenarioLine(outcome));
    outcomes.push(outcome);
  }
  // The writers are last: once they stop, the WAL must shrink (the server truncates it when writes pause).
  const walAfter = writesEndedAt === undefined || !wal ? null : await walAfterWrites(wal, writesEndedAt);

  // 6. Peak memory over the whole run, then stop.
  await waitUntilHealthy(server.baseUrl).catch((error: unknown) => console.error(`warning: ${(error as Error).message}`));
  const ready = await send(`${server.baseUrl}/readyz`).catch(() => undefined);
  if (ready?.status !== 200) console.error(`warning: /readyz answered ${ready?.status ?? 'nothing'} after the scenarios`);
  const peakRss = processMemory(server.pid, 'VmHWM');
  closeIdleConnections();
  await server.stop();
  wal?.stop();

  const baselineAfter = await measureBaseline(settings);
  const baselineRate = (baselineBefore.successRate + baselineAfter.successRate) / 2;
  const kindBaselines: Record<Exclude<BaselineKind, 'tiny'>, { before: LoadResult; after: LoadResult; requestsPerSecond: number }> = {
    'same-bytes': pairOf(firstBaselines['same-bytes'], await measureBaseline(settings, 'same-bytes', replicas['same-bytes'])),
    'not-modified': pairOf(firstBaselines['not-modified'], await measureBaseline(settings, 'not-modified', replicas['not-modified'])),
  };
  const rateOf = (kind: BaselineKind) => (kind === 'tiny' ? baselineRate : kindBaselines[kind].requestsPerSecond);
  for (const [index, outcome] of outcomes.entries()) {
    const kind = baselineOf(ordered[index]!);
    score(outcome, rateOf(kind));
    outcome.baseline = kind;
  }

  const startupMs = Math.round(median(startups));
  const startupFigure: ProcessFigure = { value: startupMs, samples: startups.map(Math.round), target: startupTarget, met: targetMet(startupMs, startupTarget) };
  const rssFigure: ProcessFigure = { value: peakRss, target: peakRssTarget, met: targetMet(peakRss, peakRssTarget) };
  const walFigure: ProcessFigure = wal ? { value: wal.peakBytes, target: walPeakTarget, met: targetMet(wal.peakBytes, walPeakTarget) } : { value: null, target: walPeakTarget, met: null };
  const verdicts = [...outcomes.map((outcome) => outcome.met), startupFigure.met, rssFigure.met, walFigure.met, walAfter?.met ?? null].filter(
    (met): met is boolean => met !== null,
  );
  const results: BenchResults = {
    version: 1,
    date: new Date().toISOString(),
    totalSeconds: (performance.now() - started) / 1000,
    machine,
    options: { ...options },
    backend,
    dataset: {
      dir: dataset.dir,
      key: dataset.manifest.key,
      params: dataset.manifest.params,
      counts: dataset.manifest.counts,
      reused: dataset.reused,
      builtThisRun: !dataset.reused,
      buildSeconds: dataset.manifest.buildSeconds,
      buildPhases: dataset.manifest.phases,
      dbBytes,
      copySeconds,
    },
    server: {
      env: Object.fromEntries(Object.entries(env).filter(([name]) => name !== 'PATH').map(([name, value]) => [name, name === 'DATABASE_URL' ? redactUrl(value) : value])),
      startupMs: startupFigure,
      peakRssBytes: rssFigure,
      rssAfterStartupBytes: rssAfterStartup,
      walPeakBytes: walFigure,
      walAfterWrites: walAfter,
      logLines: server.output,
    },
    baseline: { requestsPerSecond: baselineRate, before: baselineBefore, after: baselineAfter, ...kindBaselines },
    scenarios: outcomes,
    summary: {
      targets: verdicts.length,
      met: verdicts.filter(Boolean).length,
      missed: verdicts.filter((met) => !met).length,
      failed: outcomes.filter((outcome) => outcome.error !== undefined).map((outcome) => outcome.name),
    },
  };
  writeResults(resultsPathOf(backend, options.lrs), results);
  console.log(`\n${renderReport(results)}\nResults written to ${resultsPathOf(backend, options.lrs)}`);
  return results;
}

let options: BenchOptions | null;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`bench: ${error.message}\n\n${usage}`);
  process.exit(2);
}
if (options === null) {
  console.log(usage);
} else {
  try {
    await main(options);
  } catch (error) {
    console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}
