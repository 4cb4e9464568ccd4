import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, testBackend } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';

/**
 * The plans of the statements the study queue and an answer run, on the engine under test: none scans flashcards or
 * card states, and on SQLite a check of which cards are live (`archived_at IS NULL`) that takes none of a card's texts
 * never reads the card's row, which holds the texts in three renderings (the covering indexes of migration 0007).
 * Without statistics SQLite looks a single card up by its primary key, row included; that is not asserted against.
 */

interface Captured {
  text: string;
  values: unknown[];
}

const captured: Captured[] = [];
let capturing = false;
const record = (text: unknown, values: unknown) => {
  if (capturing && typeof text === 'string') captured.push({ text, values: Array.isArray(values) ? values : [] });
};

type Methods = Record<string, (...args: unknown[]) => unknown>;

/**
 * Wraps `names` of a driver's prototype to record each statement's text and values; returns what puts them back. The
 * drivers are wrapped before the app opens its connections, so every statement it runs is seen.
 */
function wrap(prototype: Methods, names: string[], seen: (self: unknown, args: unknown[]) => void): () => void {
  const originals = names.map((name) => [name, prototype[name]!] as const);
  for (const [name, original] of originals) {
    prototype[name] = function (this: unknown, ...args: unknown[]) {
      seen(this, args);
      return original.apply(this, args);
    };
  }
  return () => originals.forEach(([name, original]) => (prototype[name] = original));
}

const captureSqlite = () =>
  wrap(Object.getPrototypeOf(new Database(':memory:').prepare('SELECT 1')) as Methods, ['all', 'get', 'run', 'iterate'], (self, args) =>
    record((self as { source: string }).source, args),
  );

const capturePostgres = () =>
  wrap(pg.Client.prototype as unknown as Methods, ['query'], (_self, [config, values]) => {
    if (typeof config === 'string') record(config, values);
    else if (config && typeof config === 'object') record((config as { text?: unknown }).text, (config as { values?: unknown }).values ?? values);
  });

const readsCards = (text: string) => /from "card_states"|"flashcards"/.test(text) && /^\s*select/i.test(text);
const checksLiveCardsOnly = (text: string) => text.includes('"flashcards"."archived_at" is null') && !text.includes('"question_md"');

async function sqlitePlan(app: FastifyInstance, statement: Captured): Promise<string[]> {
  if (app.store.engine !== 'sqlite') throw new Error('not SQLite');
  const rows = app.store.sqlite.sqlite.prepare(`EXPLAIN QUERY PLAN ${statement.text}`).all(...(statement.values as unknown[])) as { detail: string }[];
  return rows.map((row) => row.detail);
}

async function postgresPlan(app: FastifyInstance, statement: Captured): Promise<string[]> {
  if (app.store.engine !== 'postgres') throw new Error('not PostgreSQL');
  const client = await app.store.postgres.pool.connect();
  try {
    // A test database is tiny, so the planner would scan any table; with scans priced out, a scan means no index serves.
    await client.query('SET enable_seqscan = off');
    const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, statement.values);
    return result.rows.map((row) => row['QUERY PLAN']);
  } finally {
    await client.query('RESET enable_seqscan');
    client.release();
  }
}

const plan = (app: FastifyInstance, statement: Captured) => (testBackend === 'sqlite' ? sqlitePlan(app, statement) : postgresPlan(app, statement));

describe('query plans of the study queue and the answer path', () => {
  let app: FastifyInstance;
  let actors: Actors;
  let unwrap: () => void;

  beforeAll(async () => {
    unwrap = testBackend === 'sqlite' ? captureSqlite() : capturePostgres();
    app = await buildTestApp({ seed: true });
    actors = await createActors(app, { deckFrom: 'service' });
    const answers = actors.deck.slice(0, 3).map((id, index) => answer(id, { answeredAt: new Date(Date.now() - (3 - index) * 60_000).toISOString() }));
    const posted = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers } });
    expect(posted.statusCode).toBe(200);
  });

  afterAll(async () => {
    await app?.close();
    unwrap?.();
  });

  async function statementsOf(request: () => Promise<{ statusCode: number }>, status: number): Promise<Captured[]> {
    captured.length = 0;
    capturing = true;
    try {
      expect((await request()).statusCode).toBe(status);
    } finally {
      capturing = false;
    }
    return captured.filter((statement) => readsCards(statement.text));
  }

  it('reads cards and card states through indexes only', async () => {
    const study = await statementsOf(() => app.inject({ url: '/v1/me/study?module=networking&limit=10', headers: actors.learner.headers }), 200);
    const answered = await statementsOf(
      () => app.inject({ method: 'POST', url: '/v1/me/answers', headers: actors.learner.headers, payload: answer(actors.deck[4]!) }),
      201,
    );
    const statements = [...study, ...answered];
    // The study queue's earliest-due states and new cards (both check liveness), and the answer's read of its card.
    expect(study.filter((statement) => checksLiveCardsOnly(statement.text)).length).toBeGreaterThanOrEqual(2);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    for (const statement of statements) {
      const lines = await plan(app, statement);
      const context = `${statement.text}\n${lines.join('\n')}`;
      if (testBackend === 'sqlite') {
        expect(lines.filter((line) => /^SCAN (flashcards|card_states)\b/.test(line)), context).toEqual([]);
        if (checksLiveCardsOnly(statement.text)) {
          const cardReads = lines.filter((line) => /^SEARCH flashcards\b/.test(line));
          expect(cardReads.filter((line) => !line.includes('COVERING INDEX')), context).toEqual([]);
        }
      } else {
        expect(lines.filter((line) => /Seq Scan on (flashcards|card_states)\b/.test(line)), context).toEqual([]);
      }
    }
  });
});
