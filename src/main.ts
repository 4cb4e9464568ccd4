import { setFlagsFromString } from 'node:v8';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { compilePendingSerializers } from './http/zod.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { seedIfEmpty } from './content/seed-on-start.js';
import { drainQuietMs } from './http/drain.js';

/** The process entry: configuration, logger, seeding, listen and graceful shutdown live here and only here. */
async function main(config: Config): Promise<void> {
  const app = await buildApp(config, {
    logger: {
      level: config.logLevel,
      // Secrets never reach the log, whichever serializer a future log line uses.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '[redacted]' },
    },
    // On SIGTERM: stop listening, answer with Connection: close, close idle connections only once quiet.
    drain: { quietMs: drainQuietMs(config.shutdownGraceMs) },
  });
  await app.ready();
  if (config.seedOnStart) await seedIfEmpty(app.content, config.seedDir, app.log);

  closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an uncaught error');
    else app.log.info({ signal }, 'shutting down: draining connections, finishing in-flight requests');
    await app.close();
  });

  await app.listen({ host: config.host, port: config.port });
  // Serializers compile on first use; the rest now, while the first requests are already served.
  await compilePendingSerializers();
}

/**
 * How far V8 lets the old generation grow past what survived the last full collection before it collects again.
 * By default that factor goes up to 4 on a machine with a large heap limit, and under load (high allocation rate,
 * cache entries promoted then evicted) it does: the whole benchmark peaked at 515 MB RSS with about 100 MB live in
 * the heap. 1.5 bounds the garbage to half the live heap for the cost of more frequent, short, mostly concurrent
 * major collections. A `--heap-growing-percent` given to node (NODE_OPTIONS) wins.
 */
const heapGrowingPercent = 50;
if (![...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) => /^--heap[-_]growing[-_]percent/.test(flag))) {
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
main(config).catch((error: unknown) => {
  console.error('mnemo failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
