import fp from 'fastify-plugin';
import type { Config } from '../config.js';
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
    app.addHook('onClose', async () => handle.close());
  },
  { name: 'mnemo-database', fastify: '5.x' },
);
