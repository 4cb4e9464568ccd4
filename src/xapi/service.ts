import { requireRole, type Principal } from '../auth/principal.js';
import type { XapiConfig } from '../config.js';
import { AppError } from '../errors.js';
import { createDispatcher, type DispatcherOptions } from './dispatcher.js';
import type { StatementScope, StatementsQuery, XapiRepository } from './repository.js';
import { answeredVerb, buildStatement, integrationsHomePage, statementIdOf, type Statement, type StatementSettings } from './statement.js';

/** Statements per page of GET /xapi/statements at most (what `limit=0` gives). */
export const maxStatementsPerPage = 250;
/** Parked statements the admin status lists. */
const parkedSampleSize = 20;
/** Answers queued per transaction by a backfill. */
const backfillChunk = 5000;
/** Learners whose answer keys one read of a lookup by statement id takes. */
const learnersPerRead = 200;

/** The statement resource's filters once read (routes.ts validates the query string's syntax). */
export interface StatementFilters {
  agent?: unknown;
  verb?: string | undefined;
  activity?: string | undefined;
  registration?: string | undefined;
  relatedActivities: boolean;
  since?: string | undefined;
  until?: string | undefined;
  ascending: boolean;
}

export interface StatementPage {
  statements: Statement[];
  /** The keyset position after the page's last statement; undefined on the last page. */
  next: string | undefined;
}

/**
 * At most `running` holders at once, `waiting` more queued; beyond that `refuse()` is thrown. `acquire` resolves to
 * the release of the slot.
 */
function createLimiter(running: number, waiting: number, refuse: () => Error) {
  let active = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return {
    acquire(): Promise<() => void> {
      if (active < running) {
        active++;
        return Promise.resolve(release);
      }
      if (queue.length >= waiting) return Promise.reject(refuse());
      return new Promise((resolve) => queue.push(() => resolve(release)));
    },
  };
}

const scopeOf = (principal: Principal): StatementScope =>
  principal.role === 'admin' ? { kind: 'all' } : principal.role === 'integration' ? { kind: 'owner', keyId: principal.keyId } : { kind: 'user', userId: principal.userId };

const invalidAgent = (message: string) => new AppError('MNEMO_REQUEST_INVALID', `agent: ${message}`, [{ path: 'agent', message }]);

/** The learner an `agent` parameter names (an account agent), or null for an agent that can match no statement here. */
function accountOf(agent: unknown): { homePage: string; name: string } | null {
  if (typeof agent !== 'object' || agent === null || Array.isArray(agent)) throw invalidAgent('must be an Agent or Group object');
  const object = agent as Record<string, unknown>;
  if (object.objectType !== undefined && object.objectType !== 'Agent' && object.objectType !== 'Group') throw invalidAgent('objectType must be Agent or Group');
  const identifiers = ['mbox', 'mbox_sha1sum', 'openid', 'account'].filter((key) => object[key] !== undefined);
  if (identifiers.length !== 1 && object.objectType !== 'Group') throw invalidAgent('must have exactly one of mbox, mbox_sha1sum, openid or account');
  if (object.objectType === 'Group' || identifiers[0] !== 'account') return null;
  const account = object.account as Record<string, unknown> | null;
  if (typeof account !== 'object' || account === null || typeof account.homePage !== 'string' || typeof account.name !== 'string') {
    throw invalidAgent('account must have a homePage and a name');
  }
  return { homePage: account.homePage, name: account.name };
}

/**
 * xAPI for LMSs: the outbox's status and re-queue (admin), backfill (CLI), and the statement resource's reads, with
 * the same tenancy as the rest of the API: an integration sees its own learners' statements, a learner its own.
 */
export function createXapiService(repository: XapiRepository, config: XapiConfig, now: () => Date = () => new Date()) {
  const settings: StatementSettings = { accountHomePage: config.accountHomePage, activityBase: config.activityBase, language: config.language };
  const listeners = new Set<() => void>();
  const lookups = createLimiter(2, 16, () => new AppError('MNEMO_OVERLOADED', 'too many statement lookups are running; retry in a few seconds'));
  const modulesBase = `${config.activityBase.replace(/\/+$/, '')}/modules/`;

  /** The owner whose learners a default homePage names ('' for an admin's), undefined for any other homePage. */
  function defaultOwnerOf(homePage: string): string | undefined {
    if (homePage === config.accountHomePage) return '';
    const base = integrationsHomePage(settings);
    const owner = homePage.startsWith(base) ? homePage.slice(base.length) : '';
    return owner !== '' && !owner.includes('/') ? owner : undefined;
  }

  /** The flashcard or module an activity IRI names here, or null for any other activity (which has no statements). */
  function activityOf(iri: string): { moduleSlug: string; key?: string } | null {
    if (!iri.startsWith(modulesBase)) return null;
    const parts = iri.slice(modulesBase.length).split('/');
    try {
      if (parts.length === 1 && parts[0]) return { moduleSlug: decodeURIComponent(parts[0]) };
      if (parts.length === 3 && parts[0] && parts[1] === 'flashcards' && parts[2]) return { moduleSlug: decodeURIComponent(parts[0]), key: decodeURIComponent(parts[2]) };
    } catch {
      return null;
    }
    return null;
  }

  /** The page's query, or null when the filters exclude every statement mnemo makes. */
  function queryOf(principal: Principal, filters: StatementFilters, after: string | undefined, limit: number): StatementsQuery | null {
    const query: StatementsQuery = { scope: scopeOf(principal), ascending: filters.ascending, limit, after, since: filters.since, until: filters.until };
    if (filters.agent !== undefined) {
      const account = accountOf(filters.agent);
      if (!account) return null;
      query.agent = { ...account, owner: defaultOwnerOf(account.homePage) };
    }
    if (filters.verb !== undefined && filters.verb !== answeredVerb) return null;
    if (filters.registration !== undefined) return null;
    if (filters.activity !== undefined) {
      const activity = activityOf(filters.activity);
      if (!activity) return null;
      // A module is only ever a statement's parent (context) activity: found through related_activities.
      if (activity.key === undefined) {
        if (!filters.relatedActivities) return null;
        query.moduleSlug = activity.moduleSlug;
      } else query.flashcard = { moduleSlug: activity.moduleSlug, key: activity.key };
    }
    return query;
  }

  return {
    settings,

    /** The process's dispatcher of the outbox to the LRS (the server's xapi plugin starts one when an LRS is configured). */
    dispatcher: (options: Omit<DispatcherOptions, 'repository' | 'settings'>) => createDispatcher({ ...options, repository, settings }),

    /** Listeners told when answers' statements have been queued (the dispatcher, to look at once). */
    onQueued(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    queued(): void {
      for (const listener of listeners) listener();
    },

    async status(principal: Principal | null) {
      requireRole(principal, 'admin');
      const status = await repository.read(() => repository.status(parkedSampleSize));
      const at = now();
      return {
        lrsConfigured: config.lrs !== undefined,
        pending: status.pending,
        delivered: status.delivered,
        parked: status.parked,
        oldestPendingAgeSeconds: status.oldestPendingAt === null ? null : Math.max(0, Math.round((at.getTime() - Date.parse(status.oldestPendingAt)) / 1000)),
        lastError: status.lastError === null ? null : { message: status.lastError, at: status.lastErrorAt },
        parkedStatements: status.parkedSamples.map((row) => ({ statementId: statementIdOf(row.userId, row.clientAnswerId), reason: row.reason, parkedAt: row.parkedAt })),
      };
    },

    async retryParked(principal: Principal | null): Promise<{ requeued: number }> {
      requireRole(principal, 'admin');
      const requeued = await repository.write(() => repository.requeueParked(now().toISOString()));
      if (requeued) this.queued();
      return { requeued };
    },

    /** Queues the statements of answers received at or after `since` (all answers without it) that are not queued. */
    async backfill(since: string | undefined): Promise<{ queued: number }> {
      let afterId = '';
      let queued = 0;
      for (;;) {
        const at = now().toISOString();
        const chunk = await repository.write(() => repository.backfill(since, afterId, backfillChunk, at));
        if (chunk.lastId === undefined) return { queued };
        queued += chunk.queued;
        afterId = chunk.lastId;
      }
    },

    /** One page of the caller's statements, newest first unless `ascending`. */
    async statements(principal: Principal | null, filters: StatementFilters, after: string | undefined, limit: number): Promise<StatementPage> {
      const caller = requireRole(principal, 'admin', 'integration', 'learner');
      const query = queryOf(caller, filters, after, limit + 1);
      if (!query) return { statements: [], next: undefined };
      const rows = await repository.read(() => repository.statements(query));
      const page = rows.slice(0, limit);
      return {
        statements: page.map((row) => buildStatement(row, settings, { stored: true })),
        next: rows.length > limit ? page.at(-1)!.answerId : undefined,
      };
    },

    /**
     * The caller's statement with this id, if any. Ids are hashes of (learner, clientAnswerId), so the lookup reads
     * the answer keys of the caller's learners (a learner's own are few), 200 learners per read, and hashes them:
     * linear in the answers in scope, other requests served between reads, at most two lookups at once per process.
     */
    async statement(principal: Principal | null, statementId: string): Promise<Statement> {
      const caller = requireRole(principal, 'admin', 'integration', 'learner');
      const id = statementId.toLowerCase();
      const scope = scopeOf(caller);
      const release = await lookups.acquire();
      try {
        let after = '';
        for (;;) {
          const learners = await repository.read(() => repository.learnersInScope(scope, after, learnersPerRead));
          const keys = await repository.read(() => repository.answerKeysOf(learners.userIds));
          const match = keys.find((key) => statementIdOf(key.userId, key.clientAnswerId) === id);
          if (match) {
            const source = await repository.read(() => repository.sourceOf(match.userId, match.clientAnswerId));
            if (source) return buildStatement(source, settings, { stored: true });
          }
          if (learners.next === undefined) break;
          after = learners.next;
        }
      } finally {
        release();
      }
      throw new AppError('MNEMO_XAPI_STATEMENT_NOT_FOUND', `no statement with id "${statementId}"`);
    },
  };
}

export type XapiService = ReturnType<typeof createXapiService>;
