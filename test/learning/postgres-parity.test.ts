import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { createAuthRepository } from '../../src/auth/repository.js';
import { postgresAuthRepository } from '../../src/auth/repository-postgres.js';
import { createAuthService } from '../../src/auth/service.js';
import { createChangesRepository } from '../../src/changes/repository.js';
import { postgresChangesRepository } from '../../src/changes/repository-postgres.js';
import { createChangesService } from '../../src/changes/service.js';
import { testConfig } from '../../src/config.js';
import { createSourceReader } from '../../src/content/module-source/source-reader.js';
import { createContentRepository } from '../../src/content/repository.js';
import { postgresContentRepository } from '../../src/content/repository-postgres.js';
import { createContentService } from '../../src/content/service.js';
import { includingArchived } from '../../src/content/visibility.js';
import { openDatabase } from '../../src/db/client.js';
import { openPostgresStore, sqliteStore, type PostgresStore, type Store } from '../../src/db/store.js';
import type { UserRow } from '../../src/db/schema.js';
import { presentOutcome } from '../../src/learning/answers-service.js';
import { createScheduler, type StoredCard } from '../../src/learning/scheduler.js';
import { createAnswersRepository } from '../../src/learning/answers-repository.js';
import { postgresAnswersRepository } from '../../src/learning/answers-repository-postgres.js';
import { createLearningServices, type LearningRepositories } from '../../src/learning/services.js';
import { createStatsRepository } from '../../src/learning/stats-repository.js';
import { postgresStatsRepository } from '../../src/learning/stats-repository-postgres.js';
import { createUsersRepository } from '../../src/learning/users-repository.js';
import { postgresUsersRepository } from '../../src/learning/users-repository-postgres.js';
import { createSearchRepository } from '../../src/search/repository.js';
import { postgresSearchRepository } from '../../src/search/repository-postgres.js';
import { createSearchService } from '../../src/search/service.js';
import { seedSource } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';
import { useTestDatabase } from '../helpers/postgres-server.js';

// Ids are random in production; here both engines get the same ids in the same order, so that everything that
// shows or orders by an id (history ties, cursors, exports) can be compared as it is.
const ids = vi.hoisted(() => ({ next: 0 }));
vi.mock('../../src/ids.js', () => ({ newId: (prefix: string) => `${prefix}_${String(ids.next++).padStart(20, '0')}` }));

const database = useTestDatabase();
const config = { ...testConfig(), maxAnswersPerCard: 45 };
const snapshotEvery = 16;
const start = Date.parse('2025-03-01T08:00:00.000Z');
const dayMs = 24 * 60 * 60 * 1000;

/** The whole service set over one store, wired as src/services.ts and src/learning/services.ts wire it. */
function buildServices(store: Store) {
  const pg = store.engine === 'postgres' ? store : undefined;
  const sqlite = store.engine === 'sqlite' ? store.db : undefined;
  const auth = createAuthService(pg ? postgresAuthRepository(pg) : createAuthRepository(sqlite!));
  const sourceReader = createSourceReader({ timeoutMs: config.importParseTimeoutMs, onInternalError: () => {} });
  const versionRenderer = createSourceReader({ timeoutMs: config.importParseTimeoutMs, onInternalError: () => {} });
  const content = createContentService(pg ? postgresContentRepository(pg) : createContentRepository(sqlite!), {
    cacheEntries: config.contentCacheEntries,
    cacheBytes: config.contentCacheBytes,
    sourceReader,
    versionRenderer,
  });
  const changes = createChangesService(pg ? postgresChangesRepository(pg) : createChangesRepository(sqlite!));
  const search = createSearchService(pg ? postgresSearchRepository(pg) : createSearchRepository(sqlite!), (moduleId) => content.sectionsOfWork(moduleId));
  content.addListener(changes.listener);
  content.addListener(search.listener);
  const repositories: LearningRepositories = pg
    ? { users: postgresUsersRepository(pg), answers: postgresAnswersRepository(pg), stats: postgresStatsRepository(pg) }
    : { users: createUsersRepository(sqlite!), answers: createAnswersRepository(sqlite!), stats: createStatsRepository(sqlite!) };
  const learning = createLearningServices(repositories, content, changes.contentStampWork, auth, config);
  return {
    auth,
    content,
    changes,
    search,
    learning,
    repositories,
    close: async () => {
      await Promise.all([sourceReader.close(), versionRenderer.close()]);
      await store.close();
    },
  };
}

type World = ReturnType<typeof buildServices>;

const openSqlite = () => sqliteStore(openDatabase({ path: ':memory:', synchronous: 'NORMAL', busyTimeoutMs: 1000 }));
const openPostgres = () => openPostgresStore({ url: database.url, poolMax: 4, statementTimeoutMs: 30_000, connectTimeoutMs: 5000 }, () => {});

/** A v4-shaped UUID numbered `n` (answer ids must be UUIDs). */
const uuid = (n: number, prefix = 'abcd') => `${prefix}0000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** A result or the error it failed with, so failures are compared like results. */
async function attempt<T>(run: () => Promise<T>): Promise<T | { error: string; message: string }> {
  try {
    return await run();
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    return { error: code ?? 'unexpected', message: message ?? String(error) };
  }
}

/**
 * The same story on either engine: content imported and archived, learners created, answers recorded in order,
 * late, duplicated, conflicting, batched and beyond the per-card limit, then every read the learning services offer
 * and an erasure. Returns what each step answered, by label.
 */
async function scenario(world: World): Promise<Map<string, unknown>> {
  ids.next = 0;
  vi.setSystemTime(start);
  const seen = new Map<string, unknown>();
  const note = (label: string, value: unknown) => {
    expect(seen.has(label), label).toBe(false);
    seen.set(label, value);
  };
  const tick = (ms = 1000) => vi.setSystemTime(Date.now() + ms);
  const { auth, content, learning, repositories } = world;

  note('import networking', await content.importModule(seedSource(), 'markdown', { importedBy: 'test' }));
  note('import algebra', await content.importModule(JSON.stringify(generatedModule('algebra', 8)), 'json'));
  const adminKey = await auth.createKey({ role: 'admin', name: 'admin' }, null);
  const admin: Principal = { keyId: adminKey.id, name: 'admin', role: 'admin' };
  const integrationKey = await auth.createKey({ role: 'integration', name: 'lms' }, admin);
  const integration: Principal = { keyId: integrationKey.id, name: 'lms', role: 'integration' };
  const networking = (await content.getModuleContent('networking')).flashcards.map((card) => card.id);
  const algebra = (await content.getModuleContent('algebra')).flashcards.map((card) => card.id);
  const moduleIds = new Map([
    ['networking', (await content.getModule('networking')).id],
    ['algebra', (await content.getModule('algebra')).id],
  ]);

  tick();
  const ada = await learning.users.createUser(integration, { externalId: 'ada', displayName: 'Ada' });
  const bob = await learning.users.createUser(integration, { externalId: 'bob' });
  const cy = await learning.users.createUser(admin, { externalId: 'ada' });
  note('create users', [ada, bob, cy]);
  note('create again', await learning.users.createUser(integration, { externalId: 'ada' }));
  note('find users (integration)', await learning.users.findUsers(integration, 'ada'));
  note('find users (admin)', await learning.users.findUsers(admin, 'ada'));
  note('other owner', await attempt(() => learning.users.getUser(integration, cy.user.id)));
  const adaKey = await learning.users.issueLearnerKey(integration, ada.user.id, 'phone');
  note('learner key', { id: adaKey.id, name: adaKey.name, role: adaKey.role, userId: adaKey.userId, createdAt: adaKey.createdAt });

  const user = (id: string): Promise<UserRow> => learning.users.accessibleUser(admin, id);
  let answerNumber = 0;
  const answer = (flashcardId: string, answeredAt: number, overrides: Record<string, unknown> = {}) => ({
    clientAnswerId: uuid(++answerNumber),
    flashcardId,
    rating: (answerNumber % 4) + 1,
    answeredAt: new Date(answeredAt).toISOString(),
    ...overrides,
  });
  const record = async (label: string, userId: string, items: unknown[]) => {
    tick();
    const outcomes = await attempt(async () => learning.answers.recordBatch(await user(userId), items));
    note(label, Array.isArray(outcomes) ? outcomes.map((outcome) => presentOutcome(outcome)) : outcomes);
  };

  // In order, then one at a time.
  const inOrder = networking.map((card, index) => answer(card, start - 10 * dayMs + index * 60_000));
  await record('in order', ada.user.id, inOrder);
  tick();
  note('one', await attempt(async () => learning.answers.recordOne(await user(ada.user.id), answer(networking[0]!, start - 9 * dayMs, { rating: 3 }))));
  note('one again (duplicate)', await attempt(async () => learning.answers.recordOne(await user(ada.user.id), { ...inOrder[1]!, clientAnswerId: inOrder[1]!.clientAnswerId.toUpperCase() })));
  note('one conflicting', await attempt(async () => learning.answers.recordOne(await user(ada.user.id), { ...inOrder[2]!, rating: inOrder[2]!.rating === 4 ? 1 : 4 })));
  note('one invalid', await attempt(async () => learning.answers.recordOne(await user(ada.user.id), { flashcardId: networking[0] })));

  // A long history on one card (snapshots at every 16th answer), in chunks, then late answers between them.
  const long = Array.from({ length: 40 }, (_, index) => answer(algebra[0]!, start - 50 * dayMs + index * dayMs));
  for (let index = 0; index < long.length; index += 10) await record(`long ${index}`, ada.user.id, long.slice(index, index + 10));
  await record('late', ada.user.id, [
    answer(algebra[0]!, start - 50 * dayMs + 20.5 * dayMs),
    answer(algebra[0]!, start - 60 * dayMs),
    answer(networking[3]!, start - 20 * dayMs),
    answer(algebra[1]!, start - 30 * dayMs),
  ]);
  // Ties on answeredAt order by clientAnswerId; ties in history order by id.
  const tieAt = start - 5 * dayMs;
  await record('ties', ada.user.id, [
    answer(algebra[2]!, tieAt, { clientAnswerId: uuid(900) }),
    answer(algebra[2]!, tieAt, { clientAnswerId: uuid(899) }),
    answer(algebra[3]!, tieAt),
  ]);
  const mixedBase = answer(algebra[4]!, start - 2 * dayMs, { response: 'x² + ü', durationMs: 1234 });
  await record('mixed batch', ada.user.id, [
    mixedBase,
    { ...mixedBase },
    { ...mixedBase, rating: 1 },
    inOrder[0],
    { ...inOrder[3]!, durationMs: 5 },
    answer('fc_unknown', start - dayMs),
    answer(algebra[5]!, start + 60 * 60_000),
    answer(algebra[5]!, start + 60_000),
    { clientAnswerId: 'not-a-uuid', flashcardId: algebra[5], rating: 9 },
    null,
    { clientAnswerId: uuid(++answerNumber), flashcardId: algebra[6], correct: false, answeredAt: new Date(start - dayMs).toISOString() },
    { clientAnswerId: uuid(++answerNumber), flashcardId: algebra[6], correct: true, answeredAt: new Date(start - dayMs + 1).toISOString() },
    answer(algebra[7]!, start - 3 * dayMs),
  ]);
  // Up to the per-card limit (45): 42 stored on the card so far, 3 more fit.
  await record(
    'limit',
    ada.user.id,
    Array.from({ length: 6 }, (_, index) => answer(algebra[0]!, start - dayMs + index * 1000)),
  );
  await record('bob', bob.user.id, [answer(networking[0]!, start - 3 * dayMs), answer(networking[1]!, start - 2 * dayMs, { rating: 1 })]);
  await record('cy', cy.user.id, [answer(algebra[0]!, start - dayMs)]);
  // Easy, again and again, months apart: a mastered card (in review, stability of three weeks or more).
  await record('mastery', cy.user.id, [300, 250, 150, 20].map((days) => answer(networking[2]!, start - days * dayMs, { rating: 4 })));

  // Two cards archived by a re-import; then reads at a few clocks.
  tick();
  note('reimport algebra', await content.importModule(JSON.stringify(generatedModule('algebra', 6)), 'json'));
  await record('archived card', ada.user.id, [answer(algebra[7]!, start - dayMs)]);

  async function reads(at: string, who: { id: string; name: string }) {
    const learner = await user(who.id);
    const label = (what: string) => `${who.name} @${at}: ${what}`;
    const pages = async <T extends { nextCursor: string | null }>(what: string, page: (cursor: string | undefined) => Promise<T>) => {
      const all: unknown[] = [];
      let cursor: string | undefined;
      do {
        const current = await attempt(() => page(cursor));
        all.push(current);
        cursor = 'nextCursor' in current ? (current.nextCursor ?? undefined) : undefined;
      } while (cursor !== undefined && all.length < 50);
      note(label(what), all);
    };
    await pages('history', (cursor) => learning.answers.history(learner, { limit: 7, cursor }));
    await pages('history networking', (cursor) => learning.answers.history(learner, { limit: 3, module: 'networking', cursor }));
    await pages('history card', (cursor) => learning.answers.history(learner, { limit: 10, flashcardId: algebra[0], cursor }));
    note(
      label('history window'),
      await learning.answers.history(learner, { limit: 50, since: new Date(start - 30 * dayMs).toISOString(), until: new Date(start - 2 * dayMs).toISOString() }),
    );
    note(label('history unknown module'), await attempt(() => learning.answers.history(learner, { limit: 5, module: 'nope' })));
    await pages('cards', (cursor) => learning.study.cards(learner, { limit: 4, cursor }));
    await pages('cards due', (cursor) => learning.study.cards(learner, { limit: 4, due: true, cursor }));
    await pages('cards algebra', (cursor) => learning.study.cards(learner, { limit: 3, module: 'algebra', cursor }));
    note(label('study'), await learning.study.study(learner, { limit: 10, newLimit: 5 }));
    note(label('study small'), await learning.study.study(learner, { limit: 3, newLimit: 1 }));
    note(label('study networking'), await attempt(() => learning.study.study(learner, { limit: 10, newLimit: 10, module: 'networking' })));
    note(label('progress'), await learning.study.progress(learner, {}));
    note(label('progress algebra'), await attempt(() => learning.study.progress(learner, { module: 'algebra' })));
    note(label('progress algebra (admin)'), await attempt(() => learning.study.progress(learner, { module: 'algebra' }, includingArchived)));
    note(label('states of cards'), await learning.study.statesOfCards(learner, [...networking, algebra[0]!, 'fc_unknown', networking[0]!]));
    note(label('export'), await attempt(() => learning.users.exportUser(admin, who.id)));
    const raw = (name: string, work: () => Promise<unknown>) => attempt(work).then((value) => note(label(`repository ${name}`), value));
    const { answers, stats } = repositories;
    await raw('snapshots', () => answers.run(answers.snapshotsOf(who.id, algebra[0]!)));
    await raw('earliest due', () => answers.run(answers.earliestDue(who.id, 20)));
    await raw('new cards', () => answers.run(answers.newCards(who.id, 20)));
    await raw('find answers', () => answers.run(answers.findAnswers(who.id, [uuid(1), uuid(2), uuid(3), uuid(899), uuid(900), uuid(5000)])));
    await raw('find states', () => answers.run(answers.findStates(who.id, [...networking, ...algebra])));
    await raw('answer stats', () => stats.run(stats.answerStats(who.id)));
    await raw('state stats', () => stats.run(stats.stateStats(who.id, new Date().toISOString(), 21)));
    for (const [slug, moduleId] of moduleIds) await raw(`answer days ${slug}`, () => stats.run(stats.answerDays(who.id, moduleId, 400)));
    await raw('answer stats algebra', () => stats.run(stats.answerStats(who.id, moduleIds.get('algebra'))));
    await raw('state stats networking', () => stats.run(stats.stateStats(who.id, new Date().toISOString(), 21, moduleIds.get('networking'))));
  }

  const learners = [
    { id: ada.user.id, name: 'ada' },
    { id: bob.user.id, name: 'bob' },
    { id: cy.user.id, name: 'cy' },
  ];
  for (const who of learners) await reads('start', who);
  vi.setSystemTime(start + 3 * dayMs);
  await reads('3 days on', learners[0]!);
  vi.setSystemTime(start + 400 * dayMs);
  await reads('400 days on', learners[0]!);

  // A whole module archived: its answers stay in history, it leaves the queue and unfiltered progress.
  note('archive algebra', await content.archiveModule('algebra'));
  await record('archived module', ada.user.id, [answer(algebra[1]!, Date.now() - dayMs)]);
  await reads('algebra archived', learners[0]!);
  note('restore algebra', await content.restoreModule('algebra'));

  tick();
  note('rename', await learning.users.renameUser(integration, ada.user.id, 'Ada L.'));
  note('renamed', await learning.users.getUser(integration, ada.user.id));

  // Erasure: the learner and everything of theirs; the others keep theirs.
  const bobRow = await user(bob.user.id);
  note('erase bob', await attempt(() => learning.users.deleteUser(integration, bob.user.id)));
  note('erased bob', await attempt(() => learning.users.getUser(admin, bob.user.id)));
  note('erase bob again', await attempt(() => learning.users.deleteUser(integration, bob.user.id)));
  note('answer for erased bob', await attempt(() => learning.answers.recordOne(bobRow, answer(networking[0]!, Date.now() - 1000))));
  note('history of erased bob', await learning.answers.history(bobRow, { limit: 10 }));
  note('states of erased bob', await learning.study.statesOfCards(bobRow, networking));
  note('erased bob repository', await repositories.answers.run(repositories.answers.allAnswers(bob.user.id)));
  note('erase cy by another owner', await attempt(() => learning.users.deleteUser(integration, cy.user.id)));
  await reads('after erasure', learners[0]!);
  return seen;
}

describe('learning on PostgreSQL and SQLite', () => {
  let sqliteResults: Map<string, unknown>;
  let postgresResults: Map<string, unknown>;

  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const sqlite = buildServices(openSqlite());
      try {
        sqliteResults = await scenario(sqlite);
      } finally {
        await sqlite.close();
      }
      const postgres = buildServices(await openPostgres());
      try {
        postgresResults = await scenario(postgres);
      } finally {
        await postgres.close();
      }
    } finally {
      vi.useRealTimers();
    }
  }, 120_000);

  const compare = (matches: (label: string) => boolean) => {
    const labels = [...sqliteResults.keys()].filter(matches);
    expect(labels.length).toBeGreaterThan(0);
    for (const label of labels) expect(postgresResults.get(label), label).toEqual(sqliteResults.get(label));
  };

  it('answers the same steps, every one alike', () => {
    expect([...postgresResults.keys()]).toEqual([...sqliteResults.keys()]);
    compare(() => true);
  });

  it('records answers alike: in order, late, duplicates, conflicts, invalid items, batches, the card limit', () => {
    compare((label) => !label.includes(': ') && !/erase|rename|import|archive|restore/.test(label));
    // The story exercises what it claims to.
    const statuses = [...sqliteResults.values()].flatMap((value) => (Array.isArray(value) ? value.map((item: { status?: string }) => item?.status) : []));
    for (const status of ['created', 'duplicate', 'conflict', 'invalid']) expect(statuses).toContain(status);
    expect(JSON.stringify(sqliteResults.get('limit'))).toContain('MNEMO_LEARNING_CARD_ANSWER_LIMIT');
  });

  it('serves the same history pages', () => compare((label) => label.includes(': history')));
  it('serves the same card states', () => compare((label) => label.includes(': cards') || label.includes(': states of cards')));
  it('serves the same study queue', () => compare((label) => label.includes(': study')));
  it('reports the same progress', () => {
    compare((label) => label.includes(': progress'));
    expect(JSON.stringify(sqliteResults.get('cy @start: progress'))).toContain('"mastered":1');
  });
  it('exports the same learner', () => compare((label) => label.includes(': export')));
  it('returns the same rows from the repositories', () => compare((label) => label.includes(': repository')));
  it('manages learners alike: creation, lookup, rename, erasure', () => compare((label) => /users|user|key|rename|erase|erased|owner|again/.test(label)));
  it('imports and archives content alike', () => compare((label) => /import|archive|restore/.test(label) && !label.includes(': ')));
});

describe('one learner on two PostgreSQL instances', () => {
  let first: World;
  let second: World;
  let store: PostgresStore;
  const scheduler = createScheduler(config.fsrs);

  beforeAll(async () => {
    first = buildServices(await openPostgres());
    second = buildServices(await openPostgres());
    store = await openPostgres();
    await first.content.importModule(seedSource(), 'markdown', { importedBy: 'test' });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([first?.close(), second?.close(), store?.close()]);
  });

  async function learner(world: World, externalId: string): Promise<UserRow> {
    const admin: Principal = { keyId: 'key_admin', name: 'admin', role: 'admin' };
    const { user } = await world.learning.users.createUser(admin, { externalId });
    return world.learning.users.accessibleUser(admin, user.id);
  }

  const deck = async () => (await first.content.getModuleContent('networking')).flashcards.map((card) => card.id);
  const rowsPerClientId = async (userId: string) =>
    (
      await store.db.execute<{ client_answer_id: string; n: string }>(
        sql`SELECT client_answer_id, count(*) AS n FROM answers WHERE user_id = ${userId} GROUP BY client_answer_id`,
      )
    ).rows;

  /** A deterministic shuffle (the same on every run). */
  function shuffled<T>(items: T[], seed: number): T[] {
    const copy = [...items];
    let state = seed;
    for (let index = copy.length - 1; index > 0; index--) {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      const other = state % (index + 1);
      [copy[index], copy[other]] = [copy[other]!, copy[index]!];
    }
    return copy;
  }

  it('stores a batch sent by both instances at once exactly once, as created or duplicate', async () => {
    const cards = await deck();
    const user = await learner(first, 'twice');
    const now = Date.now();
    const batch = Array.from({ length: 30 }, (_, index) => ({
      clientAnswerId: uuid(index + 1, 'aaaa'),
      flashcardId: cards[index % cards.length]!,
      rating: (index % 4) + 1,
      answeredAt: new Date(now - (30 - index) * dayMs - (index % 3) * 3_600_000).toISOString(),
    }));
    const calls = await Promise.allSettled([first, second, first, second, first, second].map((world) => world.learning.answers.recordBatch(user, shuffled(batch, 7))));
    for (const call of calls) expect(call.status, String((call as PromiseRejectedResult).reason)).toBe('fulfilled');
    const outcomes = calls.flatMap((call) => (call as PromiseFulfilledResult<Awaited<ReturnType<World['learning']['answers']['recordBatch']>>>).value);
    expect(new Set(outcomes.map((outcome) => outcome.status))).toEqual(new Set(['created', 'duplicate']));
    for (const item of batch) {
      expect(outcomes.filter((outcome) => outcome.clientAnswerId === item.clientAnswerId && outcome.status === 'created')).toHaveLength(1);
    }
    const rows = await rowsPerClientId(user.id);
    expect(rows).toHaveLength(batch.length);
    expect(rows.every((row) => Number(row.n) === 1)).toBe(true);
  });

  it('answers concurrent retries of one answer 201 once and 200 otherwise', async () => {
    const [card] = await deck();
    const user = await learner(second, 'retries');
    const item = { clientAnswerId: uuid(1, 'bbbb'), flashcardId: card!, rating: 3, answeredAt: new Date(Date.now() - 60_000).toISOString() };
    const results = await Promise.all([first, second, first, second, first, second].map((world) => world.learning.answers.recordOne(user, item)));
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(new Set(results.map((result) => result.answer.id)).size).toBe(1);
    expect(await rowsPerClientId(user.id)).toEqual([{ client_answer_id: item.clientAnswerId, n: '1' }]);
  });

  it('creates one learner when both instances create the same one at once', async () => {
    const integration: Principal = { keyId: 'key_lms', name: 'lms', role: 'integration' };
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all([first, second, first, second].map((world) => world.learning.users.createUser(integration, { externalId: `same-${round}` })));
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.user.id)).size).toBe(1);
      expect(await first.learning.users.getUser(integration, results[0]!.user.id)).toEqual(results[0]!.user);
    }
  });

  it('erases a learner while both instances write for it: each write lands before the erasure or is refused as 404', async () => {
    const [card] = await deck();
    const admin: Principal = { keyId: 'key_admin', name: 'admin', role: 'admin' };
    for (let round = 0; round < 5; round++) {
      const user = await learner(first, `erased-${round}`);
      const writes = [first, second, first, second].map((world, index) =>
        index % 2
          ? world.learning.users.issueLearnerKey(admin, user.id, `key-${index}`)
          : world.learning.answers.recordOne(user, { clientAnswerId: uuid(round * 10 + index + 1, 'dddd'), flashcardId: card!, rating: 3, answeredAt: new Date(Date.now() - 60_000).toISOString() }),
      );
      const erasure = second.learning.users.deleteUser(admin, user.id);
      for (const result of await Promise.allSettled([...writes, erasure])) {
        if (result.status === 'rejected') expect((result.reason as { code?: string }).code, String(result.reason)).toBe('MNEMO_LEARNING_USER_NOT_FOUND');
      }
      const left = await store.db.execute<{ n: string }>(
        sql`SELECT (SELECT count(*) FROM answers WHERE user_id = ${user.id}) + (SELECT count(*) FROM api_keys WHERE user_id = ${user.id}) + (SELECT count(*) FROM card_states WHERE user_id = ${user.id}) AS n`,
      );
      expect(left.rows[0]!.n).toBe('0');
    }
  });

  it('keeps card states equal to a sequential replay under interleaved late answers', async () => {
    const cards = await deck();
    const user = await learner(first, 'interleaved');
    const now = Date.now();
    // 80 answers over 5 cards (16 each: a snapshot per card), arriving in an order unrelated to answeredAt.
    const answers = Array.from({ length: 80 }, (_, index) => ({
      clientAnswerId: uuid(index + 1, 'cccc'),
      flashcardId: cards[index % cards.length]!,
      rating: ((index * 7) % 4) + 1,
      answeredAt: new Date(now - 90 * dayMs + index * dayMs).toISOString(),
    }));
    const arrival = shuffled(answers, 42);
    const chunks = Array.from({ length: 16 }, (_, index) => arrival.slice(index * 5, index * 5 + 5));
    const calls = await Promise.allSettled(chunks.map((chunk, index) => (index % 2 ? second : first).learning.answers.recordBatch(user, chunk)));
    for (const call of calls) expect(call.status, String((call as PromiseRejectedResult).reason)).toBe('fulfilled');
    for (const call of calls) {
      for (const outcome of (call as PromiseFulfilledResult<Awaited<ReturnType<World['learning']['answers']['recordBatch']>>>).value) expect(outcome.status).toBe('created');
    }

    // The same answers recorded one at a time, in answeredAt order, for another learner.
    const sequential = await learner(first, 'sequential');
    for (const item of answers) await first.learning.answers.recordOne(sequential, { ...item, clientAnswerId: item.clientAnswerId });

    const { answers: repository } = first.repositories;
    const strip = ({ userId: _userId, ...rest }: { userId: string }) => rest;
    const states = await repository.run(repository.allStates(user.id));
    const sequentialStates = await repository.run(repository.allStates(sequential.id));
    expect(states).toHaveLength(cards.length);
    expect(states.map(strip)).toEqual(sequentialStates.map(strip));
    for (const card of cards) {
      const history = await repository.run(repository.answersOfCard(user.id, card));
      const replay = scheduler.run(null, history, snapshotEvery);
      const stored = states.find((state) => state.flashcardId === card)!;
      const storedCard: StoredCard = {
        state: stored.state,
        due: stored.due,
        stability: stored.stability,
        difficulty: stored.difficulty,
        elapsedDays: stored.elapsedDays,
        scheduledDays: stored.scheduledDays,
        learningSteps: stored.learningSteps,
        reps: stored.reps,
        lapses: stored.lapses,
        lastReview: stored.lastReview,
        lastAnsweredAt: stored.lastAnsweredAt,
        lastClientAnswerId: stored.lastClientAnswerId,
      };
      expect(storedCard).toEqual(replay.state);
      expect(await repository.run(repository.snapshotsOf(user.id, card))).toEqual(replay.snapshots);
    }
  });
});
