import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createChangesRepository } from '../../src/changes/repository.js';
import { postgresChangesRepository } from '../../src/changes/repository-postgres.js';
import { createChangesService, type ChangesService } from '../../src/changes/service.js';
import type { ModuleInput } from '../../src/content/module-source/module-input.js';
import { createSourceReader } from '../../src/content/module-source/source-reader.js';
import type { ModuleRecord } from '../../src/content/records.js';
import { createContentRepository, type ContentRepository } from '../../src/content/repository.js';
import { postgresContentRepository } from '../../src/content/repository-postgres.js';
import { createContentService, type ContentService } from '../../src/content/service.js';
import { includingArchived } from '../../src/content/visibility.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.js';
import { openPostgresStore, type PostgresStore } from '../../src/db/store.js';
import { createSearchRepository, type SearchRepository } from '../../src/search/repository.js';
import { postgresSearchRepository } from '../../src/search/repository-postgres.js';
import { createSearchService, type SearchService } from '../../src/search/service.js';
import { seedPath } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';
import { useTestDatabase } from '../helpers/postgres-server.js';
import type * as IdsModule from '../../src/ids.js';

/**
 * The content, change-feed and search services over SQLite and over PostgreSQL, driven through the same imports,
 * re-imports, archive and restore at the same instants with the same ids, must answer every read alike.
 */

// Ids are random and carry the time; here each engine draws the same sequence, so both stores hold the same ids.
const ids = vi.hoisted(() => {
  const counters = new Map<string, number>();
  let engine = '';
  return {
    use(name: string) {
      engine = name;
    },
    next(prefix: string) {
      const n = (counters.get(engine) ?? 0) + 1;
      counters.set(engine, n);
      return `${prefix}_${String(n).padStart(20, '0')}`;
    },
  };
});
vi.mock('../../src/ids.js', async (importOriginal) => ({ ...(await importOriginal<typeof IdsModule>()), newId: ids.next }));

interface Engine {
  name: 'sqlite' | 'postgres';
  content: ContentService;
  changes: ChangesService;
  search: SearchService;
}

const database = useTestDatabase();
const sourceReader = createSourceReader({ timeoutMs: 30_000 });
const versionRenderer = createSourceReader({ timeoutMs: 30_000 });
let sqlite: DatabaseHandle | undefined;
let store: PostgresStore | undefined;
let engines: Engine[] = [];

/** Wired as createServices (src/services.ts) wires them; no content cache, so that every read reaches the store. */
function servicesOver(name: Engine['name'], repositories: { content: ContentRepository; changes: Parameters<typeof createChangesService>[0]; search: SearchRepository }): Engine {
  const content = createContentService(repositories.content, { cacheEntries: 1, cacheBytes: 1, sourceReader, versionRenderer });
  const changes = createChangesService(repositories.changes);
  const search = createSearchService(repositories.search, (moduleId) => content.sectionsOfWork(moduleId));
  content.addListener(changes.listener);
  content.addListener(search.listener);
  return { name, content, changes, search };
}

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  sqlite = openDatabase({ path: ':memory:', synchronous: 'NORMAL', busyTimeoutMs: 1000 });
  store = await openPostgresStore({ url: database.url, poolMax: 4, statementTimeoutMs: 30_000, connectTimeoutMs: 5_000 }, () => {});
  engines = [
    servicesOver('sqlite', { content: createContentRepository(sqlite.db), changes: createChangesRepository(sqlite.db), search: createSearchRepository(sqlite.db) }),
    servicesOver('postgres', { content: postgresContentRepository(store), changes: postgresChangesRepository(store), search: postgresSearchRepository(store) }),
  ];
});

afterAll(async () => {
  vi.useRealTimers();
  sqlite?.close();
  await store?.close();
  await Promise.all([sourceReader.close(), versionRenderer.close()]);
});

let clock = Date.parse('2026-03-01T09:00:00.000Z');

/** One step on each engine in turn, at the same instant and drawing the same ids; their results must agree. */
async function onBoth<T>(action: (engine: Engine) => Promise<T>): Promise<T> {
  clock += 60_000;
  const results: T[] = [];
  for (const engine of engines) {
    vi.setSystemTime(clock);
    ids.use(engine.name);
    results.push(await action(engine));
  }
  expect(results[1], 'PostgreSQL differs from SQLite').toEqual(results[0]);
  return results[0]!;
}

const seed = readFileSync(seedPath, 'utf8');

const transport = (changes: Partial<ModuleInput> = {}): ModuleInput => ({
  slug: 'transport',
  title: 'Transport and addressing',
  summary: 'How hosts reach each other: addresses, subnets and the transport layer.',
  tags: ['networking', 'transport'],
  takeaways: [
    { title: 'TCP is reliable', body: 'A TCP connection starts with a three-way handshake and recovers lost segments by retransmission.' },
    { title: 'UDP is fire and forget', body: 'No handshake and no ordering: applications that need either build it themselves.' },
  ],
  flashcards: [
    { key: 'handshake', question: 'What are the three steps of the TCP handshake?', answer: 'SYN, then SYN ACK, then ACK.' },
    { key: 'subnet-mask', question: 'What does a subnet mask select?', answer: 'The network part of an address: hosts with the same network part share a subnet.' },
    { key: 'https-port', question: 'Which port does HTTPS use by default?', answer: 'Port 443, over TCP.' },
    { key: 'mtu', question: 'What is the MTU?', answer: 'The largest packet a link carries without fragmentation.' },
  ],
  cheatSheet: {
    columns: ['Protocol', 'Layer', 'Notes'],
    rows: [
      ['TCP', 'Transport', 'Connection oriented, handshake first'],
      ['UDP', 'Transport', 'Connectionless'],
      ['IP', 'Network', 'Addresses and routing with a subnet mask'],
    ],
  },
  revisionItems: [
    { term: 'Subnet mask', definition: 'Separates the network part of an address from the host part.' },
    { term: 'RTO', definition: 'How long TCP waits for an acknowledgement before a retransmission.' },
  ],
  ...changes,
});

const transportCards = transport().flashcards;
/** A reworded card, a removed card (mtu) and an added one. */
const transportV2 = transport({
  flashcards: [
    transportCards[0]!,
    transportCards[1]!,
    { key: 'https-port', question: 'Which port does HTTPS listen on by default?', answer: 'Port 443, over TCP.' },
    { key: 'congestion', question: 'What does TCP congestion control protect?', answer: 'The network: senders slow down when packets are lost instead of adding to the load.' },
  ],
});
/** The removed card back (its archived row is brought back, not a new one). */
const transportV3 = transport({ flashcards: [...transportV2.flashcards, transportCards[3]!] });

const slugs = ['networking', 'transport', 'generated', 'concurrent'];

/** Every read the services offer, over everything stored: what both engines must answer alike. */
async function everyRead(engine: Engine) {
  const { content, changes } = engine;
  const reads: Record<string, unknown> = {};
  const settle = async <T>(read: () => Promise<T>) => {
    try {
      return { ok: await read() };
    } catch (error) {
      return { error: (error as { code?: string }).code ?? String(error) };
    }
  };

  for (const slug of slugs) {
    reads[`content:${slug}`] = await settle(() => content.getModuleContent(slug));
    reads[`content:${slug}:archived`] = await settle(() => content.getModuleContent(slug, includingArchived));
    reads[`module:${slug}`] = await settle(() => content.getModule(slug, includingArchived));
    reads[`head:${slug}`] = await settle(() => content.getModuleHead(slug, includingArchived));
    reads[`versions:${slug}`] = await settle(() => content.listVersions(slug, includingArchived, true));
    reads[`markdown:${slug}`] = await settle(() => content.exportModule(slug, 'markdown', includingArchived));
    reads[`json:${slug}`] = await settle(() => content.exportModule(slug, 'json', includingArchived));
    reads[`version1:${slug}`] = await settle(() => content.getVersionContent(slug, 1, includingArchived));
  }
  reads['head:unknown'] = await settle(() => content.getModuleHead('no-such-module'));

  for (const tag of [undefined, 'networking', 'generated', 'no-such-tag']) {
    const pages = [];
    let cursor: string | undefined;
    do {
      const page = await content.listModules({ limit: 1, cursor, tag });
      pages.push(page);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    reads[`list:${tag}`] = { pages, all: await content.listModules({ limit: 10, tag }), count: await content.countModules(tag) };
  }
  reads.empty = await content.isEmpty();

  // Every module, archived ones included, for the batch loaders.
  const known: ModuleRecord[] = [];
  for (const slug of slugs) {
    const found = await settle(() => content.getModule(slug, includingArchived));
    if (found.ok) known.push(found.ok);
  }
  reads.modulesByIds = await content.modulesByIds([...known.map((module) => module.id).reverse(), 'mod_missing', known[0]?.id ?? ''], includingArchived);
  reads.liveModulesByIds = await content.modulesByIds(known.map((module) => module.id));
  reads.takeawaysOfMany = await content.takeawaysOfMany(known);
  reads.decksOfMany = await content.decksOfMany(known);
  reads.cheatSheetRowsOfMany = await content.cheatSheetRowsOfMany(known);
  reads.revisionItemsOfMany = await content.revisionItemsOfMany(known);
  for (const module of known) reads[`sections:${module.slug}`] = await content.sectionsOf(module.id);

  // Every flashcard ever written (archived ones through the feed), by id and as a study queue would ask.
  const feedPages = [];
  let since: string | undefined;
  for (;;) {
    const page = await changes.feed({ since, limit: 3 });
    feedPages.push(page);
    since = page.nextCursor;
    if (!page.hasMore) break;
  }
  reads.feed = feedPages;
  reads.stamp = await changes.contentStamp();
  const cardIds = [...new Set(feedPages.flatMap((page) => page.changes.filter((change) => change.entity === 'flashcard').map((change) => change.id)))];
  for (const id of [...cardIds, 'fc_missing']) reads[`flashcard:${id}`] = await settle(() => content.getFlashcard(id, includingArchived));
  const refs = feedPages.flatMap((page) => page.changes.filter((change) => change.entity === 'flashcard').map((change) => ({ flashcardId: change.id, moduleSlug: change.moduleSlug })));
  reads.liveFlashcards = [...(await content.liveFlashcards([...refs].reverse())).entries()];
  return reads;
}

/** The items a search finds with their snippets, each snippet marking a searched word, best first by score. */
async function searchFor(engine: Engine, q: string, filters: { module?: string; kind?: 'flashcard' | 'takeaway' } = {}) {
  const moduleId = filters.module === undefined ? undefined : (await engine.content.getModule(filters.module)).id;
  const hits = await engine.search.search({ q, moduleId, kind: filters.kind, limit: 50 });
  const words = q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  for (const hit of hits) {
    const marked = hit.snippet.filter((segment) => segment.match).map((segment) => segment.text.toLowerCase());
    expect(marked.length, `${engine.name}: ${q}: ${JSON.stringify(hit.snippet)}`).toBeGreaterThan(0);
    expect(
      marked.some((text) => words.some((word) => text.includes(word))),
      `${engine.name}: ${q}: ${JSON.stringify(hit.snippet)}`,
    ).toBe(true);
    expect(hit.score, `${engine.name}: ${q}`).toBeGreaterThan(0);
  }
  for (let index = 1; index < hits.length; index++) expect(hits[index - 1]!.score).toBeGreaterThanOrEqual(hits[index]!.score);
  // Ranks are the engines' own (bm25, ts_rank_cd) and may order ties or near-ties apart: compared as a set.
  return hits.map(({ score: _score, ...hit }) => hit).sort((a, b) => (`${a.kind}:${a.id}` < `${b.kind}:${b.id}` ? -1 : 1));
}

const queries = ['handsh', 'tcp', 'subnet mask', 'retransmission', 'TCP handshake', 'networkpolicy', 'ingress', 'service'];

async function everySearch(engine: Engine) {
  const found: Record<string, Awaited<ReturnType<typeof searchFor>>> = {};
  for (const q of queries) found[q] = await searchFor(engine, q);
  const live = (await engine.content.listModules({ limit: 10 })).items.map((module) => module.slug);
  if (live.includes('transport')) {
    found['tcp in transport'] = await searchFor(engine, 'tcp', { module: 'transport' });
    found['tcp flashcards'] = await searchFor(engine, 'tcp', { kind: 'flashcard' });
    found['handshake takeaways'] = await searchFor(engine, 'handshake', { kind: 'takeaway', module: 'transport' });
  }
  return found;
}

describe('content, changes and search on PostgreSQL answer as on SQLite', () => {
  it('after the first imports', async () => {
    expect(await onBoth((engine) => engine.content.isEmpty())).toBe(true);
    await onBoth((engine) => engine.content.importModule(seed, 'markdown', { importedBy: 'test' }));
    await onBoth((engine) => engine.content.importModule(JSON.stringify(transport()), 'json', { importedBy: 'test' }));
    await onBoth((engine) => engine.content.importModule(JSON.stringify(generatedModule('generated', 3)), 'json'));
    await onBoth((engine) => engine.content.importModule(JSON.stringify(transport()), 'json'));
    const reads = (await onBoth(everyRead)) as { 'list:undefined': { count: number }; feed: unknown[] };
    expect(reads['list:undefined'].count).toBe(3);
    const found = await onBoth(everySearch);
    expect(found.handsh!.length).toBeGreaterThanOrEqual(4);
    expect(found['subnet mask']!.length).toBeGreaterThanOrEqual(2);
    expect(found.retransmission!.length).toBe(2);
    expect(found['tcp in transport']!.length).toBeGreaterThan(0);
    expect(found['tcp in transport']!.every((hit) => hit.moduleSlug === 'transport')).toBe(true);
    expect(found['tcp flashcards']!.every((hit) => hit.kind === 'flashcard')).toBe(true);
  });

  it('after a re-import that rewords, removes and adds cards, and one that brings a card back', async () => {
    const v2 = await onBoth((engine) => engine.content.importModule(JSON.stringify(transportV2), 'json', { importedBy: 'test' }));
    expect(v2.changes.flashcards).toEqual({ added: 1, updated: 1, removed: 1 });
    await onBoth(everyRead);
    await onBoth(everySearch);
    const v3 = await onBoth((engine) => engine.content.importModule(JSON.stringify(transportV3), 'json'));
    expect(v3.changes.flashcards).toEqual({ added: 1, updated: 0, removed: 0 });
    await onBoth(everyRead);
    await onBoth(everySearch);
    const dryRun = await onBoth((engine) => engine.content.importModule(JSON.stringify(transportV2), 'json', { dryRun: true }));
    expect(dryRun.changes.flashcards.removed).toBe(1);
    // Two cards archived at once: the feed lists them in the order the import found them.
    const v4 = await onBoth((engine) => engine.content.importModule(JSON.stringify(transport({ flashcards: transportV3.flashcards.slice(2) })), 'json'));
    expect(v4.changes.flashcards.removed).toBe(2);
    await onBoth(everyRead);
    await onBoth(everySearch);
  });

  it('while a module is archived, and once it is restored', async () => {
    await onBoth((engine) => engine.content.archiveModule('networking'));
    // An edit while archived stays out of the feed and the index, on both.
    await onBoth((engine) => engine.content.importModule(seed.replace('kube-proxy (using', 'kube-proxy (in'), 'markdown'));
    const archived = await onBoth(everyRead);
    expect((archived['content:networking'] as { error?: string }).error).toBe('MNEMO_CONTENT_MODULE_NOT_FOUND');
    const found = await onBoth(everySearch);
    expect(found.ingress).toEqual([]);
    await onBoth((engine) => engine.content.restoreModule('networking'));
    await onBoth(everyRead);
    expect((await onBoth(everySearch)).ingress!.length).toBeGreaterThan(0);
    await onBoth((engine) => engine.content.archiveModule('transport'));
    await onBoth(everyRead);
    await onBoth(everySearch);
  });

  it('serializes concurrent imports of one module as SQLite does', async () => {
    const twice = (source: ModuleInput) => async (engine: Engine) =>
      (await Promise.all([0, 1].map(() => engine.content.importModule(JSON.stringify(source), 'json')))).map((result) => `${result.status} v${result.version}`).sort();
    expect(await onBoth(twice(generatedModule('concurrent', 2)))).toEqual(['created v1', 'unchanged v1']);
    expect(await onBoth(twice(generatedModule('concurrent', 3)))).toEqual(['unchanged v2', 'updated v2']);
    await onBoth(everyRead);
  });

  it('on PostgreSQL, module heads kept in memory follow another instance\'s commits', async () => {
    const [, postgres] = engines;
    const other = await openPostgresStore({ url: database.url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 5_000 }, () => {});
    try {
      const otherContent = createContentService(postgresContentRepository(other), { cacheEntries: 1, cacheBytes: 1, sourceReader, versionRenderer });
      const before = await postgres!.content.getModuleHead('generated');
      await postgres!.content.getModuleHead('arrives-later').catch(() => {});
      // Served from memory: no statement.
      const selects = vi.spyOn(store!.db, 'select');
      expect(await postgres!.content.getModuleHead('generated')).toEqual(before);
      await expect(postgres!.content.getModuleHead('arrives-later')).rejects.toMatchObject({ code: 'MNEMO_CONTENT_MODULE_NOT_FOUND' });
      expect(selects).not.toHaveBeenCalled();
      selects.mockRestore();
      ids.use('postgres');
      await otherContent.importModule(JSON.stringify(generatedModule('generated', 4)), 'json');
      await otherContent.importModule(JSON.stringify(generatedModule('arrives-later', 1)), 'json');
      // The notification reaches this instance's listener a moment after the commit.
      const seen = async (read: () => Promise<unknown>, expected: unknown) => {
        for (let attempt = 0; attempt < 200; attempt++) {
          if (JSON.stringify(await read().catch(() => null)) === JSON.stringify(expected)) return;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect(await read()).toEqual(expected);
      };
      await seen(() => postgres!.content.getModuleHead('generated'), { ...before, version: before.version + 1 });
      await seen(async () => (await postgres!.content.getModuleHead('arrives-later')).version, 1);
      // This instance's own write is seen as soon as it is acknowledged.
      await postgres!.content.archiveModule('arrives-later');
      await expect(postgres!.content.getModuleHead('arrives-later')).rejects.toMatchObject({ code: 'MNEMO_CONTENT_MODULE_NOT_FOUND' });
    } finally {
      await other.close();
    }
  });

  it('refuses the same searches alike', async () => {
    for (const q of ['', '   ', '"*()']) {
      const errors = await onBoth(async (engine) => {
        try {
          await engine.search.search({ q, limit: 5 });
          return 'no error';
        } catch (error) {
          return (error as { code?: string }).code;
        }
      });
      expect(errors).toBe('MNEMO_REQUEST_INVALID');
    }
  });
});
