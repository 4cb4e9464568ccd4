import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, repoRoot } from '../helpers/app.js';
import { bearer } from '../helpers/learners.js';

/**
 * A database written by release 0.1.0 (commit ea00aae: the Networking seed, an admin key, an integration, a learner
 * with a learner key, 15 answers over the deck, checkpointed; `test/fixtures/mnemo-0.1.0.json` is what that
 * release answered) opens with this release: every migration applies on start, and no key, answer, card state or
 * id is lost or changed.
 */
interface Fixture {
  tokens: { admin: string; integration: string; learner: string };
  userId: string;
  deck: string[];
  cards: { flashcardId: string; state: string; due: string; stability: number; difficulty: number; reps: number; lapses: number; lastAnsweredAt: string }[];
  history: { id: string; clientAnswerId: string; flashcardId: string; rating: number; answeredAt: string; response: string | null }[];
}

const fixture = JSON.parse(readFileSync(`${repoRoot}test/fixtures/mnemo-0.1.0.json`, 'utf8')) as Fixture;
let dir: string;
let app: FastifyInstance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mnemo-upgrade-'));
  copyFileSync(`${repoRoot}test/fixtures/mnemo-0.1.0.db`, join(dir, 'mnemo.db'));
  app = await buildTestApp({ config: { databasePath: join(dir, 'mnemo.db') } });
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('upgrading a 0.1.0 database', () => {
  it('applies every migration on start', async () => {
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('keeps every key working, with its role', async () => {
    expect((await app.inject({ url: '/v1/keys', headers: bearer(fixture.tokens.admin) })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/users/${fixture.userId}`, headers: bearer(fixture.tokens.integration) })).json().externalId).toBe('student-42');
    const me = await app.inject({ method: 'POST', url: '/graphql', headers: bearer(fixture.tokens.learner), payload: { query: '{ me { id externalId displayName } }' } });
    expect(me.json()).toEqual({ data: { me: { id: fixture.userId, externalId: 'student-42', displayName: 'Ada' } } });
  });

  it('keeps the module and its flashcard ids', async () => {
    const deck = (await app.inject('/v1/modules/networking/flashcards')).json().items.map((card: { id: string }) => card.id);
    expect(deck).toEqual(fixture.deck);
  });

  it('keeps every answer with its id, and derives `correct` for answers that had only a rating', async () => {
    const history = (await app.inject({ url: '/v1/me/answers?limit=100', headers: bearer(fixture.tokens.learner) })).json().items;
    expect(history.map((answer: Fixture['history'][number]) => ({ id: answer.id, clientAnswerId: answer.clientAnswerId, flashcardId: answer.flashcardId, rating: answer.rating, answeredAt: answer.answeredAt, response: answer.response }))).toEqual(fixture.history);
    for (const answer of history) expect(answer.correct).toBe(answer.rating > 1);
  });

  it('keeps every card state exactly', async () => {
    const cards = (await app.inject({ url: '/v1/me/cards?limit=500', headers: bearer(fixture.tokens.learner) })).json().items;
    const keep = (card: Fixture['cards'][number]) => ({ flashcardId: card.flashcardId, state: card.state, due: card.due, stability: card.stability, difficulty: card.difficulty, reps: card.reps, lapses: card.lapses, lastAnsweredAt: card.lastAnsweredAt });
    expect(cards.map(keep)).toEqual(fixture.cards.map(keep));
  });

  it('treats a retry of an answer recorded by 0.1.0 as a duplicate, not a conflict', async () => {
    const stored = fixture.history[0]!;
    const retry = await app.inject({
      method: 'POST',
      url: '/v1/me/answers',
      headers: bearer(fixture.tokens.learner),
      payload: { clientAnswerId: stored.clientAnswerId, flashcardId: stored.flashcardId, rating: stored.rating, answeredAt: stored.answeredAt, response: stored.response },
    });
    expect(retry.statusCode).toBe(200);
    expect(retry.json().id).toBe(stored.id);
  });
});
