import pg from 'pg';
import type { CommitSource } from './commit-cache.js';
import { step } from './work.js';

/** The channel the tables' triggers notify on commit, with the table's name as payload (migrations/postgres). */
export const commitChannel = 'mnemo_commits';

export interface CommitListener {
  /**
   * A commit source for caches of rows from these tables: its version moves when any instance commits a change to
   * one of them, and on every call while the listening connection is down (nothing is cached blind).
   */
  sourceFor(tables: readonly string[], isTransaction: (executor: unknown) => boolean): CommitSource;
  /** Resolves once the listener has (re)connected and is listening. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One connection per process that LISTENs for the triggers' notifications. PostgreSQL delivers a notification
 * when the transaction that raised it commits, to every listening session: each instance learns of the others'
 * writes (and the CLI's) within milliseconds, the way SQLite's data_version tells of other connections' commits.
 * The connection is reopened when it fails; until then every version is new, so caches load instead of trusting.
 */
export function listenForCommits(url: string, onError: (error: Error) => void = () => {}): CommitListener {
  const generations = new Map<string, number>();
  let epoch = 0;
  let listening = false;
  let closed = false;
  let client: pg.Client | undefined;
  let readyWaiters: (() => void)[] = [];
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (attempt: number): Promise<void> => {
    if (closed) return;
    // keepAlive: a connection that dies silently (a NAT or firewall dropping it) is noticed and reopened.
    const next = new pg.Client({ connectionString: url, application_name: 'mnemo-listener', keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    const lost = (error?: Error) => {
      if (client !== next) return;
      client = undefined;
      listening = false;
      epoch++;
      if (error) onError(error);
      next.removeAllListeners();
      void next.end().catch(() => {});
      if (!closed) retryTimer = setTimeout(() => void connect(0), 200);
    };
    try {
      client = next;
      next.on('error', lost);
      next.on('end', () => lost());
      next.on('notification', (message) => {
        const table = message.payload ?? '';
        generations.set(table, (generations.get(table) ?? 0) + 1);
      });
      await next.connect();
      await next.query(`LISTEN ${commitChannel}`);
      // Whatever committed while nobody listened is unknown: everything loaded before now is suspect.
      epoch++;
      listening = true;
      for (const resolve of readyWaiters) resolve();
      readyWaiters = [];
    } catch (error) {
      if (client === next) client = undefined;
      next.removeAllListeners();
      void next.end().catch(() => {});
      if (attempt === 0) onError(error as Error);
      if (!closed) retryTimer = setTimeout(() => void connect(attempt + 1), Math.min(5000, 100 * 2 ** attempt));
    }
  };
  void connect(0);

  let blind = 0;
  return {
    sourceFor(tables, isTransaction) {
      return {
        version: () => {
          if (!listening) return `blind:${blind++}`;
          let sum = epoch * 1_000_003;
          for (const table of tables) sum += generations.get(table) ?? 0;
          return sum;
        },
        inTransaction: () => step((executor: unknown) => isTransaction(executor)),
      };
    },
    ready: () => (listening ? Promise.resolve() : new Promise<void>((resolve) => readyWaiters.push(resolve))),
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      listening = false;
      current?.removeAllListeners();
      await current?.end().catch(() => {});
    },
  };
}
