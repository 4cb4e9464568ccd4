import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';

/**
 * Who may call what, cell by cell: every REST route and the GraphQL entry points, for six principals (anonymous,
 * learner A, learner B, integration X that owns A, integration Y that owns B, admin), plus malformed, unknown and
 * revoked tokens. Each cell is its own test, named "<route> as <principal> -> <status>".
 */

const principals = ['anonymous', 'learnerA', 'learnerB', 'integrationX', 'integrationY', 'admin'] as const;
type PrincipalName = (typeof principals)[number];

interface Ctx {
  tokens: Record<Exclude<PrincipalName, 'anonymous'>, string>;
  adminToken: string;
  learnerAKeyId: string;
  userA: { id: string; externalId: string };
  userB: { id: string; externalId: string };
  flashcardId: string;
  /** Answer ids recorded for learner A, for the isolation checks. */
  answersOfA: Set<string>;
}

let app: FastifyInstance;
let ctx: Ctx;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const headersOf = (principal: PrincipalName): Record<string, string> => (principal === 'anonymous' ? {} : bearer(ctx.tokens[principal]));

const newAnswer = () => ({ clientAnswerId: randomUUID(), flashcardId: ctx.flashcardId, rating: 3, answeredAt: new Date().toISOString() });

async function call(options: InjectOptions, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return app.inject({ ...options, headers: { ...(options.headers as Record<string, string> | undefined), ...headers } });
}

/** A fresh learner owned by integration X, so that each DELETE cell erases its own. */
async function throwawayLearnerOfX(): Promise<string> {
  const response = await call({ method: 'POST', url: '/v1/users', payload: { externalId: `throwaway-${randomUUID()}` } }, headersOf('integrationX'));
  expect(response.statusCode).toBe(201);
  return response.json().id as string;
}

/** The error code each non-2xx status of the matrix must carry. */
const codeFor: Record<number, string> = {
  401: 'MNEMO_AUTH_REQUIRED',
  403: 'MNEMO_AUTH_FORBIDDEN',
  404: 'MNEMO_LEARNING_USER_NOT_FOUND',
};

type Row = Record<PrincipalName, number>;
/** One matrix row, in column order: anonymous, learner A, learner B, integration X, integration Y, admin. */
const row = (anonymous: number, learnerA: number, learnerB: number, integrationX: number, integrationY: number, admin: number): Row => ({
  anonymous,
  learnerA,
  learnerB,
  integrationX,
  integrationY,
  admin,
});

interface RouteCase {
  route: string;
  expected: Row;
  request: () => InjectOptions | Promise<InjectOptions>;
  /** Extra assertions on a 2xx response. */
  check?: (principal: PrincipalName, response: LightMyRequestResponse) => void;
}

const userA = () => `/v1/users/${ctx.userA.id}`;

/** Learner A's data must never show to B: nothing of A's in the list bodies B (or A's other-owner) can read. */
const noAnswersOfA = (principal: PrincipalName, response: LightMyRequestResponse) => {
  if (principal === 'learnerB') {
    const ids = (response.json().items as { id: string }[]).map((item) => item.id);
    expect(ids.filter((id) => ctx.answersOfA.has(id))).toEqual([]);
  }
};

const rememberAnswerOfA = (principal: PrincipalName, response: LightMyRequestResponse) => {
  if (principal === 'learnerA' || principal === 'integrationX' || principal === 'admin') ctx.answersOfA.add(response.json().id as string);
};

//                                                                       anon  A    B    X    Y    admin
const restMatrix: RouteCase[] = [
  // Keys: admin only.
  { route: 'POST /v1/keys', expected: row(401, 403, 403, 403, 403, 201), request: () => ({ method: 'POST', url: '/v1/keys', payload: { role: 'integration', name: 'matrix' } }) },
  { route: 'GET /v1/keys', expected: row(401, 403, 403, 403, 403, 200), request: () => ({ method: 'GET', url: '/v1/keys' }) },
  {
    route: 'DELETE /v1/keys/:id',
    expected: row(401, 403, 403, 403, 403, 200),
    request: async () => ({ method: 'DELETE', url: `/v1/keys/${(await app.auth.createKey({ role: 'integration', name: 'throwaway' }, null)).id}` }),
    check: (_principal, response) => expect(response.json().revokedAt).toEqual(expect.any(String)),
  },

  // Learners: admin and integrations; another integration's learner is "not found".
  {
    route: 'POST /v1/users',
    expected: row(401, 403, 403, 201, 201, 201),
    request: () => ({ method: 'POST', url: '/v1/users', payload: { externalId: `new-${randomUUID()}` } }),
  },
  {
    route: 'GET /v1/users?externalId=<A>',
    expected: row(401, 403, 403, 200, 200, 200),
    request: () => ({ method: 'GET', url: `/v1/users?externalId=${encodeURIComponent(ctx.userA.externalId)}` }),
    check: (principal, response) => {
      const ids = (response.json().items as { id: string }[]).map((user) => user.id);
      if (principal === 'integrationY') expect(response.json()).toEqual({ items: [] });
      else expect(ids).toContain(ctx.userA.id);
    },
  },
  {
    route: "POST /v1/users (A's externalId again)",
    // After the search above: X gets A back (200); Y and admin have no learner with that externalId of their own, so get a new one (201).
    expected: row(401, 403, 403, 200, 201, 201),
    request: () => ({ method: 'POST', url: '/v1/users', payload: { externalId: ctx.userA.externalId } }),
    check: (principal, response) => {
      if (principal === 'integrationX') expect(response.json().id).toBe(ctx.userA.id);
      else expect(response.json().id).not.toBe(ctx.userA.id);
    },
  },
  {
    route: 'GET /v1/users/:A',
    expected: row(401, 403, 403, 200, 404, 200),
    request: () => ({ method: 'GET', url: userA() }),
    check: (_principal, response) => expect(response.json()).toMatchObject({ id: ctx.userA.id, externalId: ctx.userA.externalId }),
  },
  {
    route: 'DELETE /v1/users/:throwawayOfX',
    expected: row(401, 403, 403, 204, 404, 204),
    request: async () => ({ method: 'DELETE', url: `/v1/users/${await throwawayLearnerOfX()}` }),
    check: (_principal, response) => expect(response.body).toBe(''),
  },
  {
    route: 'GET /v1/users/:A/export',
    expected: row(401, 403, 403, 200, 404, 200),
    request: () => ({ method: 'GET', url: `${userA()}/export` }),
    check: (_principal, response) => expect(response.json().user.id).toBe(ctx.userA.id),
  },
  {
    route: 'POST /v1/users/:A/keys',
    expected: row(401, 403, 403, 201, 404, 201),
    request: () => ({ method: 'POST', url: `${userA()}/keys`, payload: { name: 'matrix' } }),
    check: (_principal, response) => expect(response.json()).toMatchObject({ role: 'learner', userId: ctx.userA.id, token: expect.any(String) }),
  },
  {
    route: 'POST /v1/users/:A/answers',
    expected: row(401, 403, 403, 201, 404, 201),
    request: () => ({ method: 'POST', url: `${userA()}/answers`, payload: newAnswer() }),
    check: rememberAnswerOfA,
  },
  {
    route: 'POST /v1/users/:A/answers/batch',
    expected: row(401, 403, 403, 200, 404, 200),
    request: () => ({ method: 'POST', url: `${userA()}/answers/batch`, payload: { answers: [newAnswer()] } }),
    check: (_principal, response) => {
      const [result] = response.json().results as { status: string; answer: { id: string } }[];
      expect(result?.status).toBe('created');
      ctx.answersOfA.add(result!.answer.id);
    },
  },
  { route: 'GET /v1/users/:A/answers', expected: row(401, 403, 403, 200, 404, 200), request: () => ({ method: 'GET', url: `${userA()}/answers` }) },
  { route: 'GET /v1/users/:A/cards', expected: row(401, 403, 403, 200, 404, 200), request: () => ({ method: 'GET', url: `${userA()}/cards` }) },
  { route: 'GET /v1/users/:A/study', expected: row(401, 403, 403, 200, 404, 200), request: () => ({ method: 'GET', url: `${userA()}/study` }) },
  { route: 'GET /v1/users/:A/progress', expected: row(401, 403, 403, 200, 404, 200), request: () => ({ method: 'GET', url: `${userA()}/progress` }) },
  {
    route: 'GET /v1/users/:nonexistent',
    // Indistinguishable from another integration's learner.
    expected: row(401, 403, 403, 404, 404, 404),
    request: () => ({ method: 'GET', url: '/v1/users/usr_doesnotexist' }),
  },

  // The caller's own learner: learner keys only.
  { route: 'POST /v1/me/answers', expected: row(401, 201, 201, 403, 403, 403), request: () => ({ method: 'POST', url: '/v1/me/answers', payload: newAnswer() }), check: rememberAnswerOfA },
  {
    route: 'POST /v1/me/answers/batch',
    expected: row(401, 200, 200, 403, 403, 403),
    request: () => ({ method: 'POST', url: '/v1/me/answers/batch', payload: { answers: [newAnswer()] } }),
    check: (principal, response) => {
      const [result] = response.json().results as { status: string; answer: { id: string } }[];
      expect(result?.status).toBe('created');
      if (principal === 'learnerA') ctx.answersOfA.add(result!.answer.id);
    },
  },
  { route: 'GET /v1/me/answers', expected: row(401, 200, 200, 403, 403, 403), request: () => ({ method: 'GET', url: '/v1/me/answers' }), check: noAnswersOfA },
  { route: 'GET /v1/me/cards', expected: row(401, 200, 200, 403, 403, 403), request: () => ({ method: 'GET', url: '/v1/me/cards' }) },
  { route: 'GET /v1/me/study', expected: row(401, 200, 200, 403, 403, 403), request: () => ({ method: 'GET', url: '/v1/me/study' }) },
  { route: 'GET /v1/me/progress', expected: row(401, 200, 200, 403, 403, 403), request: () => ({ method: 'GET', url: '/v1/me/progress' }) },

  // Content: anonymous allowed.
  { route: 'GET /v1/modules', expected: row(200, 200, 200, 200, 200, 200), request: () => ({ method: 'GET', url: '/v1/modules' }) },
  { route: 'GET /v1/modules/networking', expected: row(200, 200, 200, 200, 200, 200), request: () => ({ method: 'GET', url: '/v1/modules/networking' }) },
  { route: 'GET /v1/flashcards/:id', expected: row(200, 200, 200, 200, 200, 200), request: () => ({ method: 'GET', url: `/v1/flashcards/${ctx.flashcardId}` }) },
];

function expectProblem(response: LightMyRequestResponse, status: number, code: string) {
  expect({ status: response.statusCode, body: response.body.slice(0, 300) }).toMatchObject({ status });
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.json()).toMatchObject({ status, code });
}

// GraphQL ------------------------------------------------------------------------------------------------------

interface GqlBody {
  data: Record<string, any> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

async function gqlAs(headers: Record<string, string>, query: string, variables?: Record<string, unknown>) {
  const response = await call({ method: 'POST', url: '/graphql', payload: { query, variables } }, headers);
  return { status: response.statusCode, body: response.json() as GqlBody };
}

const codesOf = (body: GqlBody) => (body.errors ?? []).map((error) => error.extensions?.code);

/** A GraphQL cell: the data the principal gets (checked by a function) or the error codes, in order. */
type GqlOutcome = { data: (body: GqlBody) => void } | { errors: string[]; status?: number; data?: (body: GqlBody) => void };

interface GqlCase {
  name: string;
  query: () => string;
  variables?: () => Record<string, unknown>;
  expected: Record<PrincipalName, GqlOutcome>;
}

const REQUIRED = 'MNEMO_AUTH_REQUIRED';
const FORBIDDEN = 'MNEMO_AUTH_FORBIDDEN';

const meQuery = '{ me { id answers(first: 5) { nodes { id } } } }';
const userQuery = () => `{ user(id: "${ctx.userA.id}") { id answers(first: 5) { nodes { id } } } }`;
const recordMutation = 'mutation Record($input: AnswerInput!, $userId: ID) { recordAnswer(input: $input, userId: $userId) { id } }';
const aliasedQuery = () => `{ a: me { id } b: user(id: "${ctx.userA.id}") { id } }`;

const meIs = (who: 'userA' | 'userB') => (body: GqlBody) => {
  expect(body.errors).toBeUndefined();
  expect(body.data?.me.id).toBe(ctx[who].id);
  const ids = (body.data?.me.answers.nodes as { id: string }[]).map((node) => node.id);
  if (who === 'userB') expect(ids.filter((id) => ctx.answersOfA.has(id))).toEqual([]);
  else expect(ids.length).toBeGreaterThan(0);
};
const userIsA = (body: GqlBody) => {
  expect(body.errors).toBeUndefined();
  expect(body.data?.user.id).toBe(ctx.userA.id);
  expect((body.data?.user.answers.nodes as { id: string }[]).every((node) => ctx.answersOfA.has(node.id))).toBe(true);
};
const recorded = (body: GqlBody) => {
  expect(body.errors).toBeUndefined();
  expect(body.data?.recordAnswer.id).toEqual(expect.any(String));
};

const gqlMatrix: GqlCase[] = [
  {
    name: 'query me',
    query: () => meQuery,
    expected: {
      anonymous: { errors: [REQUIRED] },
      learnerA: { data: meIs('userA') },
      learnerB: { data: meIs('userB') },
      integrationX: { errors: [FORBIDDEN] },
      integrationY: { errors: [FORBIDDEN] },
      admin: { errors: [FORBIDDEN] },
    },
  },
  {
    name: 'query user(id: A)',
    query: userQuery,
    expected: {
      anonymous: { errors: [REQUIRED] },
      learnerA: { errors: [FORBIDDEN] },
      learnerB: { errors: [FORBIDDEN] },
      integrationX: { data: userIsA },
      integrationY: { data: (body) => expect(body).toEqual({ data: { user: null } }) },
      admin: { data: userIsA },
    },
  },
  {
    name: 'mutation recordAnswer(userId: A)',
    query: () => recordMutation,
    variables: () => ({ input: newAnswer(), userId: ctx.userA.id }),
    expected: {
      anonymous: { errors: [REQUIRED] },
      learnerA: { errors: [FORBIDDEN] },
      learnerB: { errors: [FORBIDDEN] },
      integrationX: { data: recorded },
      integrationY: { errors: ['MNEMO_LEARNING_USER_NOT_FOUND'] },
      admin: { data: recorded },
    },
  },
  {
    name: 'mutation recordAnswer (no userId)',
    query: () => recordMutation,
    variables: () => ({ input: newAnswer() }),
    expected: {
      anonymous: { errors: [REQUIRED] },
      learnerA: { data: recorded },
      learnerB: { data: recorded },
      integrationX: { errors: [FORBIDDEN] },
      integrationY: { errors: [FORBIDDEN] },
      admin: { errors: [FORBIDDEN] },
    },
  },
  {
    name: 'aliased { a: me b: user(id: A) }',
    query: aliasedQuery,
    expected: {
      anonymous: { errors: [REQUIRED, REQUIRED], data: (body) => expect(body.data).toEqual({ a: null, b: null }) },
      learnerA: { errors: [FORBIDDEN], data: (body) => expect(body.data).toEqual({ a: { id: ctx.userA.id }, b: null }) },
      learnerB: {
        errors: [FORBIDDEN],
        data: (body) => {
          expect(body.data).toEqual({ a: { id: ctx.userB.id }, b: null });
          expect(body.errors?.[0]?.path).toEqual(['b']);
          expect(JSON.stringify(body)).not.toContain(ctx.userA.id);
        },
      },
      integrationX: { errors: [FORBIDDEN], data: (body) => expect(body.data).toEqual({ a: null, b: { id: ctx.userA.id } }) },
      integrationY: {
        errors: [FORBIDDEN],
        data: (body) => {
          expect(body.data).toEqual({ a: null, b: null });
          expect(body.errors?.[0]?.path).toEqual(['a']);
          expect(JSON.stringify(body)).not.toContain(ctx.userA.id);
        },
      },
      admin: { errors: [FORBIDDEN], data: (body) => expect(body.data).toEqual({ a: null, b: { id: ctx.userA.id } }) },
    },
  },
];

// Bad tokens ---------------------------------------------------------------------------------------------------

/** Every route of the matrix (requests only), for the bad-token sweeps. */
const everyRoute = restMatrix.map(({ route, request }) => ({ route, request }));

const unknownToken = () => `mnemo_${randomBytes(32).toString('base64url')}`;
const badHeaders: { name: string; header: () => string }[] = [
  { name: 'malformed bearer', header: () => 'Bearer not-a-mnemo-token' },
  { name: 'wrong scheme', header: () => `Basic ${ctx.tokens.admin}` },
  { name: 'unknown token', header: () => `Bearer ${unknownToken()}` },
];

// Setup --------------------------------------------------------------------------------------------------------

beforeAll(async () => {
  app = await buildTestApp({ seed: true });
  const admin = await app.auth.createKey({ role: 'admin', name: 'a' }, null);
  const asAdmin = bearer(admin.token);

  const integration = async (name: string) => {
    const response = await call({ method: 'POST', url: '/v1/keys', payload: { role: 'integration', name } }, asAdmin);
    expect(response.statusCode).toBe(201);
    return response.json().token as string;
  };
  const integrationX = await integration('X');
  const integrationY = await integration('Y');

  const learner = async (ownerToken: string, externalId: string) => {
    const user = await call({ method: 'POST', url: '/v1/users', payload: { externalId } }, bearer(ownerToken));
    expect(user.statusCode).toBe(201);
    const key = await call({ method: 'POST', url: `/v1/users/${user.json().id}/keys`, payload: { name: 'phone' } }, bearer(ownerToken));
    expect(key.statusCode).toBe(201);
    return { user: { id: user.json().id as string, externalId }, keyId: key.json().id as string, token: key.json().token as string };
  };
  const a = await learner(integrationX, `ext-a-${randomUUID()}`);
  const b = await learner(integrationY, `ext-b-${randomUUID()}`);

  const deck = await app.inject('/v1/modules/networking/flashcards');
  const flashcardId = (deck.json().items as { id: string }[])[0]!.id;

  ctx = {
    tokens: { learnerA: a.token, learnerB: b.token, integrationX, integrationY, admin: admin.token },
    adminToken: admin.token,
    learnerAKeyId: a.keyId,
    userA: a.user,
    userB: b.user,
    flashcardId,
    answersOfA: new Set(),
  };
});

afterAll(() => app?.close());

// Tests (run in file order: isolation, REST matrix, GraphQL matrix, bad tokens, revocation last) ----------------

describe('isolation of learner A', () => {
  it("after A records an answer, neither learner B nor integration Y can see A's data", async () => {
    const recorded = await call({ method: 'POST', url: '/v1/me/answers', payload: newAnswer() }, headersOf('learnerA'));
    expect(recorded.statusCode).toBe(201);
    ctx.answersOfA.add(recorded.json().id as string);

    const ownHistory = await call({ method: 'GET', url: '/v1/me/answers' }, headersOf('learnerA'));
    expect(ownHistory.json().items.map((item: { id: string }) => item.id)).toEqual([recorded.json().id]);

    for (const url of ['/v1/me/answers', '/v1/me/cards']) {
      const other = await call({ method: 'GET', url }, headersOf('learnerB'));
      expect({ url, status: other.statusCode, items: other.json().items }).toEqual({ url, status: 200, items: [] });
    }
    const progressOfB = await call({ method: 'GET', url: '/v1/me/progress' }, headersOf('learnerB'));
    expect(progressOfB.json()).toEqual({ items: [] });

    const search = await call({ method: 'GET', url: `/v1/users?externalId=${encodeURIComponent(ctx.userA.externalId)}` }, headersOf('integrationY'));
    expect(search.statusCode).toBe(200);
    expect(search.json()).toEqual({ items: [] });

    const notFound = await call({ method: 'GET', url: `${userA()}/answers` }, headersOf('integrationY'));
    const missing = await call({ method: 'GET', url: '/v1/users/usr_doesnotexist/answers' }, headersOf('integrationY'));
    expect(notFound.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    // Same answer as for an id that does not exist, except for the id echoed back.
    const strip = (body: Record<string, unknown>) => ({ ...body, detail: undefined, instance: undefined, requestId: undefined });
    expect(strip(notFound.json())).toEqual(strip(missing.json()));
  });
});

describe('REST authorization matrix', () => {
  for (const { route, expected, request, check } of restMatrix) {
    describe(route, () => {
      for (const principal of principals) {
        const status = expected[principal];
        it(`${route} as ${principal} -> ${status}`, async () => {
          const response = await call(await request(), headersOf(principal));
          if (status >= 400) {
            expectProblem(response, status, codeFor[status]!);
          } else {
            expect({ status: response.statusCode, body: response.body.slice(0, 300) }).toMatchObject({ status });
            check?.(principal, response);
          }
        });
      }
    });
  }
});

describe('GraphQL authorization matrix', () => {
  for (const { name, query, variables, expected } of gqlMatrix) {
    describe(name, () => {
      for (const principal of principals) {
        const outcome = expected[principal];
        const label = 'errors' in outcome ? outcome.errors.join(', ') : 'data';
        it(`${name} as ${principal} -> ${label}`, async () => {
          const { status, body } = await gqlAs(headersOf(principal), query(), variables?.());
          if ('errors' in outcome) {
            expect({ status, codes: codesOf(body) }).toEqual({ status: outcome.status ?? 200, codes: outcome.errors });
          } else {
            expect(status).toBe(200);
          }
          outcome.data?.(body);
        });
      }
    });
  }
});

describe('malformed, wrong-scheme and unknown tokens -> 401 MNEMO_AUTH_INVALID_TOKEN everywhere', () => {
  for (const bad of badHeaders) {
    describe(bad.name, () => {
      for (const { route, request } of everyRoute) {
        it(`${route} with ${bad.name} -> 401`, async () => {
          const response = await call(await request(), { authorization: bad.header() });
          expectProblem(response, 401, 'MNEMO_AUTH_INVALID_TOKEN');
        });
      }
      it(`POST /graphql with ${bad.name} -> 401 with a GraphQL error`, async () => {
        const { status, body } = await gqlAs({ authorization: bad.header() }, '{ apiVersion }');
        expect({ status, data: body.data, codes: codesOf(body) }).toEqual({ status: 401, data: null, codes: ['MNEMO_AUTH_INVALID_TOKEN'] });
      });
    });
  }
});

describe("revoked token (learner A's key, revoked by the admin)", () => {
  beforeAll(async () => {
    const before = await call({ method: 'GET', url: '/v1/me/answers' }, headersOf('learnerA'));
    expect(before.statusCode).toBe(200);
    const revoke = await call({ method: 'DELETE', url: `/v1/keys/${ctx.learnerAKeyId}` }, bearer(ctx.adminToken));
    expect(revoke.statusCode).toBe(200);
    expect(revoke.json()).toMatchObject({ id: ctx.learnerAKeyId, revokedAt: expect.any(String) });
  });

  for (const { route, request } of everyRoute) {
    it(`${route} with A's revoked token -> 401`, async () => {
      const response = await call(await request(), headersOf('learnerA'));
      expectProblem(response, 401, 'MNEMO_AUTH_INVALID_TOKEN');
    });
  }
  it("POST /graphql with A's revoked token -> 401 with a GraphQL error", async () => {
    const { status, body } = await gqlAs(headersOf('learnerA'), meQuery);
    expect({ status, data: body.data, codes: codesOf(body) }).toEqual({ status: 401, data: null, codes: ['MNEMO_AUTH_INVALID_TOKEN'] });
  });
  it('revoking again is harmless and other principals are unaffected', async () => {
    const again = await call({ method: 'DELETE', url: `/v1/keys/${ctx.learnerAKeyId}` }, bearer(ctx.adminToken));
    expect(again.statusCode).toBe(200);
    const stillB = await call({ method: 'GET', url: '/v1/me/answers' }, headersOf('learnerB'));
    expect(stillB.statusCode).toBe(200);
    const stillX = await call({ method: 'GET', url: userA() }, headersOf('integrationX'));
    expect(stillX.statusCode).toBe(200);
  });
});
