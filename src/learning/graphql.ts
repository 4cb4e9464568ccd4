import type { FastifyInstance } from 'fastify';
import type { IResolvers, MercuriusContext, MercuriusLoaders } from 'mercurius';
import type { Principal } from '../auth/principal.js';
import type { FlashcardRecord } from '../content/records.js';
import type { UserRow } from '../db/schema.js';
import { AppError } from '../errors.js';
import { parseArguments } from '../graphql/arguments.js';
import { nullWhenNotFound } from '../graphql/nullable.js';
import { pageInfo, type Page } from '../lib/page.js';
import { presentOutcome, type AnswerOutcome } from './answers-service.js';
import type { LearningServices } from './services.js';
import { cardsQuery, historyQuery, learnerPageLimits, maxBatchAnswers, progressQuery, studyQuery, type AnswerDto } from './schemas.js';
import type { StudyItem } from './study-service.js';

const schema = /* GraphQL */ `
  type Learner {
    id: ID!
    externalId: String!
    displayName: String
    createdAt: String!
    "Answer history, newest answeredAt first."
    answers(first: Int = 50, after: String, module: String, flashcardId: ID, since: String, until: String): AnswerConnection!
    "FSRS states of the cards this learner has answered."
    cards(module: String, dueOnly: Boolean = false, first: Int = 100, after: String): CardStateConnection!
    "What to study next: due cards, most overdue first, then new cards up to newLimit."
    study(module: String, limit: Int = 20, newLimit: Int = 10): [StudyItem!]!
    progress(module: String): [ModuleProgress!]!
  }

  type Answer {
    id: ID!
    clientAnswerId: ID!
    flashcardId: ID!
    moduleSlug: String!
    rating: Int!
    correct: Boolean
    answeredAt: String!
    receivedAt: String!
    durationMs: Int
    response: String
  }

  type AnswerConnection {
    nodes: [Answer!]!
    pageInfo: PageInfo!
  }

  type CardState {
    flashcardId: ID!
    moduleSlug: String!
    "new, learning, review or relearning"
    state: String!
    due: String!
    stability: Float!
    difficulty: Float!
    reps: Int!
    lapses: Int!
    lastAnsweredAt: String!
    retrievability: Float!
  }

  type CardStateConnection {
    nodes: [CardState!]!
    pageInfo: PageInfo!
  }

  type StudyItem {
    "due or new"
    reason: String!
    flashcard: Flashcard!
    state: CardState
  }

  type ModuleProgress {
    moduleSlug: String!
    totalCards: Int!
    seenCards: Int!
    dueNow: Int!
    mastered: Int!
    answers: Int!
    accuracy: Float
    lastAnsweredAt: String
    streakDays: Int!
  }

  input AnswerInput {
    clientAnswerId: ID!
    flashcardId: ID!
    "1 Again, 2 Hard, 3 Good, 4 Easy"
    rating: Int
    correct: Boolean
    answeredAt: String!
    durationMs: Int
    response: String
  }

  enum AnswerStatus {
    CREATED
    DUPLICATE
    CONFLICT
    INVALID
  }

  type AnswerError {
    code: String!
    message: String!
  }

  type AnswerResult {
    clientAnswerId: String
    status: AnswerStatus!
    answer: Answer
    error: AnswerError
  }

  extend type Flashcard {
    "The caller's FSRS state for this card (learner keys); null when never answered or for other keys."
    myState: CardState
  }

  extend type Query {
    "The learner of a learner key."
    me: Learner
    "A learner by id (admin, or the integration that created it); null when not visible to the caller."
    user(id: ID!): Learner
  }

  extend type Mutation {
    "Record one answer; idempotent on clientAnswerId. userId: the learner to act for (admin and integration keys)."
    recordAnswer(input: AnswerInput!, userId: ID): Answer!
    "Record up to ${maxBatchAnswers} answers in one transaction, with a result per answer in input order."
    recordAnswers(inputs: [AnswerInput!]!, userId: ID): [AnswerResult!]!
  }
`;

type Context = Pick<MercuriusContext, 'principal'>;
type LearnerContext = Pick<MercuriusContext, 'contentAccess' | 'responseBudget'>;

/**
 * How long each list of the learning slice can be. Progress has a row per module the learner answered in; it
 * has no hard limit, so 1,000 modules is assumed, and the response size cap covers a learner beyond that.
 */
const listBounds = {
  Learner: {
    answers: { argument: 'first', max: learnerPageLimits.history },
    cards: { argument: 'first', max: learnerPageLimits.cards },
    study: learnerPageLimits.study + learnerPageLimits.newCards,
    progress: 1000,
  },
  Mutation: { recordAnswers: maxBatchAnswers },
};

type PageArgs = { first: number; after?: string | null };

/** GraphQL gives absent optional inputs as null; the services expect them absent. */
const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== null && entry !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };

const connection = <T>(page: Page<T>) => ({ nodes: page.items, pageInfo: pageInfo(page) });

function resolvers({ users, answers, study }: LearningServices): IResolvers {
  /** The learner a mutation acts for: the caller's own (learner key) or `userId` (admin, integration). */
  const actingFor = (principal: Principal | null, userId: string | null | undefined): Promise<UserRow> =>
    userId ? users.accessibleUser(principal, userId) : users.selfUser(principal);

  const outcome = (result: AnswerOutcome) => ({ ...presentOutcome(result), status: result.status.toUpperCase() });

  return {
    Query: {
      me: (_root: unknown, _args: unknown, context: Context) => users.selfUser(context.principal),
      user: (_root: unknown, args: { id: string }, context: Context) =>
        nullWhenNotFound(() => users.accessibleUser(context.principal, args.id), 'MNEMO_LEARNING_USER_NOT_FOUND'),
    },
    Mutation: {
      recordAnswer: async (_root: unknown, args: { input: object; userId?: string | null }, context: Context) =>
        (await answers.recordOne(await actingFor(context.principal, args.userId), defined(args.input))).answer,
      recordAnswers: async (_root: unknown, args: { inputs: object[]; userId?: string | null }, context: Context) => {
        if (args.inputs.length > maxBatchAnswers) {
          throw new AppError('MNEMO_REQUEST_INVALID', `at most ${maxBatchAnswers} answers per batch`);
        }
        const user = await actingFor(context.principal, args.userId);
        return (await answers.recordBatch(user, args.inputs.map(defined))).map(outcome);
      },
    },
    // Arguments go through the zod schemas of the matching REST routes: one definition of every limit. A module
    // filter resolves under the caller's visibility, as over REST (admins may name an archived module).
    Learner: {
      answers: async (user: UserRow, args: PageArgs & { module?: string | null; flashcardId?: string | null; since?: string | null; until?: string | null }, context: LearnerContext) => {
        const { first, after, ...filters } = args;
        return connection(await answers.history(user, parseArguments(historyQuery, { ...filters, limit: first, cursor: after }), context.contentAccess));
      },
      cards: async (user: UserRow, args: PageArgs & { module?: string | null; dueOnly: boolean }, context: LearnerContext) => {
        const { due: _due, ...query } = parseArguments(cardsQuery, { module: args.module, limit: args.first, cursor: args.after });
        return connection(await study.cards(user, { ...query, due: args.dueOnly }, context.contentAccess));
      },
      study: (user: UserRow, args: { module?: string | null; limit: number; newLimit: number }, context: LearnerContext) =>
        study.study(user, parseArguments(studyQuery, args), context.contentAccess),
      progress: (user: UserRow, args: { module?: string | null }, context: LearnerContext) =>
        study.progress(user, parseArguments(progressQuery, args), context.contentAccess),
    },
    Answer: {
      // Answer texts (up to 10,000 characters each) count against the response size budget like content text.
      response: (answer: AnswerDto, _args: unknown, context: LearnerContext) => context.responseBudget.spend(answer.response ?? null),
    },
    StudyItem: {
      flashcard: (item: StudyItem): FlashcardRecord => item.card,
    },
  };
}

function loaders({ users, study }: LearningServices): MercuriusLoaders {
  return {
    Flashcard: {
      myState: {
        // Per-request batching of every card's state in one query; no cross-request cache.
        loader: async (queries: { obj: FlashcardRecord }[], context: Context) => {
          const principal = context.principal;
          if (principal?.role !== 'learner') return queries.map(() => null);
          return study.statesOfCards(await users.selfUser(principal), queries.map((query) => query.obj.id));
        },
        opts: { cache: false },
      },
    },
  } as unknown as MercuriusLoaders;
}

/** The learning slice of the GraphQL schema: the same services as the REST routes, authorised the same way. */
export function registerLearningGraphql(app: FastifyInstance): void {
  app.graphql.extendSchema(schema);
  app.graphql.defineResolvers(resolvers(app.learning));
  app.graphql.defineLoaders(loaders(app.learning));
  for (const [type, fields] of Object.entries(listBounds)) app.graphqlListBounds.define(type, fields);
}
