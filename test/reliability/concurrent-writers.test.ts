import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ModuleInput } from '../../src/content/module-source/module-input.js';
import { generatedModule } from '../helpers/modules.js';
import { AnswerLedger, createActors, deckOf, firstFew, http, launchServer, newAnswer, pick, runCliAsync, serverEnv, verifyDatabase, waitFor, type AnswerRequest, type LearnerActor, type RunningServer, useServerWorkspace } from '../helpers/reliability.js';

/*
 * A second process on the same SQLite file while the server takes writes: CLI imports of a large module (their
 * IMMEDIATE transactions make the server's writers wait on busy_timeout, which must never surface as a 5xx),
 * an online backup under write load, and a check that API tokens never reach the server's logs.
 */

const dir = useServerWorkspace('mnemo-writers-');

interface Traffic {
  ledger: AnswerLedger;
  /** Every response status and network failure of the read clients, and the answer statuses (in the ledger). */
  reads: Map<number | string, number>;
  /** Responses received so far (reads and writes). */
  responses(): number;
  stop(): Promise<void>;
}

/**
 * Learners posting answers (single and batches) on `deck` (which may grow while they run) and reading content
 * and their own state, until stop().
 */
function startTraffic(server: RunningServer, learners: LearnerActor[], deck: string[]): Traffic {
  const ledger = new AnswerLedger();
  const reads = new Map<number | string, number>();
  let responses = 0;
  let stopped = false;
  const count = (key: number | string) => reads.set(key, (reads.get(key) ?? 0) + 1);

  const writer = async (learner: LearnerActor) => {
    while (!stopped) {
      const size = Math.random() < 0.6 ? 1 : 2 + Math.floor(Math.random() * 8);
      const request: AnswerRequest = { kind: size === 1 ? 'single' : 'batch', answers: Array.from({ length: size }, () => newAnswer(learner.userId, deck)) };
      await ledger.send(server.baseUrl, learner.token, request);
      responses += 1;
    }
  };
  const reader = async (learner: LearnerActor) => {
    const paths = ['/v1/modules/networking', '/v1/modules/networking/flashcards', '/v1/modules?limit=10', '/v1/me/cards?limit=50', '/v1/me/progress', '/v1/search?q=service', 'graphql'];
    while (!stopped) {
      const path = pick(paths);
      try {
        const response =
          path === 'graphql'
            ? await http(server.baseUrl, 'POST', '/graphql', { body: { query: '{ modules(first: 10) { totalCount nodes { slug version counts { flashcards } } } }' } })
            : await http(server.baseUrl, 'GET', path, { token: learner.token });
        count(response.status);
      } catch (error) {
        count(String((error as { cause?: { code?: string } }).cause?.code ?? error));
      }
      responses += 1;
    }
  };
  const loops = [...learners.map(writer), ...learners.slice(0, 2).map(reader)];
  return {
    ledger,
    reads,
    responses: () => responses,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Asserts no 5xx (nor any other failure) reached a client, and the file holds exactly what was acknowledged. */
function expectHealthy(traffic: Traffic, databasePath: string): void {
  const { ledger } = traffic;
  const summary = `answers: ${ledger.statusSummary()}; reads: ${JSON.stringify(Object.fromEntries(traffic.reads))}`;
  expect([...ledger.statuses.keys()].filter((status) => status >= 500), summary).toEqual([]);
  expect([...traffic.reads.keys()].filter((status) => typeof status !== 'number' || status >= 300), summary).toEqual([]);
  expect(ledger.networkErrors, summary).toBe(0);
  expect(firstFew(ledger.unexpected), summary).toEqual([]);
  const verification = verifyDatabase(databasePath, ledger);
  expect(verification.integrity).toBe('ok');
  expect(firstFew(verification.lost)).toEqual([]);
  expect(firstFew(verification.duplicates)).toEqual([]);
  expect(firstFew(verification.phantoms)).toEqual([]);
  expect(firstFew(verification.stateMismatches)).toEqual([]);
}

/** 400 flashcards and revision items, 200 takeaways and cheat-sheet rows (the format's limits). */
function bulkModule(): ModuleInput {
  const limited = generatedModule('bulk', 200);
  return generatedModule('bulk', 400, { takeaways: limited.takeaways, cheatSheet: limited.cheatSheet });
}

/** The versions the CLI imports: 400 cards, then reworded questions, then 40 cards replaced, then new answers. */
function bulkVersions(): ModuleInput[] {
  const v1 = bulkModule();
  const v2: ModuleInput = {
    ...v1,
    flashcards: v1.flashcards.map((card, index) => (index % 8 === 0 ? { ...card, question: `${card.question} (reworded)` } : card)),
  };
  const v3: ModuleInput = {
    ...v2,
    flashcards: [
      ...v2.flashcards.slice(0, 360),
      ...Array.from({ length: 40 }, (_, index) => ({ key: `new-card-${index + 1}`, question: `What is new item ${index + 1}?`, answer: `New answer ${index + 1}.` })),
    ],
  };
  const v4: ModuleInput = {
    ...v3,
    summary: `${v3.summary}\n\nRevised.`,
    flashcards: v3.flashcards.map((card, index) => (index % 4 === 0 ? { ...card, answer: `${card.answer}\n\nRevised answer.` } : card)),
  };
  return [v1, v2, v3, v4];
}

describe('a second process writing to the database', () => {
  it('(a) CLI imports of a 400-card module during answer traffic: every import succeeds and no client gets a 5xx', { timeout: 120_000 }, async () => {
    const databasePath = join(dir.path, 'imports.db');
    const env = serverEnv(databasePath);
    const server = await launchServer(env);
    try {
      const { learners } = await createActors(server.baseUrl, env, 4);
      const deck = await deckOf(server.baseUrl, 'networking');
      const traffic = startTraffic(server, learners, deck);
      let responsesDuringImports = 0;
      const imports: string[] = [];
      try {
        for (const [index, version] of bulkVersions().entries()) {
          const file = join(dir.path, `bulk-v${index + 1}.json`);
          writeFileSync(file, JSON.stringify(version));
          const before = traffic.responses();
          const result = await runCliAsync(['import', file], env);
          responsesDuringImports += traffic.responses() - before;
          imports.push(`v${index + 1} ${result.ms} ms`);
          expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
          expect(result.stdout).toContain(`bulk ${index === 0 ? 'created' : 'updated'} (version ${index + 1})`);
          // Learners study the new module too, archived cards included (answers on them are still stored).
          if (index === 0) deck.push(...(await deckOf(server.baseUrl, 'bulk')));
        }
      } finally {
        await traffic.stop();
      }

      expectHealthy(traffic, databasePath);
      expect(responsesDuringImports).toBeGreaterThan(0);
      const bulk = await http(server.baseUrl, 'GET', '/v1/modules/bulk');
      expect(bulk.status).toBe(200);
      expect(bulk.body).toMatchObject({ version: 4, flashcards: expect.any(Array) });
      expect(bulk.body.flashcards).toHaveLength(400);
      console.log(
        `concurrent imports: ${imports.join(', ')}; ${responsesDuringImports} responses while importing; ` +
          `${traffic.ledger.acknowledged.size} answers acknowledged and stored (slowest answer request ${traffic.ledger.maxLatencyMs} ms); answers ${traffic.ledger.statusSummary()}; reads ${JSON.stringify(Object.fromEntries(traffic.reads))}`,
      );
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('(b) an online backup during answer traffic is a consistent, intact snapshot', { timeout: 120_000 }, async () => {
    const databasePath = join(dir.path, 'backup-source.db');
    const target = join(dir.path, 'backup.db');
    const env = serverEnv(databasePath);
    const server = await launchServer(env);
    try {
      const { learners } = await createActors(server.baseUrl, env, 4);
      const deck = await deckOf(server.baseUrl, 'networking');
      // Enough content that the backup copies many pages (several backup steps), with writes between them.
      const bulkFile = join(dir.path, 'bulk-for-backup.json');
      writeFileSync(bulkFile, JSON.stringify(bulkModule()));
      expect((await runCliAsync(['import', bulkFile], env)).status).toBe(0);
      deck.push(...(await deckOf(server.baseUrl, 'bulk')));

      const traffic = startTraffic(server, learners, deck);
      let result: Awaited<ReturnType<typeof runCliAsync>>;
      let acknowledgedBefore: Map<string, ReturnType<typeof newAnswer>>;
      try {
        await waitFor(() => traffic.ledger.acknowledged.size >= 200, () => `200 acknowledged answers (${traffic.ledger.statusSummary()})`);
        acknowledgedBefore = new Map(traffic.ledger.acknowledged);
        result = await runCliAsync(['backup', target], env, 60_000);
      } finally {
        await traffic.stop();
      }
      expect(result.signal, 'the backup did not finish within 60 s').toBeNull();
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('integrity_check ok');
      expectHealthy(traffic, databasePath);

      const copy = new Database(target, { readonly: true, fileMustExist: true });
      let slugs: string[];
      try {
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        slugs = (copy.prepare('SELECT slug FROM modules ORDER BY slug').all() as { slug: string }[]).map((row) => row.slug);
      } finally {
        copy.close();
      }
      expect(slugs).toEqual(['bulk', 'networking']);
      // A snapshot: everything acknowledged before the backup started, nothing nobody sent, card states that
      // match the answers it holds.
      const snapshot = verifyDatabase(target, { sent: traffic.ledger.sent, acknowledged: acknowledgedBefore, unknown: new Map() });
      expect(firstFew(snapshot.lost)).toEqual([]);
      expect(firstFew(snapshot.duplicates)).toEqual([]);
      expect(firstFew(snapshot.phantoms)).toEqual([]);
      expect(firstFew(snapshot.stateMismatches)).toEqual([]);
      console.log(
        `online backup: ${result.ms} ms under write load; the copy holds ${snapshot.stored} answers ` +
          `(${acknowledgedBefore.size} acknowledged before it started, ${traffic.ledger.acknowledged.size} by the end) and ${snapshot.cardStates} consistent card states`,
      );
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('(c) tokens never appear in the server logs, valid or not', { timeout: 60_000 }, async () => {
    const databasePath = join(dir.path, 'logs.db');
    // trace: the most verbose level, so nothing a lower level would hide escapes the check.
    const env = serverEnv(databasePath, { LOG_LEVEL: 'trace', SHUTDOWN_GRACE_MS: '1000' });
    const server = await launchServer(env);
    try {
      const { adminToken, integrationToken, learners } = await createActors(server.baseUrl, env, 2);
      const [learner, revoked] = learners as [LearnerActor, LearnerActor];
      const deck = await deckOf(server.baseUrl, 'networking');
      const extra = await http(server.baseUrl, 'POST', '/v1/keys', { token: adminToken, body: { role: 'integration', name: 'second' } });
      expect(extra.status).toBe(201);
      const keys = await http(server.baseUrl, 'GET', '/v1/keys', { token: adminToken });
      const revokedKey = (keys.body.items as { id: string; userId: string | null }[]).find((key) => key.userId === revoked.userId)!;
      expect((await http(server.baseUrl, 'DELETE', `/v1/keys/${revokedKey.id}`, { token: adminToken })).status).toBe(200);

      const unknownToken = `mnemo_${randomBytes(32).toString('base64url')}`;
      const malformedToken = `not-a-token-${randomUUID()}`;
      const tokens = [adminToken, integrationToken, learner.token, revoked.token, extra.body.token as string, unknownToken, malformedToken];
      const header = (value: string) => ({ authorization: value });
      const requests: [string, string, Record<string, string>, unknown?][] = [
        ['GET', '/v1/keys', header(`Bearer ${adminToken}`)],
        ['GET', `/v1/users/${learner.userId}`, header(`Bearer ${integrationToken}`)],
        ['POST', '/v1/me/answers', header(`Bearer ${learner.token}`), { clientAnswerId: randomUUID(), flashcardId: deck[0], rating: 3, answeredAt: new Date().toISOString() }],
        ['POST', '/v1/me/answers', header(`Bearer ${learner.token}`), { clientAnswerId: 'not-a-uuid', flashcardId: deck[0], rating: 9 }],
        ['GET', '/v1/me/progress', header(`Bearer ${learner.token}`)],
        ['POST', '/graphql', header(`Bearer ${learner.token}`), { query: '{ me { id externalId } }' }],
        ['POST', '/graphql', header(`Bearer ${unknownToken}`), { query: '{ me { id } }' }],
        ['GET', '/v1/keys', header(`Bearer ${learner.token}`)],
        ['GET', '/v1/me/progress', header(`Bearer ${revoked.token}`)],
        ['GET', '/v1/me/progress', header(`Bearer ${unknownToken}`)],
        ['GET', '/v1/me/progress', header(`Bearer ${malformedToken}`)],
        ['GET', '/v1/me/progress', header(`bearer ${learner.token}`)],
        ['GET', '/v1/me/progress', header(`Basic ${learner.token}`)],
        ['GET', '/v1/me/progress', header(learner.token)],
        ['GET', '/v1/me/progress', header(`Bearer ${learner.token}junk`)],
        ['GET', '/v1/modules/networking', header(`Bearer ${unknownToken}`)],
        ['GET', '/v1/no-such-route', header(`Bearer ${adminToken}`)],
      ];
      const statuses: number[] = [];
      for (const [method, path, headers, body] of requests) {
        statuses.push((await http(server.baseUrl, method, path, { headers, ...(body !== undefined ? { body } : {}) })).status);
      }
      expect(statuses.filter((status) => status >= 500)).toEqual([]);
      expect(statuses).toContain(401);
      expect(statuses).toContain(403);

      // Requests the HTTP parser refuses (they never reach a route): oversized headers and a malformed request.
      const oversized = await http(server.baseUrl, 'GET', '/v1/me/progress', { headers: { authorization: `Bearer ${learner.token}`, 'x-padding': 'x'.repeat(20_000) } });
      expect(oversized.status).toBe(431);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port });
        let reply = '';
        socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
        socket.on('end', () => resolve(reply));
        socket.on('error', reject);
        socket.write(`GET /v1/me/progress HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken}\r\nBroken Header Line ${adminToken}\r\n\r\n`);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400/);

      server.child.kill('SIGTERM');
      await server.closed;
      const logs = server.logs.join('\n');
      // The check is not vacuous: the requests above were logged.
      expect(logs).toContain('/v1/me/progress');
      expect(logs).toContain('"statusCode":401');
      const leaked = tokens.filter((token) => logs.includes(token) || logs.includes(token.replace(/^mnemo_/, '')));
      expect(leaked.map((token) => `${token.slice(0, 12)}...`)).toEqual([]);
      console.log(`token logging: ${requests.length + 2} requests with ${tokens.length} tokens, ${server.logs.length} log lines, no token in them`);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
