import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleInput } from '../../src/content/module-source/module-input.js';
import { generatedModule } from '../helpers/modules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres-server.js';
import {
  AnswerLedger,
  createActors,
  deckOf,
  firstFew,
  holdRequest,
  http,
  killChildren,
  launchServer,
  newAnswer,
  serverEnv,
  verifyPostgresDatabase,
  waitFor,
  wire,
  type Actors,
  type AnswerRequest,
  type LearnerActor,
  type LedgerView,
  type RunningServer,
  type SentAnswer,
  type Verification,
} from '../helpers/reliability.js';
import { ensureBuilt } from '../helpers/server-process.js';

/*
 * Two real server processes (`node dist/main.js`) on one PostgreSQL database, as a deployment runs several
 * instances behind a load balancer: retries of one answer through both, one learner answering through both,
 * imports through one read through the other, the change feed under writers on both, and kill -9 of one while the
 * other keeps serving. PostgreSQL only by nature: vitest.config.ts runs this file in the postgres project alone.
 *
 * Ordering is never left to timers: a race is set up with Expect: 100-continue (both servers have routed their
 * request before either gets its body), waits are on conditions, and the only clock is the 1 s bound of property 3.
 */

let database: TestDatabase | undefined;
let env: Record<string, string>;
let a: RunningServer;
let b: RunningServer;
let actors: Actors;
/** The Networking seed's flashcard ids (A imported the seed on its first start). */
let deck: string[];
let nextLearner = 0;

/** Learners of their own for one test, so that its check of the database sees only its rows. */
function takeLearners(count: number): LearnerActor[] {
  const taken = actors.learners.slice(nextLearner, nextLearner + count);
  nextLearner += count;
  if (taken.length !== count) throw new Error(`only ${actors.learners.length} learners were created`);
  return taken;
}

beforeAll(async () => {
  ensureBuilt();
  database = await createTestDatabase();
  env = serverEnv({ url: database.url });
  // One after the other: the first seeds the empty database, the second finds it seeded.
  a = await launchServer(env);
  b = await launchServer(env);
  actors = await createActors(a.baseUrl, env, 16);
  deck = await deckOf(b.baseUrl, 'networking');
}, 60_000);

afterAll(async () => {
  killChildren();
  await database?.drop();
});

/** Asserts a verification of the database found nothing wrong (and prints what it checked). */
function expectVerified(verification: Verification, label: string): void {
  console.log(
    `[multi-instance] ${label}: ${verification.stored} answers stored (${verification.acknowledged} acknowledged), ${verification.cardStates} card states, ${verification.snapshots} snapshots checked by replay`,
  );
  expect(firstFew(verification.lost), 'acknowledged answers missing').toEqual([]);
  expect(firstFew(verification.duplicates), 'answers stored twice').toEqual([]);
  expect(firstFew(verification.phantoms), 'rows nobody sent').toEqual([]);
  expect(firstFew(verification.stateMismatches), 'card states that differ from a replay').toEqual([]);
  expect(firstFew(verification.snapshotMismatches), 'snapshots that differ from a replay').toEqual([]);
}

interface Reply {
  status: number;
  body: any;
}

const parse = (response: { status: number; body: string }): Reply => ({ status: response.status, body: response.body ? JSON.parse(response.body) : null });

/**
 * The same learner's request sent to A and to B at once: each server answers `100 Continue` once it has parsed the
 * headers and routed the request, and only when both have are the bodies sent, together.
 */
async function raceBoth(token: string, path: string, bodyForA: unknown, bodyForB: unknown): Promise<[Reply, Reply]> {
  const viaA = holdRequest(a.baseUrl, path, { token, body: bodyForA });
  const viaB = holdRequest(b.baseUrl, path, { token, body: bodyForB });
  await Promise.all([viaA.continued, viaB.continued]);
  const [fromA, fromB] = await Promise.all([viaA.finish(), viaB.finish()]);
  return [parse(fromA), parse(fromB)];
}

/** A module import through the admin API of `server`; fails the test on anything but 201/200. */
async function importVia(server: RunningServer, input: ModuleInput): Promise<{ slug: string; version: number; status: string; changes: any }> {
  const response = await http(server.baseUrl, 'POST', '/v1/admin/modules', { token: actors.adminToken, body: input });
  if (response.status !== 201 && response.status !== 200) throw new Error(`import of ${input.slug}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

interface Representation {
  status: number;
  etag: string | null;
  text: string;
}

/** A GET whose body is kept byte for byte, uncompressed (so its ETag is the one of the identity encoding). */
async function rawGet(server: RunningServer, path: string, headers: Record<string, string> = {}): Promise<Representation> {
  const response = await fetch(`${server.baseUrl}${path}`, { headers: { 'accept-encoding': 'identity', ...headers }, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, etag: response.headers.get('etag'), text: await response.text() };
}

/** The strong ETag mnemo gives a body it sends uncompressed (http/representation.ts): a hash of those bytes. */
const etagOf = (text: string) => `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;

const ms = (value: number) => Math.round(value * 10) / 10;
const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

describe('two server processes on one PostgreSQL database', () => {
  it('1. retries of one answer sent to both instances at once store one row: one 201 and one 200 (batches: one created, one duplicate), never 409 or 5xx', { timeout: 60_000 }, async () => {
    const learners = takeLearners(5);
    const singlesPerLearner = 10;
    const batchesPerLearner = 4;
    const batchSize = 8;
    const sent: SentAnswer[] = [];
    const problems: string[] = [];
    const winners = { single: { a: 0, b: 0 }, batch: { a: 0, b: 0 } };
    const statuses = new Map<string, number>();
    const countStatus = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);

    // The learners race in parallel; each learner's pairs follow one another.
    await Promise.all(
      learners.map(async (learner) => {
        for (let index = 0; index < singlesPerLearner; index++) {
          const answer = newAnswer(learner.userId, deck);
          sent.push(answer);
          const [fromA, fromB] = await raceBoth(learner.token, '/v1/me/answers', wire(answer), wire(answer));
          countStatus(`single ${fromA.status}`);
          countStatus(`single ${fromB.status}`);
          const pair = [fromA.status, fromB.status].sort().join('+');
          if (pair !== '200+201') problems.push(`single ${answer.clientAnswerId}: A ${fromA.status} ${JSON.stringify(fromA.body)}, B ${fromB.status} ${JSON.stringify(fromB.body)}`);
          else if (fromA.body.id !== fromB.body.id || fromA.body.clientAnswerId !== answer.clientAnswerId) {
            problems.push(`single ${answer.clientAnswerId}: the retry returned another answer (${fromA.body.id} vs ${fromB.body.id})`);
          } else winners.single[fromA.status === 201 ? 'a' : 'b'] += 1;
        }
        for (let index = 0; index < batchesPerLearner; index++) {
          const answers = Array.from({ length: batchSize }, () => newAnswer(learner.userId, deck));
          sent.push(...answers);
          // B gets the same answers in the opposite order, so that each instance reaches some of them first.
          const [fromA, fromB] = await raceBoth(learner.token, '/v1/me/answers/batch', { answers: answers.map(wire) }, { answers: answers.map(wire).reverse() });
          countStatus(`batch ${fromA.status}`);
          countStatus(`batch ${fromB.status}`);
          if (fromA.status !== 200 || fromB.status !== 200) {
            problems.push(`batch: A ${fromA.status} ${JSON.stringify(fromA.body).slice(0, 300)}, B ${fromB.status} ${JSON.stringify(fromB.body).slice(0, 300)}`);
            continue;
          }
          const resultsOfB = new Map((fromB.body.results as any[]).map((result) => [result.clientAnswerId, result]));
          (fromA.body.results as any[]).forEach((resultOfA, position) => {
            const answer = answers[position]!;
            const resultOfB = resultsOfB.get(answer.clientAnswerId);
            countStatus(`batch item ${resultOfA.status}`);
            countStatus(`batch item ${resultOfB?.status}`);
            const pair = [resultOfA.status, resultOfB?.status].sort().join('+');
            if (resultOfA.clientAnswerId !== answer.clientAnswerId || pair !== 'created+duplicate') {
              problems.push(`batch item ${answer.clientAnswerId}: A ${JSON.stringify(resultOfA)}, B ${JSON.stringify(resultOfB)}`);
            } else if (resultOfA.answer.id !== resultOfB.answer.id) {
              problems.push(`batch item ${answer.clientAnswerId}: the duplicate returned another answer (${resultOfA.answer.id} vs ${resultOfB.answer.id})`);
            } else winners.batch[resultOfA.status === 'created' ? 'a' : 'b'] += 1;
          });
        }
      }),
    );

    console.log(
      `[multi-instance] 1: ${learners.length * singlesPerLearner} single pairs (201 by A ${winners.single.a}, by B ${winners.single.b}), ` +
        `${learners.length * batchesPerLearner} batch pairs of ${batchSize} (created by A ${winners.batch.a}, by B ${winners.batch.b}); statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
    expect(firstFew(problems)).toEqual([]);
    const everything = new Map(sent.map((answer) => [answer.clientAnswerId, answer]));
    const ledger: LedgerView = { sent: everything, acknowledged: everything, unknown: new Map() };
    const verification = await verifyPostgresDatabase(database!.url, ledger, learners.map((learner) => learner.userId));
    expect(verification.stored).toBe(sent.length);
    expectVerified(verification, '1');
  });

  it('2. one learner answering through both instances at once, late answers included: every card state (and snapshot) equals a replay of its answers', { timeout: 60_000 }, async () => {
    const learners = takeLearners(3);
    // Few cards, so that each collects dozens of answers: snapshots (every 16th) are written, and late answers
    // replay from them.
    const cards = deck.slice(0, 3);
    const requestsPerLoop = 20;
    const ledger = new AnswerLedger();
    const latestAcknowledged = new Map<string, string>();
    const inFlight = new Map<string, { a: number; b: number }>();
    let late = 0;
    let overlapping = 0;

    const loop = async (server: RunningServer, side: 'a' | 'b', learner: LearnerActor, seed: number) => {
      for (let index = 0; index < requestsPerLoop; index++) {
        const size = (index + seed) % 3 === 0 ? 2 + ((index + seed) % 5) : 1;
        // Half answered in the past month (offline sync: mostly late), half in the last minutes (real time).
        const answers = Array.from({ length: size }, (_, k) => newAnswer(learner.userId, cards, (index + k + seed) % 2 === 0 ? 30 : 0.005));
        for (const answer of answers) {
          const latest = latestAcknowledged.get(`${learner.userId}/${answer.flashcardId}`);
          if (latest !== undefined && answer.answeredAt < latest) late += 1;
        }
        const flight = inFlight.get(learner.userId) ?? { a: 0, b: 0 };
        inFlight.set(learner.userId, flight);
        flight[side] += 1;
        if (flight[side === 'a' ? 'b' : 'a'] > 0) overlapping += 1;
        const request: AnswerRequest = { kind: size === 1 ? 'single' : 'batch', answers };
        const { outcome } = await ledger.send(server.baseUrl, learner.token, request).finally(() => (flight[side] -= 1));
        if (outcome !== 'acknowledged') continue;
        for (const answer of answers) {
          const key = `${learner.userId}/${answer.flashcardId}`;
          const latest = latestAcknowledged.get(key);
          if (latest === undefined || answer.answeredAt > latest) latestAcknowledged.set(key, answer.answeredAt);
        }
      }
    };
    const started = performance.now();
    await Promise.all(learners.flatMap((learner) => [loop(a, 'a', learner, 0), loop(b, 'b', learner, 1), loop(a, 'a', learner, 2), loop(b, 'b', learner, 3)]));
    const elapsed = performance.now() - started;

    console.log(
      `[multi-instance] 2: ${ledger.sent.size} answers in ${learners.length * 4 * requestsPerLoop} requests over ${Math.round(elapsed)} ms ` +
        `(statuses ${ledger.statusSummary()}; slowest ${ledger.maxLatencyMs} ms); ${late} sent after a later answer on their card was acknowledged; ` +
        `${overlapping} requests sent while the same learner had one in flight on the other instance`,
    );
    expect(ledger.networkErrors).toBe(0);
    expect(firstFew(ledger.unexpected)).toEqual([]);
    expect([...ledger.statuses.keys()].filter((status) => status !== 200 && status !== 201)).toEqual([]);
    expect(ledger.acknowledged.size).toBe(ledger.sent.size);
    // The load did what it is for: late answers, and one learner's writes on both instances at the same time.
    expect(late).toBeGreaterThan(0);
    expect(overlapping).toBeGreaterThan(0);
    const verification = await verifyPostgresDatabase(database!.url, ledger, learners.map((learner) => learner.userId));
    expect(verification.stored).toBe(ledger.sent.size);
    expect(verification.cardStates).toBe(learners.length * cards.length);
    expect(verification.snapshots).toBeGreaterThan(0);
    expectVerified(verification, '2');
  });

  it('3. a module imported through A is served by B at its new version within 1 s, with a new ETag; every ETag B sends is the hash of its body', { timeout: 60_000 }, async () => {
    const slug = 'multi-instance-live';
    const versions = 12;
    const source = (version: number): ModuleInput => {
      const base = generatedModule(slug, 6);
      return {
        ...base,
        summary: `Revision ${version} of a module imported through A and read through B.`,
        flashcards: base.flashcards.map((card, index) => (index === version % base.flashcards.length ? { ...card, answer: `Answer of revision ${version}.` } : card)),
      };
    };
    const modulePath = `/v1/modules/${slug}`;
    // B looks the module up before it exists, so it holds (and must drop) a cached miss.
    expect((await rawGet(b, modulePath)).status).toBe(404);

    const latencies: number[] = [];
    const anomalies: string[] = [];
    // Polls B answered with the version before (304, or 404 before the first) after A acknowledged the next one.
    let stalePolls = 0;
    /** Waits until B serves `version` (polling with the ETag it last saw, as a client revalidates); at most 1 s. */
    const seenByB = async (version: number, previous: Representation | undefined, acknowledgedAt: number): Promise<Representation> => {
      for (let polls = 1; ; polls++) {
        const response = await rawGet(b, modulePath, previous?.etag ? { 'if-none-match': previous.etag } : {});
        const waited = performance.now() - acknowledgedAt;
        if (response.status === 200) {
          const served = JSON.parse(response.text).version as number;
          if (served === version) {
            latencies.push(waited);
            return response;
          }
          // Only the version it replaces may still be served; and then as a 304, since the client sent its ETag.
          anomalies.push(`poll ${polls} after version ${version}: 200 with version ${served}, ETag ${response.etag} (held ${previous?.etag})`);
        } else if (response.status === (previous ? 304 : 404)) {
          stalePolls += 1;
        } else {
          anomalies.push(`poll ${polls} after version ${version}: ${response.status} ${response.text.slice(0, 200)}`);
        }
        if (waited > 1000) throw new Error(`B did not serve version ${version} within 1 s of A's acknowledgement (${polls} polls): ${firstFew(anomalies).join('; ')}`);
      }
    };

    let imported = await importVia(a, source(1));
    expect(imported.status).toBe('created');
    let current = await seenByB(1, undefined, performance.now());

    // Meanwhile a reader per path polls B without pause and keeps every (ETag, body) pair it gets.
    const observations: { path: string; etag: string | null; status: number; text: string }[] = [];
    let polling = true;
    const paths = [modulePath, `${modulePath}/flashcards?format=html`, '/v1/modules?limit=100'];
    const pollers = paths.map(async (path) => {
      while (polling) observations.push({ path, ...(await rawGet(b, path)) });
    });

    try {
      for (let version = 2; version <= versions; version++) {
        imported = await importVia(a, source(version));
        const acknowledgedAt = performance.now();
        expect(imported).toMatchObject({ status: 'updated', version });
        const next = await seenByB(version, current, acknowledgedAt);
        expect(next.etag).not.toBe(current.etag);
        current = next;
      }
    } finally {
      polling = false;
      await Promise.all(pollers);
    }

    // Every ETag is the hash of the very bytes it came with: no ETag ever labels two bodies, old or new.
    const bodiesByTag = new Map<string, Set<string>>();
    const mislabelled: string[] = [];
    const versionsByTag = new Map<string, Set<number>>();
    const tagsByVersion = new Map<number, Set<string>>();
    let wentBack = 0;
    let lastVersion = 0;
    for (const observation of observations) {
      if (observation.status !== 200 || observation.etag === null) {
        mislabelled.push(`${observation.path}: ${observation.status} etag ${observation.etag}`);
        continue;
      }
      if (observation.etag !== etagOf(observation.text)) mislabelled.push(`${observation.path}: ETag ${observation.etag} on a body hashing to ${etagOf(observation.text)}`);
      const tagKey = `${observation.path} ${observation.etag}`;
      bodiesByTag.set(tagKey, (bodiesByTag.get(tagKey) ?? new Set()).add(observation.text));
      if (observation.path === modulePath) {
        const version = JSON.parse(observation.text).version as number;
        versionsByTag.set(observation.etag, (versionsByTag.get(observation.etag) ?? new Set()).add(version));
        tagsByVersion.set(version, (tagsByVersion.get(version) ?? new Set()).add(observation.etag));
        if (version < lastVersion) wentBack += 1;
        lastVersion = version;
      }
    }
    const moduleObservations = observations.filter((observation) => observation.path === modulePath).length;
    console.log(
      `[multi-instance] 3: B served each new version ${ms(Math.min(...latencies))}-${ms(Math.max(...latencies))} ms after A acknowledged the import ` +
        `(median ${ms(percentile(latencies, 50))} ms, ${latencies.length} imports; ${stalePolls} polls still got the version before); ${observations.length} polls of B during the imports ` +
        `(${moduleObservations} of the module: ${tagsByVersion.size} versions, ${versionsByTag.size} ETags; ${wentBack} times its reader got an older version than in its previous poll)`,
    );
    expect(firstFew(anomalies)).toEqual([]);
    expect(firstFew(mislabelled)).toEqual([]);
    expect([...bodiesByTag.entries()].filter(([, bodies]) => bodies.size > 1).map(([tag]) => tag)).toEqual([]);
    expect([...versionsByTag.entries()].filter(([, seen]) => seen.size > 1).map(([tag, seen]) => `${tag}: versions ${[...seen].join(', ')}`)).toEqual([]);
    expect([...tagsByVersion.entries()].filter(([, tags]) => tags.size > 1).map(([version, tags]) => `version ${version}: ETags ${[...tags].join(', ')}`)).toEqual([]);
    expect(latencies).toHaveLength(versions);
    // The pollers saw the versions change under them (several versions were served while they ran).
    expect(tagsByVersion.size).toBeGreaterThan(1);
  });

  it('4. the change feed followed through B under concurrent imports, archives and restores through both instances skips nothing and repeats nothing', { timeout: 60_000 }, async () => {
    const writersCount = 4;
    const rounds = 6;
    const expectedModuleEntries = new Map<string, number>();
    const expectedCardEntries = new Map<string, number>();
    const writes = { imports: 0, archives: 0, restores: 0 };
    let writing = true;

    /** Writer `w` owns the module feed-w (so what it must add to the feed is known) and alternates instances. */
    const ownWriter = async (w: number) => {
      const slug = `feed-${w}`;
      let modules = 0;
      let cards = 0;
      for (let round = 1; round <= rounds; round++) {
        const server = (w + round) % 2 === 0 ? a : b;
        const other = server === a ? b : a;
        // Each round adds a card and rewords another, so both kinds of flashcard entries are written.
        const base = generatedModule(slug, 2 + round);
        const input: ModuleInput = {
          ...base,
          summary: `Round ${round} of writer ${w}.`,
          flashcards: base.flashcards.map((card, index) => (index === round % 2 ? { ...card, question: `${card.question} (round ${round})` } : card)),
        };
        const result = await importVia(server, input);
        expect(result.status).toBe(round === 1 ? 'created' : 'updated');
        writes.imports += 1;
        modules += 1;
        cards += result.changes.flashcards.added + result.changes.flashcards.updated + result.changes.flashcards.removed;
        if (round % 3 === 0) {
          const archived = await http(other.baseUrl, 'DELETE', `/v1/admin/modules/${slug}`, { token: actors.adminToken });
          expect(archived.status).toBe(200);
          const restored = await http(server.baseUrl, 'POST', `/v1/admin/modules/${slug}/restore`, { token: actors.adminToken });
          expect(restored.status).toBe(200);
          writes.archives += 1;
          writes.restores += 1;
          modules += 2;
        }
      }
      expectedModuleEntries.set(slug, modules);
      expectedCardEntries.set(slug, cards);
    };
    /** Two writers on one module, one per instance: they queue on each other's transactions. */
    const sharedWriter = async (server: RunningServer, w: number) => {
      for (let round = 1; round <= rounds; round++) {
        await importVia(server, generatedModule('feed-shared', 3, { summary: `Writer ${w}, round ${round}.` }));
        writes.imports += 1;
      }
    };

    type Change = { entity: string; id: string; moduleSlug: string; op: string; version: number; changedAt: string };
    const readPage = async (server: RunningServer, cursor: string | undefined, limit: number) => {
      const response = await http(server.baseUrl, 'GET', `/v1/changes?limit=${limit}${cursor === undefined ? '' : `&since=${encodeURIComponent(cursor)}`}`);
      if (response.status !== 200) throw new Error(`GET /v1/changes: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body as { changes: Change[]; nextCursor: string; hasMore: boolean };
    };
    /** Follows the feed from the beginning, page by page, until a page read after the writers finished says no more. */
    const follow = async (limit: number) => {
      const seen: Change[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const finished = !writing;
        const page = await readPage(b, cursor, limit);
        pages += 1;
        seen.push(...page.changes);
        cursor = page.nextCursor;
        if (finished && !page.hasMore) return { seen, pages };
      }
    };

    const writers = Promise.all([...Array.from({ length: writersCount }, (_, w) => ownWriter(w)), sharedWriter(a, 0), sharedWriter(b, 1)]).finally(() => (writing = false));
    const [small, large] = await Promise.all([follow(3), follow(50), writers]);

    // The whole feed at the end, read through A in pages as large as allowed.
    const full: Change[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await readPage(a, cursor, 1000);
      full.push(...page.changes);
      cursor = page.nextCursor;
      if (!page.hasMore) break;
    }

    const key = (change: Change) => `${change.entity}:${change.id}:${change.op}:v${change.version}@${change.changedAt}`;
    console.log(
      `[multi-instance] 4: ${writes.imports} imports, ${writes.archives} archives, ${writes.restores} restores through both instances; ` +
        `${full.length} changes in the feed; followers through B read ${small.seen.length} in ${small.pages} pages of 3 and ${large.seen.length} in ${large.pages} pages of 50`,
    );
    expect(small.seen.map(key)).toEqual(full.map(key));
    expect(large.seen.map(key)).toEqual(full.map(key));
    expect(small.seen).toEqual(full);
    // What each writer wrote is all there: a module entry per import, archive and restore, a card entry per card
    // its imports added, edited or archived.
    for (const [slug, expected] of expectedModuleEntries) {
      expect(full.filter((change) => change.moduleSlug === slug && change.entity === 'module').length, slug).toBe(expected);
      expect(full.filter((change) => change.moduleSlug === slug && change.entity === 'flashcard').length, slug).toBe(expectedCardEntries.get(slug));
    }
    // Commit order: a module's versions never go back along the feed.
    const lastVersion = new Map<string, number>();
    const backwards = full.filter((change) => {
      const before = lastVersion.get(change.moduleSlug) ?? 0;
      lastVersion.set(change.moduleSlug, change.version);
      return change.version < before;
    });
    expect(backwards.map(key)).toEqual([]);
  });

  it('5. kill -9 of one instance under write load: the other keeps serving, and no acknowledged answer is lost', { timeout: 60_000 }, async () => {
    const c = await launchServer(env);
    const learners = takeLearners(4);
    const viaA = new AnswerLedger();
    // Requests sent to C, and their retries through A once C is gone (a retry must go to the ledger that knows it).
    const viaC = new AnswerLedger();
    const readsOfA = new Map<number | string, number>();
    let killed = false;
    // Set when the test fails before the kill, so that the clients stop rather than run on.
    let abandoned = false;
    let answersAfterKill = 0;
    let slowestAfterKill = 0;
    const requestsAfterKill = 12;
    const randomRequest = (learner: LearnerActor, index: number): AnswerRequest => {
      const size = index % 3 === 0 ? 3 : 1;
      return { kind: size === 1 ? 'single' : 'batch', answers: Array.from({ length: size }, () => newAnswer(learner.userId, deck)) };
    };

    /** A learner's client on A: until the kill, then `requestsAfterKill` more. Every request must succeed. */
    const clientOfA = async (learner: LearnerActor) => {
      let after = 0;
      for (let index = 0; after < requestsAfterKill && !abandoned; index++) {
        const wasKilled = killed;
        const started = performance.now();
        await viaA.send(a.baseUrl, learner.token, randomRequest(learner, index));
        if (wasKilled) {
          slowestAfterKill = Math.max(slowestAfterKill, performance.now() - started);
          after += 1;
          answersAfterKill += 1;
        }
      }
    };
    /** The same learner's client on C: until C dies; then what C never answered is retried through A. */
    const clientOfC = async (learner: LearnerActor) => {
      const retries: AnswerRequest[] = [];
      for (let index = 0; !killed && !abandoned; index++) {
        const request = randomRequest(learner, index);
        const { outcome } = await viaC.send(c.baseUrl, learner.token, request);
        if (outcome === 'network-error') retries.push(request);
      }
      for (const request of retries) await viaC.send(a.baseUrl, learner.token, request);
      return retries.length;
    };
    /** Reads through A all along: content, and a learner's own cards (which the writes keep changing). */
    const readerOfA = async (learner: LearnerActor) => {
      while (answersAfterKill < learners.length * requestsAfterKill && !abandoned) {
        for (const path of ['/v1/modules/networking', '/v1/me/cards?limit=50', '/readyz']) {
          try {
            const response = await http(a.baseUrl, 'GET', path, { token: learner.token });
            readsOfA.set(response.status, (readsOfA.get(response.status) ?? 0) + 1);
          } catch (error) {
            const code = String((error as { cause?: { code?: string } }).cause?.code ?? error);
            readsOfA.set(code, (readsOfA.get(code) ?? 0) + 1);
          }
        }
      }
    };

    const clientsOfA = learners.map(clientOfA);
    const clientsOfC = learners.map(clientOfC);
    const reader = readerOfA(learners[0]!);
    // A request C has routed and holds (its body not sent yet) is cut by the kill whatever the timing.
    const heldAnswer = newAnswer(learners[1]!.userId, deck);
    viaC.sent.set(heldAnswer.clientAnswerId, heldAnswer);
    viaC.unknown.set(heldAnswer.clientAnswerId, heldAnswer);
    const held = holdRequest(c.baseUrl, '/v1/me/answers', { token: learners[1]!.token, body: wire(heldAnswer) });
    try {
      await held.continued;
      // Kill once C has taken writes and has some in flight, as A does.
      await waitFor(
        () => viaC.acknowledged.size >= 40 && viaC.inFlight.size > 0 && viaA.inFlight.size > 0,
        () => `C to take writes (${viaC.acknowledged.size} acknowledged, ${viaC.inFlight.size} in flight; A ${viaA.inFlight.size} in flight)`,
        20_000,
      );
    } catch (error) {
      abandoned = true;
      await Promise.allSettled([...clientsOfA, ...clientsOfC, reader]);
      throw error;
    }
    const inFlightOnA = viaA.inFlight.size;
    const inFlightOnC = viaC.inFlight.size;
    const acknowledgedByC = viaC.acknowledged.size;
    c.child.kill('SIGKILL');
    killed = true;
    const killedAt = performance.now();
    await c.closed;
    await expect(held.finish()).rejects.toThrow();
    const retried = await Promise.all(clientsOfC);
    await viaC.send(a.baseUrl, learners[1]!.token, { kind: 'single', answers: [heldAnswer] });
    const firstAfterKill = performance.now();
    await Promise.all([...clientsOfA, reader]);
    const recoveredIn = performance.now() - killedAt;

    console.log(
      `[multi-instance] 5: C acknowledged ${acknowledgedByC} answers before kill -9 with ${inFlightOnC} requests in flight (and 1 held); ` +
        `${viaC.cut.size} requests cut, ${retried.reduce((sum, n) => sum + n, 0)} retried through A (${viaC.retriedDuplicate} already stored, ${viaC.retriedCreated} not); ` +
        `A: ${viaA.statusSummary()} (${inFlightOnA} in flight at the kill, ${answersAfterKill} requests after it, the slowest of them ${Math.round(slowestAfterKill)} ms; slowest overall ${viaA.maxLatencyMs} ms); ` +
        `reads of A ${JSON.stringify(Object.fromEntries(readsOfA))}; retries done ${Math.round(firstAfterKill - killedAt)} ms and the load ${Math.round(recoveredIn)} ms after the kill`,
    );
    expect(c.child.signalCode).toBe('SIGKILL');
    // A: every request answered, every answer acknowledged, every read 200, during the kill and after it.
    expect(viaA.networkErrors).toBe(0);
    expect(firstFew(viaA.unexpected)).toEqual([]);
    expect([...viaA.statuses.keys()].filter((status) => status !== 200 && status !== 201)).toEqual([]);
    expect([...readsOfA.keys()].filter((status) => status !== 200)).toEqual([]);
    expect(answersAfterKill).toBe(learners.length * requestsAfterKill);
    // C: its failures are network errors at the kill only, and each was retried through A successfully.
    expect(firstFew(viaC.unexpected)).toEqual([]);
    expect([...viaC.statuses.keys()].filter((status) => status !== 200 && status !== 201)).toEqual([]);
    expect(viaC.unknown.size).toBe(0);

    const ledger: LedgerView = {
      sent: new Map([...viaA.sent, ...viaC.sent]),
      acknowledged: new Map([...viaA.acknowledged, ...viaC.acknowledged]),
      unknown: new Map(),
    };
    const verification = await verifyPostgresDatabase(database!.url, ledger, learners.map((learner) => learner.userId));
    expect(verification.stored).toBe(ledger.acknowledged.size);
    expectVerified(verification, '5');
  });
});
