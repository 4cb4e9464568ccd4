import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError, type ErrorCode, type ErrorDetail } from '../../errors.js';
import { packageRoot, runningFromSources } from '../../lib/package-root.js';
import type { ModuleFormat } from './parse-module-source.js';
import type { NormalizedModule } from './module-input.js';
import type { RenderedModule } from './render-module.js';

const maxQueued = 8;

/** What the worker is asked: a client's source to read, or a stored (already valid) module to render again. */
export type ReaderRequest = { source: string; format: ModuleFormat } | { module: NormalizedModule };

/** What the worker answers for one source. */
export type ReaderReply =
  | { ok: true; rendered: RenderedModule }
  | { ok: false; code: ErrorCode; message: string; errors?: ErrorDetail[] };

/** Reads (parses, validates and renders) a module source from a client; renders stored versions again. */
export interface SourceReader {
  read(source: string, format: ModuleFormat): Promise<RenderedModule>;
  /** A stored version's source in all three renderings (old versions are kept as sources, not renderings). */
  render(module: NormalizedModule): Promise<RenderedModule>;
  close(): Promise<void>;
}

export interface SourceReaderOptions {
  /** A source still being read after this long is refused and its worker replaced. */
  timeoutMs: number;
  /** Called with the message of a failure that is a bug, not the source's fault. */
  onInternalError?: (message: string) => void;
}

/**
 * Module sources are read in one worker thread, one at a time, each under a deadline. remark costs about 20 us
 * per Markdown construct, so a large source takes seconds: on the main thread that froze every other request.
 * Bounds checked before parsing (source-bounds.ts) refuse hostile shapes early with a line number; the deadline is
 * the backstop for whatever shape they miss. The worker is started on the first import and does not keep the
 * process alive while idle.
 */
export function createSourceReader(options: SourceReaderOptions): SourceReader {
  let worker: { thread: Worker; ready: Promise<void> } | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  let pending = 0;

  const start = () => {
    const thread = spawn();
    const ready = new Promise<void>((resolve, reject) => {
      thread.once('message', () => resolve());
      thread.once('error', reject);
      thread.once('exit', (code) => reject(new Error(`the worker exited (code ${code}) before it was ready`)));
    });
    ready.catch(() => undefined);
    return { thread, ready };
  };

  const spawn = () => {
    // Built, the worker is tsc's output (the server itself may be one bundle, dist/main.js).
    if (!runningFromSources) return new Worker(join(packageRoot, 'dist/content/module-source/parse-worker.js'));
    // Tests run the TypeScript sources: the worker registers tsx (a dev dependency) before loading its entry.
    const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const entry = new URL('./parse-worker.ts', import.meta.url).href;
    return new Worker(`import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
  };

  const stop = (current: Worker) => {
    if (worker?.thread === current) worker = undefined;
    void current.terminate();
  };

  async function runNow(request: ReaderRequest): Promise<RenderedModule> {
    if (closed) throw new AppError('MNEMO_SERVICE_UNAVAILABLE', 'the server is shutting down');
    const started = (worker ??= start());
    const current = started.thread;
    current.ref();
    try {
      await started.ready;
    } catch (error) {
      stop(current);
      options.onInternalError?.((error as Error).message);
      throw new Error('the module source reader failed to start');
    }
    return new Promise<RenderedModule>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        current.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (worker?.thread === current) current.unref();
        settle();
      };
      const onMessage = (reply: ReaderReply) =>
        finish(() => {
          if (reply.ok) return resolve(reply.rendered);
          if (reply.code === 'MNEMO_INTERNAL') {
            options.onInternalError?.(reply.message);
            return reject(new Error('reading the module source failed'));
          }
          reject(new AppError(reply.code, reply.message, reply.errors));
        });
      const onError = (error: Error) =>
        finish(() => {
          stop(current);
          options.onInternalError?.(error.message);
          reject(new Error('the module source reader failed'));
        });
      const onExit = () => finish(() => {
        if (worker?.thread === current) worker = undefined;
        reject(closed ? new AppError('MNEMO_SERVICE_UNAVAILABLE', 'the server is shutting down') : new Error('the module source reader exited'));
      });
      const timer = setTimeout(
        () =>
          finish(() => {
            stop(current);
            reject(
              new AppError(
                'MNEMO_IMPORT_TOO_COMPLEX',
                `the source could not be read within ${options.timeoutMs} ms; split the module or simplify its Markdown (dense emphasis, links and lists are the slowest)`,
              ),
            );
          }),
        options.timeoutMs,
      );
      current.on('message', onMessage).on('error', onError).on('exit', onExit);
      current.postMessage(request);
    });
  }

  function enqueue(request: ReaderRequest): Promise<RenderedModule> {
    // A pile-up means something is wrong (imports are rare): refuse rather than queue for minutes.
    if (pending >= maxQueued) return Promise.reject(new AppError('MNEMO_OVERLOADED', `${maxQueued} module sources are already waiting for this worker; retry later`));
    pending++;
    const result = queue.then(() => runNow(request)).finally(() => pending--);
    queue = result.catch(() => undefined);
    return result;
  }

  return {
    read: (source, format) => enqueue({ source, format }),
    render: (module) => enqueue({ module }),
    async close() {
      closed = true;
      const current = worker;
      worker = undefined;
      if (current) await current.thread.terminate();
    },
  };
}
