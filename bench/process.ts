import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { send } from './http.js';

/** Spawning, readiness, memory and shutdown of the processes under test (the mnemo server and the baseline). */

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** A port nobody listens on right now (the OS picks it; it is released before the server binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  baseUrl: string;
  /** From spawn to the first 200 from the readiness URL. */
  startupMs: number;
  /** Everything the process wrote (stdout and stderr), for diagnostics. */
  output: string[];
  stop(): Promise<void>;
}

export interface SpawnServerOptions {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  port: number;
  /** Path polled until it answers 200. */
  readyPath: string;
  readyTimeoutMs?: number;
}

const outputLines = 200;

/** Spawns a server process and waits until `readyPath` answers 200; the time it took is its startup time. */
export async function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const started = performance.now();
  const child = spawn(process.execPath, options.args, { cwd: repoRoot, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (output.length > outputLines) output.splice(0, output.length - outputLines);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : null);
      resolve();
    }),
  );
  const baseUrl = `http://127.0.0.1:${options.port}`;
  const deadline = started + (options.readyTimeoutMs ?? 60_000);

  const stop = async () => {
    if (exitCode !== undefined) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
    if (killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${options.name} exited (code ${exitCode}) before it was ready:\n${output.join('\n')}`);
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${options.name} was not ready after ${options.readyTimeoutMs ?? 60_000} ms:\n${output.join('\n')}`);
    }
    try {
      const response = await send(`${baseUrl}${options.readyPath}`, { keepAlive: false, timeoutMs: 2000 });
      if (response.status === 200) break;
    } catch {
      // Not listening yet.
    }
    await sleep(5);
  }
  return { name: options.name, child, pid: child.pid!, baseUrl, startupMs: performance.now() - started, output, stop };
}

/** A memory figure of a live process from /proc (Linux), in bytes: VmHWM is the peak resident set size. */
export function processMemory(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface WalSampler {
  /** The largest size seen since sampling started. */
  readonly peakBytes: number;
  /** The size now (0 when there is no WAL file). */
  size(): number;
  /** Starts a window (a scenario); `windowPeak()` is the largest size seen since. */
  startWindow(): void;
  windowPeak(): number;
  stop(): void;
}

/**
 * Samples the size of a SQLite database's write-ahead log (`<path>-wal`) every `intervalMs` until stopped, like
 * the peak RSS but sampled: /proc has no high-water mark for a file.
 */
export function sampleWal(databasePath: string, intervalMs = 20): WalSampler {
  const size = () => {
    try {
      return statSync(`${databasePath}-wal`).size;
    } catch {
      return 0;
    }
  };
  let peakBytes = 0;
  let windowPeak = 0;
  const sample = () => {
    const bytes = size();
    peakBytes = Math.max(peakBytes, bytes);
    windowPeak = Math.max(windowPeak, bytes);
    return bytes;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    get peakBytes() {
      return peakBytes;
    },
    size: sample,
    startWindow: () => void (windowPeak = sample()),
    windowPeak: () => Math.max(windowPeak, sample()),
    stop: () => clearInterval(timer),
  };
}
