import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { didYouMean, fieldLabel, knownFieldsAt, unknownFieldMessage } from '../../src/http/validation-messages.js';
import { answerInputSchema } from '../../src/learning/schemas.js';
import { buildTestApp, seedSource } from '../helpers/app.js';
import { answer, createActors, type Actors } from '../helpers/learners.js';

let app: FastifyInstance;
let actors: Actors;

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  actors = await createActors(app);
});
afterAll(() => app.close());

async function problem(request: InjectOptions, status = 400) {
  const response = await app.inject(request);
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  return response.json() as { detail: string; code: string; errors?: { path: string; message: string }[] };
}

const postAnswer = (payload: unknown) => ({ method: 'POST' as const, url: '/v1/me/answers', headers: actors.learner.headers, payload: payload as object });

describe('validation messages an integrator can act on', () => {
  it('says a missing field is required, clientAnswerId included (not "must be a UUID")', async () => {
    const { clientAnswerId: _id, ...withoutId } = answer(actors.deck[0]!);
    const missingId = await problem(postAnswer(withoutId));
    expect(missingId.errors).toEqual([{ path: 'body.clientAnswerId', message: 'clientAnswerId is required' }]);
    expect(missingId.detail).toBe('body.clientAnswerId: clientAnswerId is required');

    const { answeredAt: _at, flashcardId: _card, ...withoutMore } = answer(actors.deck[0]!);
    expect((await problem(postAnswer(withoutMore))).errors).toEqual([
      { path: 'body.flashcardId', message: 'flashcardId is required' },
      { path: 'body.answeredAt', message: 'answeredAt is required' },
    ]);

    // A present but malformed value still gets the schema's own message.
    expect((await problem(postAnswer(answer(actors.deck[0]!, { clientAnswerId: 'abc', answeredAt: 'yesterday' })))).errors).toEqual([
      { path: 'body.clientAnswerId', message: 'clientAnswerId must be a UUID' },
      { path: 'body.answeredAt', message: 'answeredAt must be an ISO-8601 date-time with a time zone, e.g. 2026-11-26T09:30:00Z' },
    ]);
  });

  it('names the type a field must have, and what was sent instead', async () => {
    expect((await problem(postAnswer(answer(actors.deck[0]!, { durationMs: '5200', response: 7 })))).errors).toEqual([
      { path: 'body.durationMs', message: 'durationMs must be a number, not a string' },
      { path: 'body.response', message: 'response must be a string, not a number' },
    ]);
    expect((await problem({ url: '/v1/modules?limit=ten' })).errors).toEqual([{ path: 'querystring.limit', message: 'limit must be a number' }]);
  });

  it('suggests the known field one or two edits away from an unknown one', async () => {
    const { flashcardId, ...rest } = answer(actors.deck[0]!);
    const typo = await problem(postAnswer({ ...rest, flashcardID: flashcardId, durationMS: 10, colour: 'red' }));
    expect(typo.errors).toEqual([
      { path: 'body.flashcardId', message: 'flashcardId is required' },
      { path: 'body.flashcardID', message: 'unknown field `flashcardID`; did you mean `flashcardId`?' },
      { path: 'body.durationMS', message: 'unknown field `durationMS`; did you mean `durationMs`?' },
      { path: 'body.colour', message: 'unknown field `colour`' },
    ]);
    expect((await problem({ url: '/v1/modules?limt=5' })).errors).toEqual([
      { path: 'querystring.limt', message: 'unknown query parameter `limt`; did you mean `limit`?' },
    ]);
    expect((await problem({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'integration', nmae: 'lms' } })).errors).toEqual([
      { path: 'body.name', message: 'name is required' },
      { path: 'body.nmae', message: 'unknown field `nmae`; did you mean `name`?' },
    ]);
  });

  it('reads bounds as sentences', async () => {
    for (const limit of ['0', '101', '-3']) {
      const bounds = await problem({ url: `/v1/modules?limit=${limit}` });
      expect(bounds.errors).toEqual([{ path: 'querystring.limit', message: 'limit must be between 1 and 100' }]);
      expect(bounds.detail).toBe('querystring.limit: limit must be between 1 and 100');
    }
    expect((await problem({ url: '/v1/me/answers?limit=1000', headers: actors.learner.headers })).errors).toEqual([
      { path: 'querystring.limit', message: 'limit must be between 1 and 100' },
    ]);
    expect((await problem(postAnswer(answer(actors.deck[0]!, { durationMs: -1 })))).errors).toEqual([
      { path: 'body.durationMs', message: 'durationMs must be between 0 and 86400000' },
    ]);
    expect((await problem({ method: 'POST', url: '/v1/users', headers: actors.integration, payload: { externalId: 'x'.repeat(201), displayName: '' } })).errors).toEqual([
      { path: 'body.externalId', message: 'externalId must be at most 200 characters long' },
      { path: 'body.displayName', message: 'displayName must not be empty' },
    ]);
  });

  it('lists the values of an enum', async () => {
    expect((await problem({ url: '/v1/modules/networking?format=pdf' })).errors).toEqual([
      { path: 'querystring.format', message: 'format must be one of markdown, html, text' },
    ]);
    expect((await problem({ method: 'POST', url: '/v1/keys', headers: actors.admin, payload: { role: 'root', name: 'x' } })).errors).toEqual([
      { path: 'body.role', message: 'role must be one of admin, integration' },
    ]);
  });

  it('gives batch items the same messages', async () => {
    const { flashcardId, ...rest } = answer(actors.deck[0]!);
    const response = await app.inject({ method: 'POST', url: '/v1/me/answers/batch', headers: actors.learner.headers, payload: { answers: [{ ...rest, flashcardID: flashcardId, durationMs: -1 }] } });
    expect(response.statusCode).toBe(200);
    const [result] = response.json().results;
    expect(result).toMatchObject({ status: 'invalid', error: { code: 'MNEMO_REQUEST_INVALID', message: 'flashcardId is required' } });
    expect(result.error.errors).toEqual([
      { path: 'flashcardId', message: 'flashcardId is required' },
      { path: 'durationMs', message: 'durationMs must be between 0 and 86400000' },
      { path: '', message: 'unknown field `flashcardID`; did you mean `flashcardId`?' },
    ]);
  });
});

describe('case-insensitive enums on REST', () => {
  it('takes every other query enum in any case too: search kind, due, dryRun, export format', async () => {
    const kinds = async (kind: string) => (await app.inject(`/v1/search?q=ingress&kind=${kind}`)).json().items.map((item: { kind: string }) => item.kind);
    expect(await kinds('FLASHCARD')).toEqual(await kinds('flashcard'));
    expect(await kinds('cheatsheetrow')).toEqual(await kinds('cheatSheetRow'));
    const due = await app.inject({ url: '/v1/me/cards?due=TRUE', headers: actors.learner.headers });
    expect(due.statusCode).toBe(200);
    const dryRun = await app.inject({ method: 'POST', url: '/v1/admin/modules?dryRun=True', headers: { ...actors.admin, 'content-type': 'text/markdown' }, payload: (await app.inject('/v1/modules/networking/export?format=MD')).body });
    expect(dryRun.json()).toMatchObject({ status: 'unchanged', dryRun: true });
    expect((await app.inject('/v1/search?q=ingress&kind=chapter')).json().errors[0].message).toContain('must be one of');
  });

  it('takes format=HTML as format=html (GraphQL spells it HTML)', async () => {
    const lower = await app.inject('/v1/modules/networking/flashcards?format=html');
    for (const spelling of ['HTML', 'Html']) {
      const other = await app.inject(`/v1/modules/networking/flashcards?format=${spelling}`);
      expect(other.statusCode).toBe(200);
      expect(other.body).toBe(lower.body);
    }
    const study = await app.inject({ url: '/v1/me/study?format=TEXT&limit=1', headers: actors.learner.headers });
    expect(study.statusCode).toBe(200);
    expect((await app.inject('/v1/modules/networking/export?format=JSON')).statusCode).not.toBe(400);
  });

  it('documents the lowercase values and the default in OpenAPI', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    const format = doc.paths['/v1/modules/{slug}'].get.parameters.find((parameter: { name: string }) => parameter.name === 'format');
    expect(format.schema).toMatchObject({ type: 'string', enum: ['markdown', 'html', 'text'], default: 'markdown' });
    expect(format.required).toBeFalsy();
  });
});

describe('empty bodies', () => {
  const keysUrl = () => `/v1/users/${actors.learner.userId}/keys`;

  it('are accepted where every field is optional, with or without a JSON content type', async () => {
    for (const request of [
      { headers: { ...actors.integration, 'content-type': 'application/json' }, payload: '' },
      { headers: { ...actors.integration, 'content-type': 'application/json; charset=utf-8' }, payload: '  \n' },
      { headers: actors.integration },
    ]) {
      const response = await app.inject({ method: 'POST', url: keysUrl(), ...request });
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json()).toMatchObject({ role: 'learner', name: 'learner', userId: actors.learner.userId });
    }
  });

  it('are "required" where the body is', async () => {
    for (const headers of [{ ...actors.integration, 'content-type': 'application/json' }, actors.integration]) {
      const missing = await problem({ method: 'POST', url: '/v1/users', headers, payload: '' });
      expect(missing.errors).toEqual([{ path: 'body', message: 'a request body is required' }]);
    }
    const json = { ...actors.integration, 'content-type': 'application/json' };
    expect((await problem({ method: 'POST', url: '/v1/users', headers: json, payload: '[]' })).errors).toEqual([
      { path: 'body', message: 'must be a JSON object, not an array' },
    ]);
  });

  it('keep malformed JSON a 400 problem and oversized bodies a 413', async () => {
    const malformed = await problem({ method: 'POST', url: keysUrl(), headers: { ...actors.integration, 'content-type': 'application/json' }, payload: '{"name":' });
    expect(malformed.code).toBe('MNEMO_REQUEST_INVALID');
    expect(malformed.detail).toMatch(/not valid JSON/);
    const poisoned = await problem({ method: 'POST', url: keysUrl(), headers: { ...actors.integration, 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' });
    expect(poisoned.code).toBe('MNEMO_REQUEST_INVALID');
    const huge = await problem({ method: 'POST', url: keysUrl(), headers: { ...actors.integration, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(300_000) }) }, 413);
    expect(huge.code).toBe('MNEMO_REQUEST_TOO_LARGE');
  });
});

describe('media types', () => {
  it('a 415 names the accepted media types', async () => {
    const form = await problem({ method: 'POST', url: '/v1/users', headers: { ...actors.integration, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'externalId=x' }, 415);
    expect(form).toMatchObject({ code: 'MNEMO_REQUEST_UNSUPPORTED_MEDIA_TYPE' });
    expect(form.detail).toBe(`Content-Type "application/x-www-form-urlencoded" is not accepted here; send application/json (e.g. -H 'content-type: application/json')`);
    const xml = await problem({ method: 'POST', url: '/v1/admin/modules', headers: { ...actors.admin, 'content-type': 'application/xml' }, payload: '<module/>' }, 415);
    expect(xml.detail).toBe(`Content-Type "application/xml" is not accepted here; send text/markdown or application/json (e.g. -H 'content-type: text/markdown')`);
  });

  it('Markdown sent as application/json is told to use text/markdown', async () => {
    const sent = await problem({ method: 'POST', url: '/v1/admin/modules?dryRun=true', headers: { ...actors.admin, 'content-type': 'application/json' }, payload: seedSource() });
    expect(sent.code).toBe('MNEMO_IMPORT_INVALID');
    expect(sent.detail).toMatch(/^line 1: invalid JSON: .*; the body looks like Markdown: send it with Content-Type: text\/markdown$/);
    expect(sent.errors![0]!.message).toMatch(/send it with Content-Type: text\/markdown$/);
    // Broken JSON that is JSON-shaped gets no hint.
    const broken = await problem({ method: 'POST', url: '/v1/admin/modules?dryRun=true', headers: { ...actors.admin, 'content-type': 'application/json' }, payload: '{"slug": ' });
    expect(broken.detail).not.toMatch(/text\/markdown/);
  });
});

describe('the message helpers', () => {
  it('suggest names within one or two edits, case-insensitively', () => {
    const known = ['clientAnswerId', 'flashcardId', 'rating', 'correct', 'answeredAt', 'durationMs', 'response'];
    expect(didYouMean('flashcardID', known)).toBe('flashcardId');
    expect(didYouMean('raitng', known)).toBe('rating');
    expect(didYouMean('answerdAt', known)).toBe('answeredAt');
    expect(didYouMean('correctt', known)).toBe('correct');
    expect(didYouMean('colour', known)).toBeUndefined();
    expect(didYouMean('id', ['ids', 'x'])).toBe('ids');
    expect(didYouMean('ab', ['xy'])).toBeUndefined();
    expect(unknownFieldMessage('nmae', ['name'], 'query parameter')).toBe('unknown query parameter `nmae`; did you mean `name`?');
  });

  it('name fields by the last key of their path', () => {
    expect(fieldLabel(['answers', 3, 'rating'])).toBe('rating');
    expect(fieldLabel(['tags', 2])).toBe('tags[2]');
    expect(fieldLabel([])).toBeUndefined();
  });

  it('find the known fields of an object anywhere in a schema', () => {
    expect(knownFieldsAt(answerInputSchema, [])).toContain('flashcardId');
    const nested = z.strictObject({ items: z.array(z.strictObject({ alpha: z.string(), beta: z.number() }).optional()).default([]) });
    expect(knownFieldsAt(nested, ['items', 0])).toEqual(['alpha', 'beta']);
    expect(knownFieldsAt(nested, ['nope'])).toEqual([]);
  });

  it('fall back to "at least" / "at most" when only one bound is set', () => {
    const schema = z.strictObject({ count: z.number().int().min(5), size: z.number().max(3), ratio: z.number().gt(0), tags: z.array(z.string()).max(2) });
    const result = schema.safeParse({ count: 1, size: 9, ratio: 0, tags: ['a', 'b', 'c'] });
    expect(result.error!.issues.map((issue) => issue.message)).toEqual([
      'count must be at least 5',
      'size must be at most 3',
      'ratio must be greater than 0',
      'tags must have at most 2 items',
    ]);
    expect(z.strictObject({ id: z.uuid() }).safeParse({ id: randomUUID().slice(1) }).error!.issues[0]!.message).toBe('id must be a UUID');
  });
});
