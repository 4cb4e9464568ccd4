import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { openDatabase, type DatabaseHandle } from './client.js';

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle;
  }
}

/** Opens the process's one SQLite connection (migrated) and closes it when the app closes. */
export const databasePlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const handle = openDatabase({
      path: config.databasePath,
      synchronous: config.sqlite.synchronous,
      busyTimeoutMs: config.sqlite.busyTimeoutMs,
    });
    app.decorate('database', handle);
    let checkpointer: Checkpointer | undefined;
    if (config.databasePath !== ':memory:' && config.sqlite.checkpointIntervalMs > 0) {
      handle.sqlite.pragma('wal_autocheckpoint = 10000');
      checkpointer = startCheckpointer(config.databasePath, config.sqlite.checkpointIntervalMs, (message) =>
        app.log.warn({ message }, 'background WAL checkpoint failed; SQLite checkpoints automatically instead'),
      );
    }
    app.addHook('onClose', async () => {
      await checkpointer?.stop();
      handle.close();
    });
  },
  { name: 'mnemo-database', fastify: '5.x' },
);
