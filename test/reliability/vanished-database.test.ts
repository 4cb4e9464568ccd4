import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { testConfig } from '../../src/config.js';
import { fileIdentityOf, fileIdentitySource } from '../../src/db/file-identity.js';
import { repoRoot, seedSource } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';
import { createActors as createProcessActors, deckOf, http, killChildren, launchServer, serverEnv, tempDir } from '../helpers/reliability.js';

/*
 * The database file (or its WAL) removed or replaced under a running server, with real files. SQLite keeps
 * writing through the descriptors it opened, into files nobody can open again: the server must notice (within a
 * second or two, or at once through verify()), turn /readyz to 503, refuse writes with 503, log the cause, and
 * write nothing more into the files it opened. The test holds descriptors on those files from before the change
 * and compares their content before and after a refused write. Reads still answer.
 */

let dir: ReturnType<typeof tempDir>;
let count = 0;
beforeAll(() => {
  dir = tempDir('mnemo-vanished-');
});
afterAll(() => {
  killChildren();
  dir.remove();
});

/** A fresh folder (and database path in it) per test. */
function databasePathFor(name: string): string {
  const folder = join(dir.path, `${++count}-${name}`);
  mkdirSync(folder);
  return join(folder, 'mnemo.db');
}

/** Size and SHA-256 of everything readable through `fd` (a file that may have no name any more). */
function fingerprint(fd: number): string {
  const { size } = fstatSync(fd);
  const buffer = Buffer.alloc(size);
  let offset = 0;
  while (offset < size) {
    const read = readSync(fd, buffer, offset, size - offset, offset);
    if (read === 0) break;
    offset += read;
  }
  return `${offset}:${createHash('sha256').update(buffer.subarray(0, offset)).digest('hex')}`;
}

/** Polls `probe` (every 20 ms) until it returns true; fails after `timeoutMs`. */
async function until(probe: () => Promise<boolean> | boolean, what: string, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (!(await probe())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
  return Date.now() - started;
}

interface LogLine {
  level: number;
  msg: string;
  changes?: { file: string; cause: string; path: string; opened: string; found?: string }[];
  openDescriptors?: string[];
}

interface FileApp {
  app: FastifyInstance;
  actors: Actors;
  logs: LogLine[];
}

const apps: FastifyInstance[] = [];
const descriptors: number[] = [];
afterEach(async () => {
  for (const fd of descriptors.splice(0)) closeSync(fd);
  for (const app of apps.splice(0)) await app.close();
});

/**
 * An in-process app on a real file, with the seed, actors and an acknowledged answer, logging (warn and up) into
 * `logs`. No background checkpointer: with writes refused, nothing may then change the files it opened (SQLite's
 * own checkpoint runs only inside a commit).
 */
async function fileApp(databasePath: string): Promise<FileApp> {
  const logs: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as LogLine);
      callback();
    },
  });
  const base = testConfig();
  const app = await buildApp(testConfig({ databasePath, sqlite: { ...base.sqlite, checkpointIntervalMs: 0 } }), { logger: { level: 'warn', stream } });
  apps.push(app);
  await app.ready();
  await app.content.importModule(seedSource(), 'markdown', { importedBy: 'test' });
  const actors = await createActors(app);
  const first = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[0]!) });
  expect(first.statusCode).toBe(201);
  expect((await app.inject('/readyz')).statusCode).toBe(200);
  return { app, actors, logs };
}

const hold = (path: string) => {
  const fd = openSync(path, 'r');
  descriptors.push(fd);
  return fd;
};

async function readyzStatus(app: FastifyInstance): Promise<number> {
  return (await app.inject('/readyz')).statusCode;
}

/**
 * After the change at `path` was made: /readyz turns 503 within the poll, the storage problem and the error log
 * name `cause`, an answer is refused with a 503 problem, nothing changes in the files `held` (descriptors opened
 * before the change), and reads still answer.
 */
async function expectRefused(subject: FileApp, cause: RegExp, held: number[], change: { file: string; cause: string }): Promise<void> {
  const { app, actors, logs } = subject;
  const ms = await until(async () => (await readyzStatus(app)) === 503, '/readyz to answer 503');
  expect(ms).toBeLessThan(2000);
  const ready = (await app.inject('/readyz')).json();
  expect(ready).toEqual({ status: 'unavailable', checks: { database: true, migrations: true, storage: false } });

  const problems = app.database.storage.problems();
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatchObject({ refuseWrites: true });
  expect(problems[0]!.message).toMatch(cause);
  expect(app.database.storage.writeRefusal()).toBe(problems[0]!.message);

  const errors = logs.filter((line) => line.level === 50);
  expect(errors).toHaveLength(1);
  expect(errors[0]!.msg).toContain(problems[0]!.message);
  expect(errors[0]!.changes).toEqual([expect.objectContaining(change)]);
  if (process.platform === 'linux') expect(errors[0]!.openDescriptors!.length).toBeGreaterThan(0);

  const before = held.map(fingerprint);
  const refused = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[1]!) });
  expect(refused.statusCode, refused.body).toBe(503);
  expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(refused.json()).toMatchObject({ status: 503, code: 'MNEMO_SERVICE_UNAVAILABLE' });
  // The cause is the operator's (the log above); a client is told only that writes are refused.
  expect(refused.json().detail).toBe('storage refuses writes until the server is restarted; retry on another instance');
  expect(refused.body).not.toMatch(/DATABASE_PATH|wal|shm|\/tmp/);
  expect(held.map(fingerprint)).toEqual(before);

  expect((await app.inject('/v1/modules/networking/flashcards')).statusCode).toBe(200);
  const history = await app.inject({ url: '/v1/me/answers', headers: actors.learner.headers });
  expect(history.statusCode).toBe(200);
  expect(history.json().items).toHaveLength(1);
  // Logged once, however many checks and refusals followed.
  expect(logs.filter((line) => line.level === 50)).toHaveLength(1);
}

describe('a database file removed or replaced under a running server (in process)', () => {
  it('the database file removed: /readyz 503, writes refused with 503, nothing more written, reads answer', async () => {
    const databasePath = databasePathFor('removed');
    const subject = await fileApp(databasePath);
    const held = [hold(databasePath), hold(`${databasePath}-wal`)];
    rmSync(databasePath);
    await expectRefused(subject, /the database file at DATABASE_PATH was removed/, held, { file: 'database', cause: 'removed' });
    // The server never put a new file at the path.
    expect(existsSync(databasePath)).toBe(false);
  });

  it('the WAL removed: /readyz 503, writes refused with 503, nothing more written', async () => {
    const databasePath = databasePathFor('wal-removed');
    const subject = await fileApp(databasePath);
    const held = [hold(databasePath), hold(`${databasePath}-wal`)];
    rmSync(`${databasePath}-wal`);
    await expectRefused(subject, /write-ahead log \(DATABASE_PATH-wal\) was removed/, held, { file: 'wal', cause: 'removed' });
    expect(existsSync(`${databasePath}-wal`)).toBe(false);
    // What the log advises: a graceful stop copies the WAL the server still holds into the database file.
    expect(subject.logs.find((line) => line.level === 50)!.msg).toContain('stop the server gracefully');
    apps.splice(apps.indexOf(subject.app), 1);
    await subject.app.close();
    const reopened = new Database(databasePath, { readonly: true });
    try {
      expect(reopened.prepare('SELECT count(*) AS n FROM answers').get()).toEqual({ n: 1 });
      expect(reopened.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      reopened.close();
    }
  });

  it('the database file replaced by another SQLite file: 503, and neither file is written', async () => {
    const databasePath = databasePathFor('replaced');
    const subject = await fileApp(databasePath);
    const other = join(dir.path, `other-${count}.db`);
    const foreign = new Database(other);
    foreign.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('not mnemo')");
    foreign.close();
    const held = [hold(databasePath), hold(`${databasePath}-wal`)];
    renameSync(other, databasePath);
    // The new file is only read through a descriptor: SQLite opening it would take the server's WAL for its own.
    const replacement = hold(databasePath);
    await expectRefused(subject, /the database file at DATABASE_PATH was replaced/, [...held, replacement], { file: 'database', cause: 'replaced' });
    const logged = subject.logs.find((line) => line.level === 50)!.changes![0]!;
    const now = statSync(databasePath, { bigint: true });
    expect(logged.found).toBe(`${now.dev}:${now.ino}`);
    expect(logged.opened).not.toBe(logged.found);
  });

  it('verify() notices at once, before the next poll, and the refusal stays when a file reappears at the path', async () => {
    const databasePath = databasePathFor('verify');
    const { app } = await fileApp(databasePath);
    const identity = fileIdentityOf(app.database.sqlite)!;
    expect(identity.verify()).toBeUndefined();
    const moved = `${databasePath}.moved`;
    renameSync(databasePath, moved);
    const message = identity.verify();
    expect(message).toMatch(/the database file at DATABASE_PATH was removed/);
    expect(await readyzStatus(app)).toBe(503);
    // Moving it back gives the same inode, but a file that left the path once may have been written by others.
    renameSync(moved, databasePath);
    expect(identity.verify()).toBe(message);
    await delay(700);
    expect(await readyzStatus(app)).toBe(503);
    expect(app.database.storage.problems()).toEqual([{ message, refuseWrites: true }]);
    expect(identity.loss()!.changes).toEqual([expect.objectContaining({ file: 'database', cause: 'removed' })]);
  });

  it('what SQLite legitimately does to the files (a TRUNCATE checkpoint, another connection opening and closing) is no change', async () => {
    const databasePath = databasePathFor('legitimate');
    const { app, actors } = await fileApp(databasePath);
    const wal = `${databasePath}-wal`;
    const opened = statSync(wal, { bigint: true });
    expect(app.database.sqlite.pragma('wal_checkpoint(TRUNCATE)', { simple: true })).toBe(0);
    expect(statSync(wal, { bigint: true })).toMatchObject({ size: 0n, dev: opened.dev, ino: opened.ino });
    // A second connection (as the CLI opens one) reads, writes and closes: the WAL and the index stay, same inodes.
    const cli = new Database(databasePath);
    cli.pragma('busy_timeout = 5000');
    cli.prepare('SELECT count(*) FROM answers').get();
    cli.exec('CREATE TABLE IF NOT EXISTS scratch (x); DROP TABLE scratch');
    cli.close();
    expect(statSync(wal, { bigint: true })).toMatchObject({ dev: opened.dev, ino: opened.ino });
    expect(fileIdentityOf(app.database.sqlite)!.verify()).toBeUndefined();
    // Two polls go by: still ready, and writes still go through.
    await delay(1100);
    expect(await readyzStatus(app)).toBe(200);
    const written = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[2]!) });
    expect(written.statusCode).toBe(201);
    expect(app.database.storage.problems()).toEqual([]);
  });

  it('an in-memory database has no files to watch', async () => {
    const app = await buildApp(testConfig());
    apps.push(app);
    await app.ready();
    expect(fileIdentityOf(app.database.sqlite)).toBeUndefined();
    expect(app.database.storage.problems().filter((problem) => problem.message.includes('DATABASE_PATH'))).toEqual([]);
    expect(fileIdentitySource).toBe('file-identity');
  });
});

describe('a database file removed under a server process', () => {
  beforeAll(() => {
    // The child runs dist/: built from the current sources (as npm test does) so that it has this check.
    execFileSync(process.execPath, ['scripts/ensure-build.mjs'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  });

  it('rm of the file: /readyz 503 within seconds, answers refused with 503 and nothing more in the WAL, logged, clean shutdown', { timeout: 60_000 }, async () => {
    const databasePath = databasePathFor('process');
    const env = serverEnv(databasePath);
    const server = await launchServer(env);
    const { learners } = await createProcessActors(server.baseUrl, env, 1);
    const learner = learners[0]!;
    const deck = await deckOf(server.baseUrl, 'networking');
    const first = await http(server.baseUrl, 'POST', '/v1/me/answers', { token: learner.token, body: answer(deck[0]!) });
    expect(first.status).toBe(201);
    expect((await http(server.baseUrl, 'GET', '/readyz')).status).toBe(200);

    // Every commit goes through the WAL first: its content is what a write would change.
    const wal = hold(`${databasePath}-wal`);
    execFileSync('rm', [databasePath]);
    const ms = await until(async () => (await http(server.baseUrl, 'GET', '/readyz')).status === 503, '/readyz to answer 503');
    expect(ms).toBeLessThan(2000);
    expect((await http(server.baseUrl, 'GET', '/readyz')).body.checks).toEqual({ database: true, migrations: true, storage: false });

    const before = fingerprint(wal);
    for (let index = 1; index <= 3; index++) {
      const refused = await http(server.baseUrl, 'POST', '/v1/me/answers', { token: learner.token, body: answer(deck[index]!) });
      expect(refused.status, JSON.stringify(refused.body)).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ code: 'MNEMO_SERVICE_UNAVAILABLE' });
      expect(refused.body.detail).toBe('storage refuses writes until the server is restarted; retry on another instance');
    }
    expect(fingerprint(wal)).toBe(before);
    expect((await http(server.baseUrl, 'GET', '/v1/modules/networking/flashcards')).status).toBe(200);
    expect(existsSync(databasePath)).toBe(false);

    const errors = server.logs
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toMatch(/the database file at DATABASE_PATH was removed/);
    expect(errors[0]!.changes).toEqual([expect.objectContaining({ file: 'database', cause: 'removed', path: databasePath })]);
    if (process.platform === 'linux') expect(errors[0]!.openDescriptors!.join(' ')).toMatch(new RegExp(`/proc/${server.child.pid}/fd/\\d+ \\(database\\)`));

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    // Closing did not put a file back at the path.
    expect(existsSync(databasePath)).toBe(false);
  });
});
