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
export interface ListenerOptions {
  /** How often the listening connection is asked to answer (SELECT 1). */
  heartbeatMs: number;
  /** A heartbeat unanswered this long means the connection is dead though no error came: it is replaced. */
  heartbeatTimeoutMs: number;
}

const defaultListenerOptions: ListenerOptions = { heartbeatMs: 1000, heartbeatTimeoutMs: 3000 };

export function listenForCommits(url: string, onError: (error: Error) => void = () => {}, options: ListenerOptions = defaultListenerOptions): CommitListener {
  const generations = new Map<string, number>();
  let epoch = 0;
  let listening = false;
  let closed = false;
  let client: pg.Client | undefined;
  let readyWaiters: (() => void)[] = [];
  let retryTimer: NodeJS.Timeout | undefined;
  /** When the unanswered heartbeat was sent (performance.now()), if one is outstanding. */
  let heartbeatSentAt: number | undefined;

  const connect = async (attempt: number): Promise<void> => {
    if (closed) return;
    // keepAlive: a connection that dies silently (a NAT or firewall dropping it) is noticed and reopened.
    const next = new pg.Client({ connectionString: url, application_name: 'mnemo-listener', keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    const lost = (error?: Error) => {
      if (client !== next) return;
      client = undefined;
      listening = false;
      heartbeatSentAt = undefined;
      epoch++;
      if (error) onError(error);
      next.removeAllListeners();
      // A late error from the abandoned connection must not become an uncaught 'error' event.
      next.on('error', () => {});
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
      // A late error from the abandoned connection must not become an uncaught 'error' event.
      next.on('error', () => {});
      void next.end().catch(() => {});
      if (attempt === 0) onError(error as Error);
      if (!closed) retryTimer = setTimeout(() => void connect(attempt + 1), Math.min(5000, 100 * 2 ** attempt));
    }
  };
  void connect(0);

  // A connection can die without a word (a failover that leaves the socket open, a firewall dropping packets):
  // keepAlive notices after minutes, and all that time no notification arrives and caches would trust stale rows.
  // A query that goes unanswered within the timeout ends the connection, which makes every version new (blind)
  // until a fresh one listens.
  const heartbeat = setInterval(() => {
    const current = client;
    if (!current || !listening) return;
    if (heartbeatSentAt !== undefined) {
      if (performance.now() - heartbeatSentAt > options.heartbeatTimeoutMs) {
        current.emit('error', new Error(`the commit listener's connection did not answer for ${options.heartbeatTimeoutMs} ms; reconnecting`));
        // end() would wait on the dead socket for good.
        (current as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }
      return;
    }
    const sentAt = (heartbeatSentAt = performance.now());
    current.query('SELECT 1').then(
      () => {
        if (heartbeatSentAt === sentAt) heartbeatSentAt = undefined;
      },
      () => {}, // a failed query is reported by the client's error event
    );
  }, options.heartbeatMs);
  heartbeat.unref();

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
      clearInterval(heartbeat);
      const current = client;
      client = undefined;
      listening = false;
      current?.removeAllListeners();
      await current?.end().catch(() => {});
    },
  };
}
