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
