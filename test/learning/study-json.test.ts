import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { textFormats } from '../../src/content/module-source/text-format.js';
import type { UserRow } from '../../src/db/schema.js';
import { serializerFor } from '../../src/http/zod.js';
import { studyItemSchema } from '../../src/learning/schemas.js';
import { studyItemsJson } from '../../src/learning/study-json.js';
import { presentStudyItem } from '../../src/learning/study-service.js';
import { buildTestApp } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

describe('study queue body', () => {
  it('is byte for byte what the route schema serialises, in every format, with due and new cards and a second request', async () => {
    const { learner, deck } = actors;
    const dayAgo = new Date(Date.now() - 86_400_000).toISOString();
    for (const id of deck.slice(0, 2)) {
      const response = await app.inject({ method: 'POST', url: '/v1/me/answers', headers: learner.headers, payload: answer(id, { rating: 1, answeredAt: dayAgo }) });
      expect(response.statusCode).toBe(201);
    }
    const routeSerializer = serializerFor(z.object({ items: z.array(studyItemSchema) }));
    // The study service reads only the learner's id.
    const user = { id: learner.userId } as UserRow;
    for (const format of textFormats) {
      for (let round = 0; round < 2; round++) {
        const response = await app.inject({ url: `/v1/me/study?format=${format}&limit=4&newLimit=2`, headers: learner.headers });
        expect(response.statusCode).toBe(200);
        expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
        const items = response.json().items as { reason: string; state: unknown }[];
        expect(items.map((item) => item.reason)).toEqual(['due', 'due', 'new', 'new']);
        expect(items[0]!.state).not.toBeNull();
        expect(items[3]!.state).toBeNull();
        // The same items serialised by the schema's serializer from the reference presentation.
        const studied = await app.learning.study.study(user, { limit: 4, newLimit: 2 });
        const expected = routeSerializer({ items: studied.map((item) => presentStudyItem(item, format)) });
        expect(studyItemsJson(studied, format)).toBe(expected);
        // Retrievability moves with the clock: compare the response with it taken out.
        const withoutClock = (body: string) => body.replace(/"retrievability":[0-9.e-]+/g, '"retrievability":0');
        expect(withoutClock(response.body)).toBe(withoutClock(expected));
      }
    }
  });
});
