import { parentPort } from 'node:worker_threads';
import { isAppError } from '../../errors.js';
import { parseModuleSource } from './parse-module-source.js';
import { renderModule } from './render-module.js';
import type { ReaderReply, ReaderRequest } from './source-reader.js';

/** Parses and renders module sources off the main thread; see source-reader.ts. */
parentPort!.on('message', (request: ReaderRequest) => {
  let reply: ReaderReply;
  try {
    const module = 'module' in request ? request.module : parseModuleSource(request.source, request.format);
    reply = { ok: true, rendered: renderModule(module) };
  } catch (error) {
    if (isAppError(error)) {
      reply = { ok: false, code: error.code, message: error.message, ...(error.errors ? { errors: error.errors } : {}) };
    } else if (error instanceof RangeError) {
      // The bounds in source-bounds.ts should make this unreachable; an author still gets a 400, not a 500.
      reply = { ok: false, code: 'MNEMO_IMPORT_INVALID', message: 'the source is nested too deeply to read; flatten lists, blockquotes and front matter' };
    } else {
      reply = { ok: false, code: 'MNEMO_INTERNAL', message: String((error as Error)?.stack ?? error) };
    }
  }
  parentPort!.postMessage(reply);
});

// Loaded and listening: the reader starts a source's deadline only now, so start-up never counts against it.
parentPort!.postMessage({ ready: true });
