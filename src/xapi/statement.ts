import { createHash } from 'node:crypto';

/** What a statement is built from: one stored answer, its learner and its flashcard, as the database holds them. */
export interface StatementSource {
  answerId: string;
  userId: string;
  clientAnswerId: string;
  rating: number;
  /** 1 or 0; null for answers stored before `correct` was derived from the rating. */
  correct: number | null;
  answeredAt: string;
  receivedAt: string;
  durationMs: number | null;
  response: string | null;
  externalId: string;
  /** The integration key that created the learner ('' when an admin did). */
  owner: string;
  /** The learner's owner key's own homePage, when it set one. */
  keyHomePage: string | null;
  flashcardKey: string;
  questionText: string;
  moduleSlug: string;
  moduleTitleText: string;
}

/** Deployment settings every statement follows (XAPI_* variables). */
export interface StatementSettings {
  /** The account homePage of learners an admin created, and the base of integrations' own (`homePageOf`). */
  accountHomePage: string;
  /** Activities are `<activityBase>/modules/<slug>` and `<activityBase>/modules/<slug>/flashcards/<key>`. */
  activityBase: string;
  /** RFC 5646 tag of the content, when the deployment knows it: `context.language` and the key of names. */
  language: string | undefined;
}

export const answeredVerb = 'http://adlnet.gov/expapi/verbs/answered';
const interactionType = 'http://adlnet.gov/expapi/activities/cmi.interaction';
const moduleType = 'http://adlnet.gov/expapi/activities/module';

/** The namespace of statement ids (UUID v5): fixed, so every instance and every release derives the same ids. */
const statementNamespace = Buffer.from('6f1c2b0e9d4a4e57a6b1c3d2e5f70819', 'hex');

/**
 * The statement id of a learner's answer: a UUID v5 of (learner, clientAnswerId), so a retried answer, a redelivery
 * and a backfill all carry the same id and the LRS stores the statement once.
 */
export function statementIdOf(userId: string, clientAnswerId: string): string {
  const hash = createHash('sha1').update(statementNamespace).update(`${userId}\u0000${clientAnswerId}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const trimSlash = (iri: string) => iri.replace(/\/+$/, '');

export const moduleActivityId = (settings: StatementSettings, slug: string) => `${trimSlash(settings.activityBase)}/modules/${encodeURIComponent(slug)}`;

export const flashcardActivityId = (settings: StatementSettings, slug: string, key: string) =>
  `${moduleActivityId(settings, slug)}/flashcards/${encodeURIComponent(key)}`;

export const ratingExtension = (settings: StatementSettings) => `${trimSlash(settings.activityBase)}/extensions/fsrs-rating`;

/** Where the default homePages of integrations' learners start: `<XAPI_ACCOUNT_HOMEPAGE>/integrations/<key id>`. */
export const integrationsHomePage = (settings: StatementSettings) => `${trimSlash(settings.accountHomePage)}/integrations/`;

/**
 * The account homePage a learner is known by: its owner key's own, else one per integration under the deployment's,
 * else (a learner an admin created) the deployment's. Per integration, because externalIds are unique per
 * integration only: two integrations' "student-42" must never be one agent in a shared LRS.
 */
export const homePageOf = (settings: StatementSettings, owner: string, keyHomePage: string | null) =>
  keyHomePage ?? (owner === '' ? settings.accountHomePage : `${integrationsHomePage(settings)}${owner}`);

/** ISO 8601 duration of `ms` milliseconds, in seconds (`PT1.5S`), as xAPI's `result.duration` takes it. */
export function isoDuration(ms: number): string {
  return `PT${Number((ms / 1000).toFixed(3))}S`;
}

export type Statement = ReturnType<typeof buildStatement>;

/**
 * The one mapping of an answer to its xAPI statement, pushed to an LRS and served by GET /xapi/statements alike.
 * `stored` (when the server received the answer) is set only for the statement resource: an LRS sets its own.
 */
export function buildStatement(source: StatementSource, settings: StatementSettings, options: { stored?: boolean } = {}) {
  const language = settings.language ?? 'und';
  const success = source.correct === null ? source.rating > 1 : source.correct === 1;
  return {
    id: statementIdOf(source.userId, source.clientAnswerId),
    actor: { objectType: 'Agent' as const, account: { homePage: homePageOf(settings, source.owner, source.keyHomePage), name: source.externalId } },
    verb: { id: answeredVerb, display: { 'en-US': 'answered' } },
    object: {
      objectType: 'Activity' as const,
      id: flashcardActivityId(settings, source.moduleSlug, source.flashcardKey),
      definition: { type: interactionType, interactionType: 'other', name: { [language]: source.questionText } },
    },
    result: {
      success,
      ...(source.response === null ? {} : { response: source.response }),
      ...(source.durationMs === null ? {} : { duration: isoDuration(source.durationMs) }),
      extensions: { [ratingExtension(settings)]: source.rating },
    },
    context: {
      contextActivities: {
        parent: [
          {
            objectType: 'Activity' as const,
            id: moduleActivityId(settings, source.moduleSlug),
            definition: { type: moduleType, name: { [language]: source.moduleTitleText } },
          },
        ],
      },
      platform: 'mnemo',
      ...(settings.language === undefined ? {} : { language: settings.language }),
    },
    timestamp: source.answeredAt,
    ...(options.stored ? { stored: source.receivedAt } : {}),
  };
}
