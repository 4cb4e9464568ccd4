import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, createLearner, type Actors } from '../helpers/learners.js';

/**
 * Erasure reaches the disk: after `DELETE /v1/users/:id` answers 204, no byte sequence that identified the learner
 * (externalId, display names, the text of their answers, their ids, their key's name and token hash) is left in the
 * database file, its WAL or its shared-memory index, nor in a backup taken afterwards. The store is a real file
 * with the background checkpointer running, and the learner's rows are interleaved with other learners' so that
 * they share pages (and page splits) with data that stays.
 */

let dir: string;
let databasePath: string;
let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-erasure-'));
  databasePath = join(dir, 'erasure.db');
  app = await buildTestApp({ seed: true, config: { databasePath } });
  actors = await createActors(app);
});
afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

const files = () => [databasePath, `${databasePath}-wal`, `${databasePath}-shm`].filter((file) => existsSync(file));

/** The needles found in any of the database's files, with the file and byte offset of the first occurrence. */
function findOnDisk(needles: string[], paths = files()): string[] {
  const found: string[] = [];
  for (const path of paths) {
    const bytes = readFileSync(path);
    for (const needle of needles) {
      const at = bytes.indexOf(Buffer.from(needle, 'utf8'));
      if (at >= 0) found.push(`${needle} in ${path.slice(dir.length + 1)} at byte ${at}`);
    }
  }
  return found;
}

const tag = () => randomBytes(6).toString('hex');

interface Traced {
  userId: string;
  /** Every string that identifies the learner or is theirs, as it would be stored. */
  needles: string[];
  /** The ones stored in live rows until the erasure (the first display name was renamed away, the token is never stored). */
  live: string[];
}

/**
 * A learner with a distinctive externalId, two display names (renamed once), a named key and answers whose
 * responses are theirs alone, one long enough for an overflow page; every answer is written between other
 * learners' answers, so the learner's rows share pages with rows that stay.
 */
async function tracedLearner(others: { headers: { authorization: string } }[]): Promise<Traced> {
  const t = tag();
  const externalId = `erasure-ext-${t}`;
  const firstName = `Zoë Ērasure-${t}`;
  const secondName = `Zoë Renamed-${t}`;
  const keyName = `phone-of-${t}`;
  const created = await app.inject({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId, displayName: firstName } });
  expect(created.statusCode).toBe(201);
  const userId = created.json().id as string;
  const key = await app.inject({ method: 'POST', url: `/v1/users/${userId}/keys`, headers: actors.integration, payload: { name: keyName } });
  const token = key.json().token as string;
  const headers = { authorization: `Bearer ${token}` };

  const responses: string[] = [];
  const clientAnswerIds: string[] = [];
  for (let round = 0; round < 12; round++) {
    for (const [index, card] of actors.deck.entries()) {
      const response = round === 5 && index === 0 ? `long-answer-${t}-${'é'.repeat(6000)}` : `my-answer-${t}-${round}-${index} ${'x'.repeat(150)}`;
      const item = answer(card, { response, answeredAt: new Date(Date.UTC(2026, 0, 1 + round, index)).toISOString() });
      responses.push(response.slice(0, 40));
      clientAnswerIds.push(item.clientAnswerId);
      expect((await app.inject({ method: 'POST', url: '/v1/me/answers', headers, payload: item })).statusCode).toBe(201);
      const other = others[(round * actors.deck.length + index) % others.length]!;
      await app.inject({ method: 'POST', url: '/v1/me/answers', headers: other.headers, payload: answer(card, { response: `someone else ${'y'.repeat(150)}` }) });
    }
  }
  const renamed = await app.inject({ method: 'PATCH', url: `/v1/users/${userId}`, headers: actors.integration, payload: { displayName: secondName } });
  expect(renamed.json()).toMatchObject({ id: userId, displayName: secondName });

  const answerIds = (app.database.sqlite.prepare('SELECT id FROM answers WHERE user_id = ?').all(userId) as { id: string }[]).map((row) => row.id);
  const tokenHash = createHash('sha256').update(token).digest('hex');
  return {
    userId,
    needles: [userId, externalId, firstName, secondName, keyName, token, tokenHash, ...responses, ...clientAnswerIds, ...answerIds.slice(0, 10)],
    live: [userId, externalId, secondName, keyName, tokenHash, responses[0]!, responses.at(-1)!],
  };
}

describe('erasure on disk', () => {
  it('leaves none of the learner in the database file, the WAL or the -shm after the 204, nor in a backup taken after it', async () => {
    const others = await Promise.all(Array.from({ length: 8 }, (_, index) => createLearner(app, actors.integration, `neighbour-${index}-${tag()}`)));
    const traced = await tracedLearner(others);
    // The scan sees what is there: before the erasure the learner's live data is on disk (the database file or the WAL).
    const before = findOnDisk(traced.live);
    for (const needle of traced.live) expect(before.some((hit) => hit.startsWith(`${needle} in`)), needle).toBe(true);

    const erased = await app.inject({ method: 'DELETE', url: `/v1/users/${traced.userId}`, headers: actors.integration });
    expect(erased.statusCode).toBe(204);
    expect(findOnDisk(traced.needles)).toEqual([]);
    // The WAL was checkpointed and truncated, not merely reset.
    expect(readFileSync(`${databasePath}-wal`).length).toBe(0);
    // Neighbours' data stayed (the scan reads real pages).
    expect(findOnDisk([others[0]!.externalId])).not.toEqual([]);

    const backup = join(dir, 'after-erasure.db');
    await app.database.sqlite.backup(backup);
    expect(findOnDisk(traced.needles, [backup])).toEqual([]);
  });

  it('erasing many learners one after another leaves none of them behind', async () => {
    const others = await Promise.all(Array.from({ length: 4 }, (_, index) => createLearner(app, actors.integration, `crowd-${index}-${tag()}`)));
    const traced = [await tracedLearner(others), await tracedLearner(others), await tracedLearner(others)];
    for (const { userId } of traced) {
      expect((await app.inject({ method: 'DELETE', url: `/v1/users/${userId}`, headers: actors.admin })).statusCode).toBe(204);
    }
    expect(findOnDisk(traced.flatMap((learner) => learner.needles))).toEqual([]);
  });

  it('while another connection reads an older snapshot, answers 204 after a short wait and truncates the WAL once it ends', async () => {
    const others = [await createLearner(app, actors.integration, `reader-${tag()}`)];
    const traced = await tracedLearner(others);
    // A reader in another process (here: another connection) pins the WAL: it cannot be truncated under it.
    const reader = new Database(databasePath, { readonly: true });
    try {
      reader.prepare('BEGIN').run();
      reader.prepare('SELECT count(*) FROM answers').get();
      const started = Date.now();
      const erased = await app.inject({ method: 'DELETE', url: `/v1/users/${traced.userId}`, headers: actors.integration });
      expect(erased.statusCode).toBe(204);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      // The API has forgotten the learner already; the old frames are still in the WAL the reader is using.
      expect((await app.inject({ url: `/v1/users/${traced.userId}`, headers: actors.integration })).statusCode).toBe(404);
      expect(findOnDisk(traced.needles, [`${databasePath}-wal`])).not.toEqual([]);
      reader.prepare('COMMIT').run();
    } finally {
      reader.close();
    }
    // The retry (once a second) truncates the WAL once the reader is gone.
    const deadline = Date.now() + 5000;
    while (findOnDisk(traced.needles).length && Date.now() < deadline) await delay(100);
    expect(findOnDisk(traced.needles)).toEqual([]);
  });

  it('a repeated erasure is a 404 and the learner key stays dead', async () => {
    const learner = await createLearner(app, actors.integration, `gone-${randomUUID()}`);
    expect((await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(404);
    expect((await app.inject({ url: '/v1/me/progress', headers: learner.headers })).statusCode).toBe(401);
  });
});
