import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { testConfig } from '../../src/config.js';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { answer, createActors, createLearner, type Actors, type Learner } from '../helpers/learners.js';

// The study queue and history pages are served from a per-learner cache that must never outlive what they were
// derived from: the learner's writes, content changes, other processes' commits, the clock.
let app: FastifyInstance;
let actors: Actors;
let dir: string;
let databasePath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-study-cache-'));
  databasePath = join(dir, 'mnemo.db');
  // No checkpointer connection: its WAL resets move `PRAGMA data_version` and would drop the cache for this
  // connection's own content writes too, hiding a missing invalidation.
  const config = testConfig();
  app = await buildTestApp({ seed: true, config: { databasePath, sqlite: { ...config.sqlite, checkpointIntervalMs: 0 } } });
  actors = await createActors(app);
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => vi.useRealTimers());

interface QueueItem {
  reason: 'due' | 'new';
  flashcard: { id: string };
}

async function queue(learner: Learner, query = 'module=networking&limit=5&newLimit=5'): Promise<{ reason: string; id: string }[]> {
  const response = await app.inject({ url: `/v1/me/study?${query}`, headers: learner.headers });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json().items as QueueItem[]).map((item) => ({ reason: item.reason, id: item.flashcard.id }));
}

async function record(learner: Learner, flashcardId: string, overrides: Record<string, unknown> = {}) {
  const response = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: answer(flashcardId, overrides) });
  expect(response.statusCode, response.body).toBe(201);
}

const newLearner = () => createLearner(app, actors.integration, `study-cache-${randomUUID()}`);

describe('study queue cache', () => {
  it("follows the learner's own answers at once", async () => {
    const learner = await newLearner();
    const [first, second] = actors.deck;
    expect(await queue(learner)).toEqual(actors.deck.slice(0, 5).map((id) => ({ reason: 'new', id })));
    await record(learner, first!, { rating: 1 });
    const after = await queue(learner);
    expect(after.map((item) => item.id)).not.toContain(first);
    expect(after[0]).toEqual({ reason: 'new', id: second });
  });

  it('offers a card once its due time passes, with no write in between', async () => {
    const learner = await newLearner();
    const [card] = actors.deck;
    await record(learner, card!, { rating: 3 });
    const before = await queue(learner, 'module=networking&limit=5&newLimit=0');
    expect(before).toEqual([]);
    const state = (await app.inject({ url: `/v1/me/cards?module=networking`, headers: learner.headers })).json().items[0];
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(Date.parse(state.due) + 1000));
    expect(await queue(learner, 'module=networking&limit=5&newLimit=0')).toEqual([{ reason: 'due', id: card }]);
  });

  it("never serves one learner's queue to another asking the same thing", async () => {
    const first = await newLearner();
    const second = await newLearner();
    for (const id of actors.deck.slice(0, 3)) await record(first, id, { rating: 1, answeredAt: new Date(Date.now() - 86_400_000).toISOString() });
    const firstQueue = await queue(first);
    expect(firstQueue.slice(0, 3).every((item) => item.reason === 'due')).toBe(true);
    expect(await queue(second)).toEqual(actors.deck.slice(0, 5).map((id) => ({ reason: 'new', id })));
    // And back: the second learner's entry does not replace the first's.
    expect(await queue(first)).toEqual(firstQueue);
  });

  it('drops cards and modules that content changes take away', async () => {
    const learner = await newLearner();
    const removed = actors.deck[0]!;
    await record(learner, removed, { rating: 1, answeredAt: new Date(Date.now() - 86_400_000).toISOString() });
    expect((await queue(learner))[0]).toEqual({ reason: 'due', id: removed });
    expect((await queue(learner, 'limit=5&newLimit=5'))[0]).toEqual({ reason: 'due', id: removed });

    const archived = await app.inject({ method: 'DELETE', url: '/v1/admin/modules/networking', headers: actors.admin });
    expect(archived.statusCode).toBe(200);
    expect(await queue(learner, 'limit=5&newLimit=5')).toEqual([]);
    const restored = await app.inject({ method: 'POST', url: '/v1/admin/modules/networking/restore', headers: actors.admin });
    expect(restored.statusCode).toBe(200);
    expect((await queue(learner, 'limit=5&newLimit=5'))[0]).toEqual({ reason: 'due', id: removed });

    // A re-import without the first flashcard archives it: it is neither due nor new any more, and the next card
    // due takes its place in a queue of one.
    await record(learner, actors.deck[1]!, { rating: 1, answeredAt: new Date(Date.now() - 3_600_000).toISOString() });
    expect(await queue(learner, 'limit=1')).toEqual([{ reason: 'due', id: removed }]);
    const source = seedSource();
    const firstCard = /\n### [^\n]*\n[\s\S]*?(?=\n### )/.exec(source.slice(source.indexOf('## Flashcards')));
    expect(firstCard).not.toBeNull();
    const imported = await app.content.importModule(source.replace(firstCard![0], ''), 'markdown', { importedBy: 'test' });
    expect(imported.changes.flashcards.removed).toBe(1);
    expect(await queue(learner, 'limit=1')).toEqual([{ reason: 'due', id: actors.deck[1] }]);
    const after = await queue(learner, 'limit=5&newLimit=5');
    expect(after).toEqual([{ reason: 'due', id: actors.deck[1] }, ...actors.deck.slice(2).map((id) => ({ reason: 'new', id }))]);
    // Imported back, it returns with its id and the learner's state.
    await app.content.importModule(source, 'markdown', { importedBy: 'test' });
    expect((await queue(learner, 'limit=5&newLimit=5'))[0]).toEqual({ reason: 'due', id: removed });
  });

  it("sees another process's commit on the next request", async () => {
    const learner = await newLearner();
    const card = actors.deck[1]!;
    await record(learner, card, { rating: 1, answeredAt: new Date(Date.now() - 86_400_000).toISOString() });
    expect((await queue(learner))[0]).toEqual({ reason: 'due', id: card });
    const other = new Database(databasePath);
    try {
      other.pragma('busy_timeout = 5000');
      const future = new Date(Date.now() + 30 * 86_400_000).toISOString();
      const changed = other.prepare('UPDATE card_states SET due = ? WHERE user_id = ? AND flashcard_id = ?').run(future, learner.userId, card);
      expect(changed.changes).toBe(1);
    } finally {
      other.close();
    }
    expect((await queue(learner)).map((item) => item.id)).not.toContain(card);
  });
});

describe('history page cache', () => {
  const history = async (learner: Learner, query = 'limit=50') => {
    const response = await app.inject({ url: `/v1/me/answers?${query}`, headers: learner.headers });
    expect(response.statusCode, response.body).toBe(200);
    // Cached in the server for this learner only, and never by anything between.
    expect(response.headers['cache-control']).toBe('no-store');
    return (response.json().items as { clientAnswerId: string }[]).map((item) => item.clientAnswerId);
  };

  it("shows the learner's new answer at once, and never another learner's page", async () => {
    const first = await newLearner();
    const second = await newLearner();
    const ids = [randomUUID(), randomUUID()];
    await record(first, actors.deck[0]!, { clientAnswerId: ids[0], answeredAt: new Date(Date.now() - 60_000).toISOString() });
    expect(await history(first)).toEqual([ids[0]]);
    expect(await history(second)).toEqual([]);
    await record(first, actors.deck[1]!, { clientAnswerId: ids[1] });
    expect(await history(first)).toEqual([ids[1], ids[0]]);
    expect(await history(first, 'limit=50&module=networking')).toEqual([ids[1], ids[0]]);
    expect(await history(second)).toEqual([]);
  });

  it("sees another process's commit on the next request", async () => {
    const learner = await newLearner();
    const kept = randomUUID();
    const erased = randomUUID();
    await record(learner, actors.deck[0]!, { clientAnswerId: kept, answeredAt: new Date(Date.now() - 60_000).toISOString() });
    await record(learner, actors.deck[1]!, { clientAnswerId: erased });
    expect(await history(learner)).toEqual([erased, kept]);
    const other = new Database(databasePath);
    try {
      other.pragma('busy_timeout = 5000');
      expect(other.prepare('DELETE FROM answers WHERE user_id = ? AND client_answer_id = ?').run(learner.userId, erased).changes).toBe(1);
    } finally {
      other.close();
    }
    expect(await history(learner)).toEqual([kept]);
  });
});

describe('learner rows', () => {
  it("follow this process's rename and erasure and another process's rename at once", async () => {
    const learner = await newLearner();
    const me = () => app.inject({ url: `/v1/users/${learner.userId}`, headers: actors.integration });
    expect((await me()).json().displayName ?? null).toBeNull();
    const renamed = await app.inject({ method: 'PATCH', url: `/v1/users/${learner.userId}`, headers: actors.integration, payload: { displayName: 'Ada' } });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect((await me()).json().displayName).toBe('Ada');
    const other = new Database(databasePath);
    try {
      other.pragma('busy_timeout = 5000');
      expect(other.prepare('UPDATE users SET display_name = ? WHERE id = ?').run('Grace', learner.userId).changes).toBe(1);
    } finally {
      other.close();
    }
    expect((await me()).json().displayName).toBe('Grace');
    expect((await app.inject({ method: 'DELETE', url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(204);
    expect((await app.inject({ url: `/v1/users/${learner.userId}`, headers: actors.integration })).statusCode).toBe(404);
  });
});
