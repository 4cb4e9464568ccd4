import { readdirSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { StorageHealth } from './storage-health.js';

/*
 * The files a connection writes must stay the files at DATABASE_PATH. SQLite keeps writing through the
 * descriptors it opened: after `rm data/mnemo.db` (or the WAL, or the -shm index) every write lands in a file
 * nobody can open again and is lost when the process exits, and a file created at the path in the meantime (by
 * the CLI) is another database that shares the names of the WAL and the index with ours. So the (device, inode)
 * of each file is recorded at open and checked every `intervalMs`; the first difference refuses writes (503)
 * and readiness until the server is restarted. A file that reappears later does not clear it: it is not ours.
 *
 * Legitimately, none of the three changes identity while the connection is open: SQLite truncates the WAL in
 * place (wal_checkpoint(TRUNCATE), journal_size_limit) and deletes the WAL and the index only when the last
 * connection to the database closes; another process (the CLI, the checkpointer) opening and closing a connection
 * leaves both alone, and cannot switch the journal mode away from WAL while this one is open (SQLITE_BUSY).
 */

/** The storage problem source this module sets (it never clears it). */
export const fileIdentitySource = 'file-identity';

export type WatchedFile = 'database' | 'wal' | 'shm';

export interface IdentityChange {
  file: WatchedFile;
  /** The path checked (absolute; the WAL and the index are named after the database file with symlinks resolved, as SQLite names them). */
  path: string;
  cause: 'removed' | 'replaced';
  /** `device:inode` recorded at open, and the one found at the path (replaced only). */
  opened: string;
  found?: string;
}

export interface FileIdentityLoss {
  /** The storage problem's message: said in the log and in every refused write's 503. Names the cause, not the path. */
  message: string;
  /** For the log: what to do before restarting so that the data written so far is not lost (depends on the cause). */
  advice: string;
  changes: IdentityChange[];
  /**
   * Linux: `/proc/<pid>/fd/<n>` of the descriptors this process holds on the files it opened. Until it exits, the
   * data written so far is readable there (and only there, for a removed file): copy it out before restarting.
   */
  openDescriptors: string[];
}

export interface FileIdentityOptions {
  /** Called once, when the first change is noticed (by the watcher or by verify()). */
  onLoss(loss: FileIdentityLoss): void;
  /** A check that could not tell (a stat failing otherwise than "no such file"): nothing is refused for it. Once per failure streak. */
  onCheckFailed?(error: Error): void;
  /** Between two asynchronous checks; 500 ms. */
  intervalMs?: number;
}

export interface FileIdentityWatcher {
  /**
   * Checks synchronously (one statSync per watched file, a few µs each) and returns the refusal message if a file
   * changed, now or earlier. Cheap enough to call before a write transaction to close the gap between two polls.
   */
  verify(): string | undefined;
  /** The loss noticed, if any. */
  loss(): FileIdentityLoss | undefined;
  /** Stops the polling (before the connection closes: closing deletes the WAL and the index, which is no loss). */
  stop(): void;
}

interface Watched {
  file: WatchedFile;
  path: string;
  dev: bigint;
  ino: bigint;
}

/** What a stat found: the identity, nothing at the path, or a failure that says nothing about the file. */
type Found = { dev: bigint; ino: bigint } | 'missing' | Error;

const watchers = new WeakMap<Database.Database, FileIdentityWatcher>();

/** The watcher started on a connection, if any (the write path reaches it from `db.$client`). */
export function fileIdentityOf(sqlite: Database.Database): FileIdentityWatcher | undefined {
  return watchers.get(sqlite);
}

/**
 * Records the identity of the database file at `path` and, in WAL mode, of its -wal and -shm files, and starts
 * checking them. Returns undefined for a database without a file (':memory:', '').
 */
export function watchFileIdentity(
  database: { sqlite: Database.Database; storage: StorageHealth },
  path: string,
  options: FileIdentityOptions,
): FileIdentityWatcher | undefined {
  if (path === ':memory:' || path === '') return undefined;
  const { sqlite, storage } = database;
  // A read opens the WAL and the index if nothing has yet (a WAL database whose first statement is still to come).
  sqlite.pragma('user_version');
  const wal = sqlite.pragma('journal_mode', { simple: true }) === 'wal';
  const databasePath = resolve(path);
  const realPath = realpathSync(databasePath);
  const candidates: [WatchedFile, string][] = [['database', databasePath]];
  if (wal) candidates.push(['wal', `${realPath}-wal`], ['shm', `${realPath}-shm`]);
  // A file absent now (WAL mode creates both at the first read above) cannot be told from a later one: not watched.
  const watched: Watched[] = [];
  for (const [file, filePath] of candidates) {
    const stats = statSync(filePath, { bigint: true, throwIfNoEntry: false });
    if (stats) watched.push({ file, path: filePath, dev: stats.dev, ino: stats.ino });
  }

  const intervalMs = options.intervalMs ?? 500;
  let lost: FileIdentityLoss | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;

  const notice = (found: Found[]): string | undefined => {
    if (lost) return lost.message;
    const changes = changesOf(watched, found);
    const failure = found.find((entry): entry is Error => entry instanceof Error);
    if (changes.length === 0) {
      if (failure && !failing) options.onCheckFailed?.(failure);
      failing = failure !== undefined;
      return undefined;
    }
    lost = { message: messageOf(changes), advice: adviceOf(changes), changes, openDescriptors: openDescriptorsOf(watched) };
    storage.set(fileIdentitySource, { message: lost.message, refuseWrites: true });
    stopPolling();
    options.onLoss(lost);
    return lost.message;
  };

  const stopPolling = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };

  const poll = async () => {
    const found = await Promise.all(watched.map((entry) => stat(entry.path, { bigint: true }).then(identityOf, foundOnError)));
    // Stopped meanwhile: the connection may be closing, which deletes the WAL and the index (no loss).
    if (stopped) return;
    notice(found);
    if (!stopped) schedule();
  };

  const schedule = () => {
    timer = setTimeout(() => void poll(), intervalMs);
    timer.unref();
  };

  const watcher: FileIdentityWatcher = {
    verify() {
      if (lost || stopped) return lost?.message;
      return notice(
        watched.map((entry) => {
          try {
            const stats = statSync(entry.path, { bigint: true, throwIfNoEntry: false });
            return stats ? identityOf(stats) : 'missing';
          } catch (error) {
            return foundOnError(error);
          }
        }),
      );
    },
    loss: () => lost,
    stop: stopPolling,
  };
  watchers.set(sqlite, watcher);
  schedule();
  return watcher;
}

const identityOf = (stats: BigIntStats): Found => ({ dev: stats.dev, ino: stats.ino });

/** ENOENT, or ENOTDIR (a folder on the path replaced by a file): nothing there. Anything else tells nothing. */
function foundOnError(error: unknown): Found {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
  return error instanceof Error ? error : new Error(String(error));
}

function changesOf(watched: Watched[], found: Found[]): IdentityChange[] {
  const changes: IdentityChange[] = [];
  watched.forEach((entry, index) => {
    const now = found[index]!;
    const opened = `${entry.dev}:${entry.ino}`;
    if (now === 'missing') changes.push({ file: entry.file, path: entry.path, cause: 'removed', opened });
    else if (!(now instanceof Error) && (now.dev !== entry.dev || now.ino !== entry.ino)) {
      changes.push({ file: entry.file, path: entry.path, cause: 'replaced', opened, found: `${now.dev}:${now.ino}` });
    }
  });
  return changes;
}

const subjects: Record<WatchedFile, string> = {
  database: 'the database file at DATABASE_PATH',
  wal: 'its write-ahead log (DATABASE_PATH-wal)',
  shm: 'its shared-memory index (DATABASE_PATH-shm)',
};

/** "the database file at DATABASE_PATH was removed and its write-ahead log (DATABASE_PATH-wal) was removed after ..." */
function messageOf(changes: IdentityChange[]): string {
  const parts = changes.map((change, index) => {
    const subject = index === 0 && change.file !== 'database' ? subjects[change.file].replace('its ', 'the database ') : subjects[change.file];
    return `${subject} was ${change.cause}`;
  });
  const said = parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
  return `${said} after the server opened ${changes.length === 1 ? 'it' : 'them'}: writes are refused until the server is restarted`;
}

/**
 * What the operator can still save. Closing the connection checkpoints the WAL it holds into the database file it
 * holds, and deletes the WAL by name: for a removed WAL (or index) a graceful stop keeps everything, a crash loses
 * the WAL; for a removed database file the data lives only in this process's descriptors.
 */
function adviceOf(changes: IdentityChange[]): string {
  if (changes.some((change) => change.file === 'database')) {
    return (
      'unless the file was moved rather than deleted, the data written so far is only in the files this process still holds open ' +
      '(openDescriptors): copy the database and its WAL from there (to saved.db and saved.db-wal) before stopping the server, or it is lost'
    );
  }
  return 'stop the server gracefully (SIGTERM, not kill -9): closing copies the WAL it still holds into the database file; then start it again';
}

/** Linux only, best effort: the descriptors of this process whose file is one we opened (found by device and inode). */
function openDescriptorsOf(watched: Watched[]): string[] {
  if (process.platform !== 'linux') return [];
  try {
    const descriptors: string[] = [];
    for (const fd of readdirSync('/proc/self/fd')) {
      const stats = statSync(`/proc/self/fd/${fd}`, { bigint: true, throwIfNoEntry: false });
      const entry = stats && watched.find((candidate) => candidate.dev === stats.dev && candidate.ino === stats.ino);
      if (entry) descriptors.push(`/proc/${process.pid}/fd/${fd} (${entry.file})`);
    }
    return descriptors;
  } catch {
    return [];
  }
}
