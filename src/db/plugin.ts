import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { configureWal, startCheckpointer, type Checkpointer } from './checkpointer.js';
import { openDatabase, type DatabaseHandle } from './client.js';
import { watchFileIdentity } from './file-identity.js';
import { openPostgresStore, sqliteStore, type Store } from './store.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The process's database on either engine; services reach it only through repositories. */
    store: Store;
    /** The SQLite connection, when SQLite is the engine (pragmas, backups, tests' statement counts). */
    database: DatabaseHandle;
  }
}

/**
 * Opens the process's database, migrated, and closes it when the app closes: PostgreSQL when DATABASE_URL is set,
 * otherwise the process's one SQLite connection with its file watch and WAL checkpointer.
 */
export const databasePlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    if (config.postgres) {
      // The driver's error carries its client (connection parameters, buffers): the log gets what an operator reads.
      const onError = (error: Error) =>
        app.log.warn({ err: { type: error.name, message: error.message, code: (error as { code?: unknown }).code } }, 'a PostgreSQL connection failed; reconnecting');
      const store = await openPostgresStore(config.postgres, onError);
      app.decorate('store', store);
      app.addHook('onClose', () => store.close());
      return;
    }
    const handle = openDatabase({
      path: config.databasePath,
      synchronous: config.sqlite.synchronous,
      busyTimeoutMs: config.sqlite.busyTimeoutMs,
    });
    app.decorate('database', handle);
    app.decorate('store', sqliteStore(handle));
    // A database file (or its WAL) removed or replaced under the server: writes and readiness refused until restart.
    const identity = watchFileIdentity(handle, config.databasePath, {
      onLoss: ({ message, advice, changes, openDescriptors }) => app.log.error({ changes, openDescriptors }, `storage refused: ${message}; ${advice}`),
      onCheckFailed: (error) => app.log.warn({ err: error }, 'could not check the identity of the database files; retrying'),
    });
    let checkpointer: Checkpointer | undefined;
    // The WAL's bounds (journal_size_limit, the automatic checkpoint as a backstop): db/checkpointer.ts.
    if (config.databasePath !== ':memory:') configureWal(handle.sqlite, { backgroundCheckpoints: config.sqlite.checkpointIntervalMs > 0 });
    if (config.databasePath !== ':memory:' && config.sqlite.checkpointIntervalMs > 0) {
      checkpointer = startCheckpointer(config.databasePath, config.sqlite.checkpointIntervalMs, (message) =>
        app.log.warn({ message }, 'background WAL checkpoint failed; SQLite checkpoints automatically instead'),
      );
    }
    app.addHook('onClose', async () => {
      identity?.stop();
      await checkpointer?.stop();
      handle.close();
    });
  },
  { name: 'mnemo-database', fastify: '5.x' },
);
