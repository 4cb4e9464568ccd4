import { writeFileSync } from 'node:fs';
import type { LoadResult } from './load.js';

/** What a run measured, the table printed from it, and bench/results.json. */

export type Target =
  | { kind: 'ratio'; min: number }
  | { kind: 'rate'; min: number; unit: string }
  /** At most `max` when inclusive (the performance issue's `<=`), else below it. */
  | { kind: 'max'; max: number; unit: string; inclusive?: boolean };

export interface ScenarioOutcome {
  name: string;
  description: string;
  writes: boolean;
  /** Set when the scenario could not be prepared or its sample request was wrong. */
  error?: string;
  load?: LoadResult;
  /** Successful requests/s divided by the baseline's. */
  ratio?: number;
  /** Which baseline the ratio is against (tiny JSON, the same bytes, or a 304). */
  baseline?: 'tiny' | 'same-bytes' | 'not-modified';
  /** A replica sending the scenario's own captured responses (`replica` scenarios), and its ratio to the same baseline. */
  replica?: { requestsPerSecond: number; ratio: number };
  /** Work units per second (answers/s for batches). */
  units?: { name: string; perRequest: number; perSecond: number };
  /** The largest size of the SQLite WAL sampled while the scenario ran. */
  walPeakBytes?: number;
  target?: Target;
  /** null when there is no target. */
  met: boolean | null;
}

export interface ProcessFigure {
  value: number | null;
  /** Every measurement when `value` summarises several (the startup median). */
  samples?: number[];
  target: Target;
  met: boolean | null;
}

/** The WAL once the write scenarios ended: its size when it fell below the target, or after 10 s. */
export interface WalAfterWrites extends ProcessFigure {
  /** Seconds from the end of the last write scenario to `value`. */
  seconds: number;
}

export interface BenchResults {
  version: 1;
  date: string;
  totalSeconds: number;
  machine: {
    cpuModel: string;
    cpuCount: number;
    totalMemoryBytes: number;
    platform: string;
    release: string;
    node: string;
    loadAverageAtStart: number[];
  };
  options: Record<string, unknown>;
  dataset: {
    dir: string;
    key: string;
    params: unknown;
    counts: unknown;
    reused: boolean;
    /** Seconds this run spent building it (0 when reused); buildSeconds is how long the cached one took. */
    builtThisRun: boolean;
    buildSeconds: number;
    buildPhases: Record<string, number>;
    dbBytes: number;
    copySeconds: number;
  };
  server: {
    env: Record<string, string>;
    startupMs: ProcessFigure;
    peakRssBytes: ProcessFigure;
    rssAfterStartupBytes: number | null;
    /** The largest size of the SQLite WAL sampled during the whole run (every 20 ms). */
    walPeakBytes: ProcessFigure;
    /** null when no write scenario ran. */
    walAfterWrites: WalAfterWrites | null;
    /** Log lines at warn level or above written by the server during the run. */
    logLines: string[];
  };
  /** The bare node:http server, before and after the scenarios; ratios use the mean. */
  /** The tiny-JSON baseline at the top level; the same-bytes and 304 baselines (same batch) by kind. */
  baseline: {
    requestsPerSecond: number;
    before: LoadResult;
    after: LoadResult;
    'same-bytes'?: { requestsPerSecond: number; before: LoadResult; after: LoadResult };
    'not-modified'?: { requestsPerSecond: number; before: LoadResult; after: LoadResult };
  };
  /** The engine the server ran on. */
  backend: 'sqlite' | 'postgres';
  scenarios: ScenarioOutcome[];
  summary: { targets: number; met: number; missed: number; failed: string[] };
}

export function targetMet(value: number | null | undefined, target: Target): boolean | null {
  if (value === null || value === undefined) return null;
  if (target.kind === 'max') return target.inclusive ? value <= target.max : value < target.max;
  return value >= target.min;
}

const integer = (value: number) => Math.round(value).toLocaleString('en-US');
/** autocannon's latency percentiles are whole milliseconds; means are not. */
const ms = (value: number) => (Number.isInteger(value) || value >= 100 ? integer(value) : value < 10 ? value.toFixed(2) : value.toFixed(1));

/** The comparison a `max` target is held to. */
const bound = (target: Target) => (target.kind === 'max' && target.inclusive ? '<=' : '<');

function describeTarget(target: Target | undefined): string {
  if (!target) return '-';
  if (target.kind === 'ratio') return `ratio >= ${target.min.toFixed(2)}`;
  if (target.kind === 'rate') return `>= ${integer(target.min)} ${target.unit}`;
  return `${bound(target)} ${integer(target.max)} ${target.unit}`;
}

const mib = (bytes: number | null) => (bytes === null ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MiB`);

const verdict = (met: boolean | null) => (met === null ? '-' : met ? 'met' : 'MISSED');

function renderTable(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** One line per scenario as it completes; its ratio is against the first baseline until the run ends. */
export function formatScenarioLine(outcome: ScenarioOutcome): string {
  if (outcome.error || !outcome.load) return `${outcome.name}: FAILED - ${outcome.error ?? 'no result'}`;
  const { load } = outcome;
  const units = outcome.units ? `, ${integer(outcome.units.perSecond)} ${outcome.units.name}/s` : '';
  const wal = outcome.writes && outcome.walPeakBytes !== undefined ? `, WAL peak ${mib(outcome.walPeakBytes)}` : '';
  const statuses = Object.entries(load.statusCodes).map(([status, count]) => `${status} x${count}`).join(', ');
  return (
    `${outcome.name}: ${integer(load.successRate)} req/s${units}, p50 ${ms(load.latencyMs.p50)} ms, p99 ${ms(load.latencyMs.p99)} ms, ` +
    `non-2xx ${load.failures}, errors ${load.errors}${wal}, ratio ${outcome.ratio?.toFixed(2) ?? '-'} (vs the first baseline)` +
    `${outcome.replica ? `, replica of its responses ${integer(outcome.replica.requestsPerSecond)} req/s (${outcome.replica.ratio.toFixed(2)})` : ''} -> ${verdict(outcome.met)} ` +
    `[${statuses || 'no responses'}; ${load.activeConnections} connections answered]`
  );
}

export function renderReport(results: BenchResults): string {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'ratio', 'replica', 'target', 'result'];
  const { before, after, requestsPerSecond } = results.baseline;
  const baselineRow = (name: string, load: LoadResult, rate: number) => [
    name,
    integer(load.successRate),
    ms(load.latencyMs.p50),
    ms(load.latencyMs.p99),
    String(load.failures),
    String(load.errors),
    (load.successRate / rate).toFixed(2),
    '-',
    '-',
    '-',
  ];
  const rows: string[][] = [baselineRow('baseline before (node:http, tiny JSON)', before, requestsPerSecond), baselineRow('baseline after (node:http, tiny JSON)', after, requestsPerSecond)];
  for (const kind of ['same-bytes', 'not-modified'] as const) {
    const pair = results.baseline[kind];
    if (!pair) continue;
    const label = kind === 'same-bytes' ? 'same module bytes and ETag' : '304 to a matching ETag';
    rows.push(baselineRow(`baseline before (node:http, ${label})`, pair.before, pair.requestsPerSecond));
    rows.push(baselineRow(`baseline after (node:http, ${label})`, pair.after, pair.requestsPerSecond));
  }
  for (const outcome of results.scenarios) {
    if (outcome.error || !outcome.load) {
      rows.push([outcome.name, '-', '-', '-', '-', '-', '-', '-', describeTarget(outcome.target), 'FAILED']);
      continue;
    }
    const { load } = outcome;
    const units = outcome.units ? ` (${integer(outcome.units.perSecond)} ${outcome.units.name}/s)` : '';
    rows.push([
      outcome.baseline && outcome.baseline !== 'tiny' ? `${outcome.name} (vs ${outcome.baseline})` : outcome.name,
      integer(load.successRate),
      ms(load.latencyMs.p50),
      ms(load.latencyMs.p99),
      String(load.failures),
      String(load.errors),
      outcome.ratio!.toFixed(2),
      outcome.replica ? outcome.replica.ratio.toFixed(2) : '-',
      describeTarget(outcome.target),
      `${verdict(outcome.met)}${units}`,
    ]);
  }
  const table = renderTable(header, rows, new Set([1, 2, 3, 4, 5, 6, 7]));

  const { startupMs, peakRssBytes, rssAfterStartupBytes, walPeakBytes, walAfterWrites } = results.server;
  const mb = (bytes: number | null) => (bytes === null ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);
  const processRows = [
    [
      `server startup (spawn -> first 200 /readyz; median of ${startupMs.samples?.length ?? 1})`,
      startupMs.value === null ? 'n/a' : `${integer(startupMs.value)} ms`,
      describeTarget(startupMs.target),
      verdict(startupMs.met),
    ],
    ['server peak RSS (VmHWM)', mb(peakRssBytes.value), `${bound(peakRssBytes.target)} ${mb((peakRssBytes.target as { max: number }).max)}`, verdict(peakRssBytes.met)],
    ['server RSS after startup', mb(rssAfterStartupBytes), '-', '-'],
    ['WAL peak (sampled every 20 ms, whole run)', mib(walPeakBytes.value), `< ${mib((walPeakBytes.target as { max: number }).max)}`, verdict(walPeakBytes.met)],
    walAfterWrites
      ? [
          'WAL after the write scenarios end',
          `${mib(walAfterWrites.value)} after ${walAfterWrites.seconds.toFixed(1)} s`,
          `< ${mib((walAfterWrites.target as { max: number }).max)} within 10 s`,
          verdict(walAfterWrites.met),
        ]
      : ['WAL after the write scenarios end', 'no write scenario', '-', '-'],
  ];
  const processTable = renderTable(['process', 'value', 'target', 'result'], processRows, new Set([1]));

  const { summary, machine, dataset, options } = results;
  const lines = [
    table,
    '',
    processTable,
    '',
    `req/s counts successful responses only (2xx; also 304 for module-get-304); ratio = req/s / the mean of the scenario's ` +
      `baseline before and after the scenarios: tiny JSON ${integer(requestsPerSecond)} req/s` +
      (results.baseline['same-bytes'] ? `, same bytes ${integer(results.baseline['same-bytes'].requestsPerSecond)}` : '') +
      (results.baseline['not-modified'] ? `, 304 ${integer(results.baseline['not-modified'].requestsPerSecond)}` : '') +
      `. Latencies leave out each connection's first response. replica = the ratio of a bare node:http server sending ` +
      `the scenario's own captured responses (same bytes and headers), driven with its requests: what a server ` +
      `sending those bytes reaches with this load generator.`,
    ...(startupMs.samples ? [`Startup samples: ${startupMs.samples.map((value) => `${integer(value)} ms`).join(', ')}.`] : []),
    `Targets: ${summary.met} of ${summary.targets} met${summary.missed ? `, ${summary.missed} missed` : ''}${summary.failed.length ? `; failed scenarios: ${summary.failed.join(', ')}` : ''}.`,
    `Machine: ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, ${machine.platform} ${machine.release}.`,
    `Run: ${results.backend === 'postgres' ? 'PostgreSQL' : 'SQLite'}, ${options.connections} connections, ${options.durationSeconds} s measured after ${options.warmupSeconds} s warm-up per scenario; ` +
      `dataset ${dataset.reused ? 'reused' : `built in ${dataset.buildSeconds.toFixed(1)} s`}; total ${results.totalSeconds.toFixed(0)} s.`,
  ];
  if (results.server.logLines.length) lines.push(`The server logged ${results.server.logLines.length} warning/error line(s); see results.json.`);
  return lines.join('\n');
}

export function writeResults(path: string, results: BenchResults): void {
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}
