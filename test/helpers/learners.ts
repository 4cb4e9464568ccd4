import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

export interface Learner {
  userId: string;
  externalId: string;
  token: string;
  headers: { authorization: string };
}

export interface Actors {
  admin: { authorization: string };
  integration: { authorization: string };
  learner: Learner;
  /** Live flashcard ids of the Networking seed, in deck order. */
  deck: string[];
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * An admin, an integration and one of its learners (with a learner key) on an app with the seed imported.
 * `deckFrom: 'service'` reads the deck without an HTTP request (for tests that count requests).
 */
export async function createActors(app: FastifyInstance, options: { deckFrom?: 'http' | 'service' } = {}): Promise<Actors> {
  const admin = bearer((await app.auth.createKey({ role: 'admin', name: 'admin' }, null)).token);
  const integrationKey = await app.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload: { role: 'integration', name: 'lms' } });
  const integration = bearer(integrationKey.json().token);
  const learner = await createLearner(app, integration, `learner-${randomUUID()}`);
  const deck =
    options.deckFrom === 'service'
      ? (await app.content.getModuleContent('networking')).flashcards.map((card) => card.id)
      : (await app.inject('/v1/modules/networking/flashcards')).json().items.map((card: { id: string }) => card.id);
  return { admin, integration, learner, deck };
}

export async function createLearner(app: FastifyInstance, owner: { authorization: string }, externalId: string): Promise<Learner> {
  const user = await app.inject({ method: 'POST', url: '/v1/users', headers: owner, payload: { externalId } });
  const userId = user.json().id as string;
  const key = await app.inject({ method: 'POST', url: `/v1/users/${userId}/keys`, headers: owner, payload: { name: 'phone' } });
  const token = key.json().token as string;
  return { userId, externalId, token, headers: bearer(token) };
}

export const answer = (flashcardId: string, overrides: Record<string, unknown> = {}) => ({
  clientAnswerId: randomUUID(),
  flashcardId,
  rating: 3,
  answeredAt: new Date().toISOString(),
  ...overrides,
});

/** Row count of a table, read straight from the database on either engine (`?` placeholders in `where`). */
export async function countRows(app: FastifyInstance, table: string, where = '1 = 1', ...params: unknown[]): Promise<number> {
  const [row] = await queryRows<{ n: number | string }>(app, `SELECT count(*) AS n FROM ${table} WHERE ${where}`, ...params);
  return Number(row!.n);
}

/**
 * Rows of a plain SQL statement (`?` placeholders) run straight on the app's database, on either engine: for tests
 * that read or tamper with stored rows behind the services. Column values come back in the driver's own types.
 */
export async function queryRows<Row = Record<string, unknown>>(app: FastifyInstance, query: string, ...params: unknown[]): Promise<Row[]> {
  const { store } = app;
  if (store.engine === 'sqlite') {
    const statement = store.sqlite.sqlite.prepare(query);
    if (statement.reader) return statement.all(...params) as Row[];
    statement.run(...params);
    return [];
  }
  let index = 0;
  const result = await store.postgres.pool.query(query.replace(/\?/g, () => `$${++index}`), params);
  return result.rows as Row[];
}
