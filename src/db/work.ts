/**
 * Work on the database, written once for both engines. A repository method returns a `Work`: a generator that
 * yields each statement it needs run and receives its result. SQLite (better-sqlite3) runs statements
 * synchronously, so its runner drives the generator to the end without ever yielding to the event loop: a
 * transaction body stays one synchronous run, as better-sqlite3 requires (an `await` inside would commit early).
 * PostgreSQL's runner awaits each statement on the transaction's connection. Services compose work with `yield*`
 * inside `read`/`write` bodies and never learn which engine ran it.
 */

/** One statement: given the engine's executor (its connection or transaction), its result or a promise of it. */
export type Statement = (executor: never, context: WorkContext) => unknown;

/** What a runner keeps for one attempt of a work. */
export interface WorkContext {
  /** Effects to run once the work's transaction has committed (dropped if it rolls back). */
  afterCommit: (() => void)[];
}

export const newWorkContext = (): WorkContext => ({ afterCommit: [] });

/** Runs the context's effects: the work committed. */
export function committed(context: WorkContext): void {
  for (const effect of context.afterCommit) effect();
}

export type Work<T> = Generator<Statement, T, unknown>;

/**
 * The statement as one step of a work: `const row = yield* step(() => query.get())`. On PostgreSQL the executor is
 * the transaction (or pool) the work runs on; SQLite's statements are prepared on its one connection and ignore it.
 */
export function* step<T, E = never>(statement: (executor: E, context: WorkContext) => T | Promise<T>): Work<Awaited<T>> {
  return (yield statement as Statement) as Awaited<T>;
}

/**
 * Runs `effect` once the transaction the work runs in has committed (after the work, outside one). An in-memory
 * cache of rows a transaction wrote is dropped then: dropped earlier, a concurrent reader on another connection
 * (PostgreSQL) could load the rows as they were before the commit and keep them.
 */
export function* afterCommit(effect: () => void): Work<void> {
  yield* step((_executor: unknown, context: WorkContext) => void context.afterCommit.push(effect));
}

/** A work that needs no statement (an answer from memory). */
// eslint-disable-next-line require-yield
export function* done<T>(value: T): Work<T> {
  return value;
}

/** Runs a work whose statements are synchronous (SQLite), in the caller's synchronous run. */
export function runNow<T>(work: Work<T>, executor?: unknown, context: WorkContext = newWorkContext()): T {
  let next = work.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = (next.value as (executor: unknown, context: WorkContext) => unknown)(executor, context);
    } catch (error) {
      next = work.throw(error);
      continue;
    }
    next = work.next(result);
  }
  return next.value;
}

/** Runs a work whose statements may return promises (PostgreSQL), awaiting each in turn. */
export async function runAwaiting<T>(work: Work<T>, executor: unknown, context: WorkContext = newWorkContext()): Promise<T> {
  let next = work.next();
  while (!next.done) {
    let result: unknown;
    try {
      result = await (next.value as (executor: unknown, context: WorkContext) => unknown)(executor, context);
    } catch (error) {
      next = work.throw(error);
      continue;
    }
    next = work.next(result);
  }
  return next.value;
}

/** What every repository offers its services, on either engine. */
export interface Transactions {
  /** One work outside any explicit transaction (each statement on its own, as autocommit runs it). */
  run<T>(work: Work<T>): Promise<T>;
  /** A work in one read-only snapshot: its statements never see two versions, and it takes no write lock. */
  read<T>(body: () => Work<T>): Promise<T>;
  /** A work in one write transaction: all of it commits or none of it. */
  write<T>(body: () => Work<T>): Promise<T>;
}
