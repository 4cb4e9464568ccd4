import { parseArgs } from 'node:util';
import { datasetProfiles, type DatasetParams } from './dataset.js';
import { scenarioNames } from './scenarios.js';

export interface BenchOptions {
  profile: 'full' | 'quick';
  dataset: DatasetParams;
  scenarios: string[];
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  timeoutSeconds: number;
  rebuild: boolean;
  /** Leave the server's event-loop load shedding on (MAX_EVENT_LOOP_DELAY_MS); off by default, like rate limits. */
  loadShedding: boolean;
  /** The engines to run, in this order (each a whole run with its own baselines). */
  backends: Backend[];
  /** Run the server with an LRS configured (a sink that accepts every statement): answers also queue xAPI statements. */
  lrs: boolean;
}

export type Backend = 'sqlite' | 'postgres';
const backendNames: readonly Backend[] = ['sqlite', 'postgres'];

const defaults = {
  full: { durationSeconds: 5, warmupSeconds: 2 },
  quick: { durationSeconds: 2, warmupSeconds: 1 },
};

export const usage = `Usage: npm run bench -- [options]

Builds the server, starts it on a copy of a large generated dataset (built once into bench/.data/ and reused),
drives it with autocannon and compares every scenario with a bare node:http baseline measured in the same run.
Prints a table and writes bench/results.json.

Options:
  --scenarios a,b,c    Run only these scenarios (the baseline always runs). Available:
                       ${scenarioNames.join(', ')}
  --duration <s>       Measured seconds per scenario (default ${defaults.full.durationSeconds}; --quick: ${defaults.quick.durationSeconds})
  --warmup <s>         Warm-up seconds per scenario, not measured (default ${defaults.full.warmupSeconds}; --quick: ${defaults.quick.warmupSeconds})
  --connections <n>    Concurrent connections for every scenario and the baseline (default 50)
  --quick              Smoke run of about a minute: ${datasetProfiles.quick.modules} modules, ${datasetProfiles.quick.learners.toLocaleString('en-US')} learners,
                       ${datasetProfiles.quick.answers.toLocaleString('en-US')} answers, short scenarios
  --rebuild            Rebuild the cached dataset even if one exists
  --backend <list>     sqlite (default), postgres, or sqlite,postgres: the same scenarios on each engine, one
                       after the other; with both, content reads on PostgreSQL are compared with SQLite's.
                       PostgreSQL databases are created on BENCH_POSTGRES_URL (default the local server,
                       postgres://postgres@127.0.0.1:5432/postgres)
  --load-shedding      Keep the server's event-loop load shedding (503) on; by default the benchmark turns it
                       off (MAX_EVENT_LOOP_DELAY_MS=0), like rate limiting, to measure capacity, not the guard
  --lrs                Configure an LRS (LRS_ENDPOINT: a node:http sink in its own process that answers 200 to every
                       batch), so every answer also queues its xAPI statement and the server delivers them during
                       the run; compare the answer scenarios with a run without it
  --help               Show this help

Full dataset: ${datasetProfiles.full.modules.toLocaleString('en-US')} modules, ${datasetProfiles.full.learners.toLocaleString('en-US')} learners, ${datasetProfiles.full.answers.toLocaleString('en-US')} answers (the first build takes a few minutes).`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function positiveNumber(name: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || (integer && !Number.isInteger(number))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`);
  }
  return number;
}

/** Parses the command line; null when --help was asked for. */
export function parseOptions(argv: string[]): BenchOptions | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        scenarios: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        quick: { type: 'boolean', default: false },
        rebuild: { type: 'boolean', default: false },
        'load-shedding': { type: 'boolean', default: false },
        lrs: { type: 'boolean', default: false },
        backend: { type: 'string', default: 'sqlite' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return null;
  const profile = values.quick ? 'quick' : 'full';
  const scenarios = values.scenarios === undefined ? scenarioNames : values.scenarios.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = scenarios.filter((name) => !scenarioNames.includes(name));
  if (unknown.length) throw new UsageError(`unknown scenario${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (available: ${scenarioNames.join(', ')})`);
  if (!scenarios.length) throw new UsageError('--scenarios needs at least one scenario name');
  const backends = values.backend.split(',').map((name) => name.trim());
  const unknownBackends = backends.filter((name) => !backendNames.includes(name as Backend));
  if (unknownBackends.length || !backends.length || new Set(backends).size !== backends.length) {
    throw new UsageError(`--backend takes sqlite, postgres or sqlite,postgres, got "${values.backend}"`);
  }
  const warmup = values.warmup === '0' ? 0 : positiveNumber('warmup', values.warmup, false);
  return {
    profile,
    dataset: datasetProfiles[profile],
    scenarios,
    durationSeconds: positiveNumber('duration', values.duration, false) ?? defaults[profile].durationSeconds,
    warmupSeconds: warmup ?? defaults[profile].warmupSeconds,
    connections: positiveNumber('connections', values.connections, true) ?? 50,
    timeoutSeconds: 10,
    rebuild: values.rebuild,
    loadShedding: values['load-shedding'],
    backends: backends as Backend[],
    lrs: values.lrs,
  };
}
