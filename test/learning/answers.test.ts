import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { generatedModule } from '../helpers/modules.js';
import { answer, countRows, createActors, queryRows, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;
let url: string;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => app.close());

const post = (path: string, payload: unknown, headers = actors.learner.headers) => app.inject({ method: 'POST', url: path, headers, payload: payload as object });
const answersOf = (clientAnswerId: string) => countRows(app, 'answers', 'client_answer_id = ?', clientAnswerId);

describe('recording an answer', () => {
  it('stores it with the server receivedAt and returns 201', async () => {
    const body = answer(actors.deck[0]!, { correct: true, durationMs: 4200, response: 'kube-proxy' });
    const response = await post('/v1/me/answers', body);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({
      id: expect.stringMatching(/^ans_/),
      clientAnswerId: body.clientAnswerId,
      flashcardId: actors.deck[0],
      moduleSlug: 'networking',
      rating: 3,
      correct: true,
      answeredAt: body.answeredAt,
      receivedAt: expect.any(String),
      durationMs: 4200,
      response: 'kube-proxy',
    });
  });

  it('maps correct alone to Good (3) and incorrect to Again (1)', async () => {
    const right = await post('/v1/me/answers', answer(actors.deck[0]!, { rating: undefined, correct: true }));
    const wrong = await post('/v1/me/answers', answer(actors.deck[0]!, { rating: undefined, correct: false }));
    expect([right.json().rating, wrong.json().rating]).toEqual([3, 1]);
  });

  it('accepts answers days old, stores them as UTC, and records on behalf of a learner for its integration', async () => {
    const old = answer(actors.deck[1]!, { answeredAt: '2026-11-01T08:00:00+02:00' });
    const response = await post(`/v1/users/${actors.learner.userId}/answers`, old, actors.integration);
    expect(response.statusCode).toBe(201);
    expect(response.json().answeredAt).toBe('2026-11-01T06:00:00.000Z');
  });

  it.each([
    ['an extra key (mass assignment)', { userId: 'someone-else' }, 400, 'MNEMO_REQUEST_INVALID'],
    ['neither rating nor correct', { rating: undefined }, 400, 'MNEMO_REQUEST_INVALID'],
    ['a rating out of range', { rating: 5 }, 400, 'MNEMO_REQUEST_INVALID'],
    ['a clientAnswerId that is not a UUID', { clientAnswerId: 'retry-1' }, 400, 'MNEMO_REQUEST_INVALID'],
    ['an answeredAt without a time zone', { answeredAt: '2026-11-01T08:00:00' }, 400, 'MNEMO_REQUEST_INVALID'],
    ['an answeredAt more than 5 minutes ahead', { answeredAt: new Date(Date.now() + 6 * 60_000).toISOString() }, 422, 'MNEMO_LEARNING_ANSWER_IN_FUTURE'],
    ['an unknown flashcard', { flashcardId: 'fc_doesnotexist' }, 422, 'MNEMO_LEARNING_UNKNOWN_FLASHCARD'],
  ])('refuses %s and stores nothing', async (_name, override, status, code) => {
    const body = answer(actors.deck[0]!, override);
    const before = await countRows(app, 'answers');
    const response = await post('/v1/me/answers', body);
    expect(response.statusCode).toBe(status);
    expect(response.json().code).toBe(code);
    expect(await countRows(app, 'answers')).toBe(before);
  });

  it('allows a little clock skew: 4 minutes ahead is accepted', async () => {
    const response = await post('/v1/me/answers', answer(actors.deck[0]!, { answeredAt: new Date(Date.now() + 4 * 60_000).toISOString() }));
    expect(response.statusCode).toBe(201);
  });

  it('stores answers on an archived flashcard: the card existed when the learner saw it', async () => {
    const module = generatedModule('archiving', 2);
    await app.content.importModule(JSON.stringify(module), 'json');
    const removed = (await app.inject('/v1/modules/archiving/flashcards')).json().items[1].id;
    await app.content.importModule(JSON.stringify({ ...module, flashcards: module.flashcards.slice(0, 1) }), 'json');
    expect((await app.inject(`/v1/flashcards/${removed}`)).json().archived).toBe(true);
    const response = await post('/v1/me/answers', answer(removed));
    expect(response.statusCode).toBe(201);
    expect(response.json().moduleSlug).toBe('archiving');
  });
});

describe('idempotency', () => {
  it('100 retries of one answer, 20 of them concurrent over a real socket, store exactly one row', async () => {
    const body = answer(actors.deck[2]!);
    const first = await post('/v1/me/answers', body);
    expect(first.statusCode).toBe(201);
    for (let retry = 0; retry < 80; retry++) {
      const again = await post('/v1/me/answers', body);
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(first.json());
    }
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${url}/v1/me/answers`, { method: 'POST', headers: { ...actors.learner.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      ),
    );
    expect(concurrent.map((response) => response.status)).toEqual(Array(20).fill(200));
    expect(await answersOf(body.clientAnswerId)).toBe(1);
  });

  it('20 concurrent first attempts of a new answer: one 201, nineteen 200, one row', async () => {
    const body = answer(actors.deck[3]!);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${url}/v1/me/answers`, { method: 'POST', headers: { ...actors.learner.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, ...Array(18).fill(200), 201].sort());
    expect(await answersOf(body.clientAnswerId)).toBe(1);
  });

  it('the same clientAnswerId with a different payload is a 409 and changes nothing', async () => {
    const body = answer(actors.deck[0]!);
    const original = (await post('/v1/me/answers', body)).json();
    const statesBefore = await queryRows(app, 'SELECT * FROM card_states ORDER BY flashcard_id');
    for (const change of [{ rating: 1 }, { answeredAt: '2026-11-02T00:00:00.000Z' }, { flashcardId: actors.deck[1] }, { response: 'x' }]) {
      const conflict = await post('/v1/me/answers', { ...body, ...change });
      expect(conflict.statusCode).toBe(409);
      expect(conflict.json().code).toBe('MNEMO_LEARNING_ANSWER_CONFLICT');
    }
    expect(await answersOf(body.clientAnswerId)).toBe(1);
    expect(await queryRows(app, 'SELECT * FROM card_states ORDER BY flashcard_id')).toEqual(statesBefore);
    expect((await post('/v1/me/answers', body)).json()).toEqual(original);
  });

  it('treats an equivalent time in another zone as the same answer', async () => {
    const body = answer(actors.deck[0]!, { answeredAt: '2026-11-20T10:00:00Z' });
    await post('/v1/me/answers', body);
    const retry = await post('/v1/me/answers', { ...body, answeredAt: '2026-11-20T11:00:00.000+01:00' });
    expect(retry.statusCode).toBe(200);
  });

  it('keeps one user’s ids apart from another’s: the same clientAnswerId is a new answer for someone else', async () => {
    const other = await post('/v1/users', { externalId: `other-${randomUUID()}` }, actors.integration);
    const otherId = other.json().id;
    const body = answer(actors.deck[0]!);
    expect((await post('/v1/me/answers', body)).statusCode).toBe(201);
    const theirs = await post(`/v1/users/${otherId}/answers`, { ...body, rating: 1 }, actors.integration);
    expect(theirs.statusCode).toBe(201);
    expect(theirs.json().rating).toBe(1);
    expect(await answersOf(body.clientAnswerId)).toBe(2);
  });
});

describe('batches', () => {
  it('return a result per answer in input order, storing valid answers even when others are invalid', async () => {
    const existing = answer(actors.deck[0]!);
    await post('/v1/me/answers', existing);
    const fresh = answer(actors.deck[1]!);
    const repeated = answer(actors.deck[2]!);
    const response = await post('/v1/me/answers/batch', {
      answers: [
        fresh,
        { ...existing },
        { ...existing, rating: 1 },
        { clientAnswerId: 'not-a-uuid', flashcardId: actors.deck[0], rating: 3, answeredAt: new Date().toISOString() },
        answer('fc_unknown'),
        repeated,
        { ...repeated },
        { ...repeated, rating: 4 },
        answer(actors.deck[3]!, { answeredAt: new Date(Date.now() + 3_600_000).toISOString() }),
        'not even an object',
        answer(actors.deck[4]!, { extra: true }),
      ],
    });
    expect(response.statusCode).toBe(200);
    const results = response.json().results as { clientAnswerId: string | null; status: string; error?: { code: string } }[];
    expect(results.map((result) => [result.status, result.error?.code ?? null])).toEqual([
      ['created', null],
      ['duplicate', null],
      ['conflict', 'MNEMO_LEARNING_ANSWER_CONFLICT'],
      ['invalid', 'MNEMO_REQUEST_INVALID'],
      ['invalid', 'MNEMO_LEARNING_UNKNOWN_FLASHCARD'],
      ['created', null],
      ['duplicate', null],
      ['conflict', 'MNEMO_LEARNING_ANSWER_CONFLICT'],
      ['invalid', 'MNEMO_LEARNING_ANSWER_IN_FUTURE'],
      ['invalid', 'MNEMO_REQUEST_INVALID'],
      ['invalid', 'MNEMO_REQUEST_INVALID'],
    ]);
    expect(results[0]!.clientAnswerId).toBe(fresh.clientAnswerId);
    expect(results[3]!.clientAnswerId).toBe('not-a-uuid');
    expect(results[9]!.clientAnswerId).toBeNull();
    expect(await answersOf(fresh.clientAnswerId)).toBe(1);
    expect(await answersOf(repeated.clientAnswerId)).toBe(1);
  });

  it('accept 500 answers and refuse 501 or an empty batch as a whole', async () => {
    const ok = await post('/v1/me/answers/batch', { answers: Array.from({ length: 500 }, (_, index) => answer(actors.deck[index % 5]!, { answeredAt: '2026-10-01T00:00:00Z' })) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().results.every((result: { status: string }) => result.status === 'created')).toBe(true);
    const before = await countRows(app, 'answers');
    for (const answers of [Array.from({ length: 501 }, () => answer(actors.deck[0]!)), []]) {
      const refused = await post('/v1/me/answers/batch', { answers });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().code).toBe('MNEMO_REQUEST_INVALID');
    }
    expect(await countRows(app, 'answers')).toBe(before);
  });
});

describe('history', () => {
  it('lists newest answeredAt first with cursor paging and filters', async () => {
    const learner = await post('/v1/users', { externalId: `history-${randomUUID()}` }, actors.integration);
    const userId = learner.json().id;
    const times = ['2026-11-01T10:00:00.000Z', '2026-11-03T10:00:00.000Z', '2026-11-02T10:00:00.000Z', '2026-11-04T10:00:00.000Z', '2026-11-05T10:00:00.000Z'];
    await post(`/v1/users/${userId}/answers/batch`, { answers: times.map((answeredAt, index) => answer(actors.deck[index % 2]!, { answeredAt })) }, actors.integration);
    const get = async (query: string) => (await app.inject({ url: `/v1/users/${userId}/answers${query}`, headers: actors.integration })).json();

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { answeredAt: string }[]; nextCursor: string | null } = await get(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(...page.items.map((item) => item.answeredAt));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages).toEqual([...times].sort().reverse());

    expect((await get(`?flashcardId=${actors.deck[1]}`)).items).toHaveLength(2);
    expect((await get('?since=2026-11-02T00:00:00Z&until=2026-11-04T00:00:00Z')).items.map((item: { answeredAt: string }) => item.answeredAt)).toEqual([
      '2026-11-03T10:00:00.000Z',
      '2026-11-02T10:00:00.000Z',
    ]);
    expect((await get('?module=networking')).items).toHaveLength(5);
    const unknownModule = await app.inject({ url: `/v1/users/${userId}/answers?module=nope`, headers: actors.integration });
    expect(unknownModule.statusCode).toBe(404);
    const badCursor = await app.inject({ url: `/v1/users/${userId}/answers?cursor=garbage`, headers: actors.integration });
    expect(badCursor.json().code).toBe('MNEMO_REQUEST_BAD_CURSOR');
  });
});
