import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { allow, contentVisibility } from '../auth/principal.js';
import { createdKeySchema } from '../auth/schemas.js';
import type { UserRow } from '../db/schema.js';
import { problemResponses } from '../http/problem-schema.js';
import { useZodSchemas } from '../http/zod.js';
import type { Page } from '../lib/page.js';
import {
  answerBatchBody,
  answerInputSchema,
  answerSchema,
  batchResultSchema,
  cardsQuery,
  cardStateSchema,
  createLearnerKeyBody,
  createUserBody,
  findUsersQuery,
  historyQuery,
  progressQuery,
  progressSchema,
  studyItemSchema,
  studyQuery,
  updateUserBody,
  userIdParams,
  userSchema,
} from './schemas.js';
import { presentOutcome } from './answers-service.js';
import { studyItemsJson } from './study-json.js';

const security = [{ bearer: [] }];
const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });
/** A page as REST lists it: items and the cursor of the next page (GraphQL's endCursor is not part of it). */
const listed = <T>(page: Page<T>) => ({ items: page.items, nextCursor: page.nextCursor });
/** Which modules a `module` filter may name: the caller's, as for content reads (archived ones for admins only). */
const visibility = (request: FastifyRequest) => contentVisibility(request.principal);

/**
 * Learners (admin and integration keys) and the per-learner resources: answers, card states, study queue and
 * progress, each served twice with one handler: under /me for a learner key, under /users/:userId for the
 * learner's admin or integration.
 */
export const learningRoutes: FastifyPluginAsyncZod = async (app) => {
  useZodSchemas(app);
  const { users, answers, study } = app.learning;
  const staff = allow('admin', 'integration');

  app.post(
    '/users',
    {
      preValidation: staff,
      schema: {
        tags: ['learners'],
        summary: 'Create a learner (201), or get the existing one with this externalId for this integration (200)',
        security,
        body: createUserBody,
        response: { 200: userSchema, 201: userSchema, ...problemResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { user, created } = await users.createUser(request.principal, request.body);
      return reply.code(created ? 201 : 200).send(user);
    },
  );

  app.get(
    '/users',
    {
      preValidation: staff,
      schema: {
        tags: ['learners'],
        summary: 'Find learners by externalId (an integration sees only its own)',
        security,
        querystring: findUsersQuery,
        response: { 200: z.object({ items: z.array(userSchema) }), ...problemResponses(400, 401, 403) },
      },
    },
    async (request) => ({ items: await users.findUsers(request.principal, request.query.externalId) }),
  );

  const userRoute = { tags: ['learners'], security, params: userIdParams };

  app.get(
    '/users/:userId',
    { preValidation: staff, schema: { ...userRoute, summary: 'A learner', response: { 200: userSchema, ...problemResponses(401, 403, 404) } } },
    async (request) => users.getUser(request.principal, request.params.userId),
  );

  app.patch(
    '/users/:userId',
    {
      preValidation: staff,
      schema: {
        ...userRoute,
        summary: 'Rename a learner: set displayName, or null to remove it (a repeated POST /v1/users changes nothing)',
        body: updateUserBody,
        response: { 200: userSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => users.renameUser(request.principal, request.params.userId, request.body.displayName),
  );

  app.delete(
    '/users/:userId',
    {
      preValidation: staff,
      schema: {
        ...userRoute,
        summary: 'Erase a learner with their keys, answers and card states (right to erasure); see the README for what stays on disk',
        response: { 204: z.null(), ...problemResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { wal } = await users.deleteUser(request.principal, request.params.userId);
      if (wal === 'pending') {
        request.log.warn('learner erased, but the WAL could not be truncated yet (another connection is reading); retrying every second');
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/users/:userId/export',
    {
      preValidation: staff,
      schema: {
        ...userRoute,
        summary: 'Everything stored about a learner, as JSON',
        response: { 200: z.looseObject({ user: userSchema }), ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => users.exportUser(request.principal, request.params.userId),
  );

  app.post(
    '/users/:userId/keys',
    {
      preValidation: staff,
      schema: {
        ...userRoute,
        summary: 'Issue a learner key for this learner (what a mobile client uses); the token is shown once',
        body: createLearnerKeyBody,
        response: { 201: createdKeySchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => reply.code(201).send(await users.issueLearnerKey(request.principal, request.params.userId, request.body.name)),
  );

  const scopes: {
    prefix: string;
    params?: typeof userIdParams;
    tag: string;
    preValidation: ReturnType<typeof allow>;
    user: (request: FastifyRequest) => Promise<UserRow>;
  }[] = [
    { prefix: '/me', tag: 'me', preValidation: allow('learner'), user: (request) => users.selfUser(request.principal) },
    {
      prefix: '/users/:userId',
      params: userIdParams,
      tag: 'learners',
      preValidation: staff,
      user: (request) => users.accessibleUser(request.principal, (request.params as { userId: string }).userId),
    },
  ];

  for (const scope of scopes) {
    const base = { tags: [scope.tag], security, ...(scope.params ? { params: scope.params } : {}) };
    const preValidation = scope.preValidation;

    app.post(
      `${scope.prefix}/answers`,
      {
        preValidation,
        schema: {
          ...base,
          summary: 'Record an answer: 201 created, 200 for a retry of the same answer, 409 for the same id with other content',
          body: answerInputSchema,
          response: { 200: answerSchema, 201: answerSchema, ...problemResponses(400, 401, 403, 404, 409, 422) },
        },
      },
      async (request, reply) => {
        const { created, answer } = await answers.recordOne(await scope.user(request), request.body);
        return reply.code(created ? 201 : 200).send(answer);
      },
    );

    app.post(
      `${scope.prefix}/answers/batch`,
      {
        preValidation,
        schema: {
          ...base,
          summary: 'Record up to 500 answers in one transaction (offline sync); a result per answer, in input order',
          body: answerBatchBody,
          response: { 200: batchResultSchema, ...problemResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const outcomes = await answers.recordBatch(await scope.user(request), request.body.answers);
        return { results: outcomes.map(presentOutcome) };
      },
    );

    app.get(
      `${scope.prefix}/answers`,
      {
        preValidation,
        schema: {
          ...base,
          summary: 'Answer history, newest answeredAt first',
          querystring: historyQuery,
          response: { 200: list(answerSchema), ...problemResponses(400, 401, 403, 404) },
        },
      },
      async (request) => listed(await answers.history(await scope.user(request), request.query, visibility(request))),
    );

    app.get(
      `${scope.prefix}/cards`,
      {
        preValidation,
        schema: {
          ...base,
          summary: 'FSRS card states (cards answered at least once)',
          querystring: cardsQuery,
          response: { 200: list(cardStateSchema), ...problemResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const { due, ...query } = request.query;
        return listed(await study.cards(await scope.user(request), { ...query, due: due === 'true' }, visibility(request)));
      },
    );

    app.get(
      `${scope.prefix}/study`,
      {
        preValidation,
        schema: {
          ...base,
          summary: 'The study queue: due cards (most overdue first), then new cards up to newLimit',
          querystring: studyQuery,
          response: { 200: z.object({ items: z.array(studyItemSchema) }), ...problemResponses(400, 401, 403, 404) },
        },
      },
      // Written as the response schema serialises it (src/learning/study-json.ts), card text escaped once per format.
      async (request, reply) =>
        reply
          .type('application/json; charset=utf-8')
          .send(studyItemsJson(await study.study(await scope.user(request), request.query, visibility(request)), request.query.format) as never),
    );

    app.get(
      `${scope.prefix}/progress`,
      {
        preValidation,
        schema: {
          ...base,
          summary: 'Progress per module the learner has answered in (or the one asked for)',
          querystring: progressQuery,
          response: { 200: z.object({ items: z.array(progressSchema) }), ...problemResponses(400, 401, 403, 404) },
        },
      },
      async (request) => ({ items: await study.progress(await scope.user(request), request.query, visibility(request)) }),
    );
  }
};
