import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { allow } from '../auth/principal.js';
import { AppError } from '../errors.js';
import { problemResponses } from '../http/problem-schema.js';
import { useZodSchemas } from '../http/zod.js';
import { decodeCursor, encodeCursor } from '../lib/cursor.js';
import { outboxStatusSchema, statementResultSchema, statementSchema, statementsQuery } from './schemas.js';
import { maxStatementsPerPage, type StatementFilters } from './service.js';
import type { Statement } from './statement.js';

const security: Record<string, string[]>[] = [{ bearer: [] }, { basic: [] }];
const supportedVersions = ['1.0.3', '2.0.0'] as const;
/** Parameters that may come with statementId or voidedStatementId (the spec allows no filter beside them). */
const singleStatementParameters = new Set(['statementId', 'voidedStatementId', 'attachments', 'format']);

/** The version a request asks for (1.0.x or 2.0.x), as the response states it; undefined when it asks for none we speak. */
function versionOf(header: string | string[] | undefined): (typeof supportedVersions)[number] | undefined {
  if (typeof header !== 'string') return undefined;
  if (/^1\.0(\.\d+)?$/.test(header.trim())) return '1.0.3';
  if (/^2\.0(\.\d+)?$/.test(header.trim())) return '2.0.0';
  return undefined;
}

/** `format=ids`: activities, verbs and agents reduced to what identifies them. */
function idsOnly(statement: Statement): Statement {
  const { definition: _object, ...object } = statement.object;
  const parents = statement.context.contextActivities.parent.map(({ definition: _parent, ...parent }) => parent);
  return {
    ...statement,
    verb: { id: statement.verb.id } as Statement['verb'],
    object: object as Statement['object'],
    context: { ...statement.context, contextActivities: { parent: parents as Statement['context']['contextActivities']['parent'] } },
  };
}

/** A statement resource answer with `attachments=true`: multipart/mixed, the JSON its only part (mnemo stores no attachments). */
function sendMultipart(reply: FastifyReply, body: unknown) {
  const boundary = `mnemo-${randomUUID()}`;
  return reply
    .type(`multipart/mixed; boundary=${boundary}`)
    .serializer((payload) => payload as string)
    .send(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(body)}\r\n--${boundary}--\r\n`);
}

const moreCursor = { q: z.string().max(8192), a: z.string().max(64) };

/**
 * GET /xapi/statements and /xapi/about: the query side of the xAPI Statement Resource over mnemo's statements (one
 * per answer), with the API's keys and tenancy. Every response states the xAPI version; a request must name one.
 */
export const xapiRoutes: FastifyPluginAsyncZod<{ consistencyLagMs: number }> = async (app, options) => {
  useZodSchemas(app);
  const service = app.services.xapi;

  app.addHook('onRequest', async (request, reply) => {
    const version = versionOf(request.headers['x-experience-api-version']);
    reply.header('x-experience-api-version', version ?? supportedVersions[0]);
    if (version === undefined && request.routeOptions.url !== '/xapi/about') {
      throw new AppError('MNEMO_XAPI_VERSION_REQUIRED', `send X-Experience-API-Version: ${supportedVersions.join(' or ')}`);
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    if (reply.statusCode === 401) reply.header('www-authenticate', 'Basic realm="mnemo xAPI", charset="UTF-8"');
  });

  app.get(
    '/about',
    {
      schema: {
        tags: ['xapi'],
        summary: 'The xAPI versions this server speaks',
        response: { 200: z.object({ version: z.array(z.string()) }) },
      },
    },
    async () => ({ version: [...supportedVersions] }),
  );

  app.get(
    '/statements',
    {
      preValidation: allow('admin', 'integration', 'learner'),
      schema: {
        tags: ['xapi'],
        summary:
          'Statements (one per answer) the caller may see: an integration its learners\', a learner its own. Bearer auth, or Basic with the key id and token',
        security,
        querystring: statementsQuery,
        response: { 200: z.union([statementResultSchema, statementSchema]), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const raw = request.raw.url!.slice(request.raw.url!.indexOf('?') + 1);
      const present = new Set(new URLSearchParams(raw).keys());
      const formatAs = (kind: typeof query.format) => (statement: Statement) => (kind === 'ids' ? idsOnly(statement) : statement);
      const send = (body: z.infer<typeof statementResultSchema> | Statement, attachments: string) =>
        attachments === 'true' ? sendMultipart(reply, body) : reply.send(body);
      reply.header('x-experience-api-consistent-through', new Date(Date.now() - options.consistencyLagMs).toISOString());

      if (query.statementId !== undefined || query.voidedStatementId !== undefined) {
        const extra = [...present].filter((name) => !singleStatementParameters.has(name));
        if (extra.length || (query.statementId !== undefined && query.voidedStatementId !== undefined)) {
          throw new AppError('MNEMO_REQUEST_INVALID', 'statementId and voidedStatementId take no other filter (only attachments and format)');
        }
        // mnemo never voids a statement.
        if (query.voidedStatementId !== undefined) throw new AppError('MNEMO_XAPI_STATEMENT_NOT_FOUND', `no voided statement with id "${query.voidedStatementId}"`);
        return send(formatAs(query.format)(await service.statement(request.principal, query.statementId!)), query.attachments);
      }

      // The query a page answers (its text travels in the more link) and where the page starts.
      let filters: z.infer<typeof statementsQuery> = query;
      let text = raw;
      let after: string | undefined;
      if (query.more !== undefined) {
        if (present.size !== 1) throw new AppError('MNEMO_REQUEST_INVALID', 'a more link takes no other parameter');
        const cursor = decodeCursor('xapi-statements', query.more, moreCursor);
        const parsed = statementsQuery.safeParse(Object.fromEntries(new URLSearchParams(cursor.q)));
        if (!parsed.success) throw new AppError('MNEMO_REQUEST_BAD_CURSOR', 'the more link is malformed; start again without it');
        filters = parsed.data;
        text = cursor.q;
        after = cursor.a;
      }
      const limit = filters.limit === 0 || filters.limit > maxStatementsPerPage ? maxStatementsPerPage : filters.limit;
      const page = await service.statements(request.principal, readFilters(filters), after, limit);
      const more = page.next === undefined ? '' : `/xapi/statements?more=${encodeCursor('xapi-statements', { q: text, a: page.next })}`;
      // A more page answers the query its link carries: its format too.
      return send({ statements: page.statements.map(formatAs(filters.format)), more }, filters.attachments);
    },
  );
};

function readFilters(query: z.infer<typeof statementsQuery>): StatementFilters {
  return {
    agent: query.agent,
    verb: query.verb,
    activity: query.activity,
    registration: query.registration,
    relatedActivities: query.related_activities === 'true',
    since: query.since === undefined ? undefined : new Date(query.since).toISOString(),
    until: query.until === undefined ? undefined : new Date(query.until).toISOString(),
    ascending: query.ascending === 'true',
  };
}

/** The outbox, for admins: what is waiting, delivered and parked, and the re-queue of parked statements. */
export const xapiAdminRoutes: FastifyPluginAsyncZod = async (app) => {
  useZodSchemas(app);
  const service = app.services.xapi;
  app.addHook('preValidation', allow('admin'));

  app.get(
    '/admin/xapi/status',
    {
      schema: {
        tags: ['admin', 'xapi'],
        summary: 'The xAPI outbox: statements pending, delivered and parked (refused by the LRS), the oldest pending age, the last error',
        security: [{ bearer: [] }],
        response: { 200: outboxStatusSchema, ...problemResponses(401, 403) },
      },
    },
    async (request) => service.status(request.principal),
  );

  app.post(
    '/admin/xapi/parked/retry',
    {
      schema: {
        tags: ['admin', 'xapi'],
        summary: 'Send the parked statements again',
        security: [{ bearer: [] }],
        response: { 200: z.object({ requeued: z.number().int() }), ...problemResponses(401, 403) },
      },
    },
    async (request) => service.retryParked(request.principal),
  );
};
