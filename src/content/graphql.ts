import type { FastifyInstance } from 'fastify';
import type { IResolvers, MercuriusContext, MercuriusLoaders } from 'mercurius';
import { requireRole } from '../auth/principal.js';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { ResponseBudget } from '../graphql/context.js';
import { nullWhenNotFound } from '../graphql/nullable.js';
import { pageInfo } from '../lib/page.js';
import { sourceLimits } from './module-source/module-input.js';
import type { RenderedText, TextFormat } from './module-source/text-format.js';
import { pick } from './present.js';
import type { CheatSheetRowRecord, FlashcardRecord, ModuleRecord, RevisionItemRecord, TakeawayRecord } from './records.js';
import { modulesPageLimit } from './schemas.js';
import type { ContentService } from './service.js';

const schema = /* GraphQL */ `
  type SectionCounts {
    takeaways: Int!
    flashcards: Int!
    cheatSheetRows: Int!
    revisionItems: Int!
  }

  type Module {
    id: ID!
    slug: String!
    title(format: TextFormat = MARKDOWN): String!
    summary(format: TextFormat = MARKDOWN): String
    tags: [String!]!
    version: Int!
    createdAt: String!
    updatedAt: String!
    counts: SectionCounts!
    takeaways: [Takeaway!]!
    flashcards: [Flashcard!]!
    cheatSheet: CheatSheet
    revisionItems: [RevisionItem!]!
  }

  type Takeaway {
    id: ID!
    position: Int!
    title(format: TextFormat = MARKDOWN): String!
    body(format: TextFormat = MARKDOWN): String!
  }

  type Flashcard {
    id: ID!
    key: String!
    position: Int!
    question(format: TextFormat = MARKDOWN): String!
    answer(format: TextFormat = MARKDOWN): String!
    "True when a later import removed the card: it is out of the deck but stays resolvable by id."
    archived: Boolean!
    module: Module!
  }

  type CheatSheet {
    columns(format: TextFormat = MARKDOWN): [String!]!
    rows: [CheatSheetRow!]!
  }

  type CheatSheetRow {
    position: Int!
    cells(format: TextFormat = MARKDOWN): [String!]!
  }

  type RevisionItem {
    id: ID!
    position: Int!
    term(format: TextFormat = MARKDOWN): String!
    definition(format: TextFormat = MARKDOWN): String!
  }

  type ModuleConnection {
    nodes: [Module!]!
    pageInfo: PageInfo!
    totalCount: Int!
  }

  enum ModuleFormat {
    MARKDOWN
    JSON
  }

  type SectionChanges {
    added: Int!
    updated: Int!
    removed: Int!
  }

  type ImportChanges {
    takeaways: SectionChanges!
    flashcards: SectionChanges!
    cheatSheet: SectionChanges!
    revisionItems: SectionChanges!
  }

  type ImportResult {
    slug: String!
    version: Int!
    "created, updated or unchanged"
    status: String!
    changes: ImportChanges!
    dryRun: Boolean!
  }

  type ArchiveResult {
    slug: String!
    version: Int!
    archived: Boolean!
  }

  extend type Mutation {
    "Create or update a module from its source (admin). Errors list every problem with its line or JSON path."
    importModule(source: String!, format: ModuleFormat!, dryRun: Boolean = false): ImportResult!
    "Hide a module from lists and reads (admin); nothing is deleted."
    archiveModule(slug: String!): ArchiveResult!
    restoreModule(slug: String!): ArchiveResult!
  }

  extend type Query {
    "Live modules in slug order. first: 1 to ${modulesPageLimit}."
    modules(first: Int = 20, after: String, tag: String): ModuleConnection!
    "A module by slug; null when there is none."
    module(slug: String!): Module
    "A flashcard by id, archived ones included; null when there is none."
    flashcard(id: ID!): Flashcard
  }
`;

/** How long each list of the content slice can be: the import limits, and the page size of `modules`. */
const listBounds = {
  Query: { modules: { argument: 'first', max: modulesPageLimit } },
  Module: {
    tags: sourceLimits.tags,
    takeaways: sourceLimits.takeaways,
    flashcards: sourceLimits.flashcards,
    revisionItems: sourceLimits.revisionItems,
  },
  CheatSheet: { columns: sourceLimits.cheatSheetColumns, rows: sourceLimits.cheatSheetRows },
  CheatSheetRow: { cells: sourceLimits.cheatSheetColumns },
};

type FormatArgs = { format: 'MARKDOWN' | 'HTML' | 'TEXT' };
type TextContext = { responseBudget: ResponseBudget };
const formats: Record<FormatArgs['format'], TextFormat> = { MARKDOWN: 'markdown', HTML: 'html', TEXT: 'text' };
// Every text a content answer carries is spent from the request's response budget as it is resolved.
const text = (value: RenderedText, args: FormatArgs, context: TextContext) => context.responseBudget.spend(pick(value, formats[args.format]));
const texts = (values: RenderedText[], args: FormatArgs, context: TextContext) => values.map((value) => text(value, args, context));

interface CheatSheetNode {
  columns: RenderedText[];
  rows: CheatSheetRowRecord[];
}

interface ConnectionNode {
  nodes: ModuleRecord[];
  pageInfo: ReturnType<typeof pageInfo>;
  tag: string | undefined;
}

const pageArgs = z.object({
  first: z.number().int().min(1, `first must be between 1 and ${modulesPageLimit}`).max(modulesPageLimit, `first must be between 1 and ${modulesPageLimit}`),
  after: z.string().max(512).nullish(),
  tag: z.string().max(40).nullish(),
});


// Content resolvers see the caller only through `contentAccess` (part of every response-cache key); reading
// `context.principal` would make the answer caller-dependent. CONTENT_REQUIRES_AUTH is enforced for the whole
// endpoint when the context is built.
function resolvers(service: ContentService): IResolvers {
  return {
    Query: {
      modules: async (_root: unknown, args: { first: number; after?: string | null; tag?: string | null }): Promise<ConnectionNode> => {
        const parsed = pageArgs.safeParse(args);
        if (!parsed.success) {
          throw new AppError('MNEMO_REQUEST_INVALID', parsed.error.issues.map((issue) => issue.message).join('; '));
        }
        const { first, after, tag } = parsed.data;
        const page = await service.listModules({ limit: first, cursor: after ?? undefined, tag: tag ?? undefined });
        return { nodes: page.items, pageInfo: pageInfo(page), tag: tag ?? undefined };
      },
      // The whole-module content comes from the service's version-keyed cache, so section loaders find it there.
      module: (_root: unknown, args: { slug: string }, context: MercuriusContext) => {
        return nullWhenNotFound(async () => (await service.getModuleContent(args.slug, context.contentAccess)).module, 'MNEMO_CONTENT_MODULE_NOT_FOUND');
      },
      flashcard: (_root: unknown, args: { id: string }, context: MercuriusContext) => {
        return nullWhenNotFound(async () => (await service.getFlashcard(args.id, context.contentAccess)).card, 'MNEMO_CONTENT_FLASHCARD_NOT_FOUND');
      },
    },
    Mutation: {
      importModule: async (_root: unknown, args: { source: string; format: 'MARKDOWN' | 'JSON'; dryRun: boolean }, context: MercuriusContext) => {
        const admin = requireRole(context.principal, 'admin');
        return service.importModule(args.source, args.format === 'JSON' ? 'json' : 'markdown', { dryRun: args.dryRun === true, importedBy: admin.name });
      },
      archiveModule: (_root: unknown, args: { slug: string }, context: MercuriusContext) => {
        requireRole(context.principal, 'admin');
        return service.archiveModule(args.slug);
      },
      restoreModule: (_root: unknown, args: { slug: string }, context: MercuriusContext) => {
        requireRole(context.principal, 'admin');
        return service.restoreModule(args.slug);
      },
    },
    ModuleConnection: {
      totalCount: (connection: ConnectionNode) => service.countModules(connection.tag),
    },
    Module: {
      title: (module: ModuleRecord, args: FormatArgs, context: TextContext) => text(module.title, args, context),
      summary: (module: ModuleRecord, args: FormatArgs, context: TextContext) => (module.summary ? text(module.summary, args, context) : null),
    },
    Takeaway: {
      title: (item: TakeawayRecord, args: FormatArgs, context: TextContext) => text(item.title, args, context),
      body: (item: TakeawayRecord, args: FormatArgs, context: TextContext) => text(item.body, args, context),
    },
    Flashcard: {
      question: (card: FlashcardRecord, args: FormatArgs, context: TextContext) => text(card.question, args, context),
      answer: (card: FlashcardRecord, args: FormatArgs, context: TextContext) => text(card.answer, args, context),
      archived: (card: FlashcardRecord) => card.archivedAt !== null,
    },
    CheatSheet: {
      columns: (sheet: CheatSheetNode, args: FormatArgs, context: TextContext) => texts(sheet.columns, args, context),
    },
    CheatSheetRow: {
      cells: (row: CheatSheetRowRecord, args: FormatArgs, context: TextContext) => texts(row.cells, args, context),
    },
    RevisionItem: {
      term: (item: RevisionItemRecord, args: FormatArgs, context: TextContext) => text(item.term, args, context),
      definition: (item: RevisionItemRecord, args: FormatArgs, context: TextContext) => text(item.definition, args, context),
    },
  };
}

type Query<T> = { obj: T }[];
type LoaderContext = Pick<MercuriusContext, 'contentAccess'>;
// Loader results are plain records; mercurius' own loader cache would serialise every parent to build its key.
const uncached = <T>(loader: (queries: Query<T>, context: LoaderContext) => Promise<unknown[]>) => ({
  loader: async (queries: Query<T>, context: LoaderContext) => loader(queries, context),
  opts: { cache: false },
});
const modulesOf = (queries: Query<ModuleRecord>) => queries.map((query) => query.obj);

function loaders(service: ContentService): MercuriusLoaders {
  return {
    Module: {
      takeaways: uncached((queries: Query<ModuleRecord>) => service.takeawaysOfMany(modulesOf(queries))),
      flashcards: uncached((queries: Query<ModuleRecord>) => service.decksOfMany(modulesOf(queries))),
      revisionItems: uncached((queries: Query<ModuleRecord>) => service.revisionItemsOfMany(modulesOf(queries))),
      cheatSheet: uncached(async (queries: Query<ModuleRecord>) => {
        const modules = modulesOf(queries);
        const rows = await service.cheatSheetRowsOfMany(modules);
        return modules.map((module, index): CheatSheetNode | null =>
          module.cheatSheetColumns ? { columns: module.cheatSheetColumns, rows: rows[index]! } : null,
        );
      }),
    },
    Flashcard: {
      // The caller's visibility, as for `flashcard(id)`: an admin's archived card has its (archived) module.
      module: uncached((queries: Query<FlashcardRecord>, context) =>
        service.modulesByIds(
          queries.map((query) => query.obj.moduleId),
          context.contentAccess,
        ),
      ),
    },
  } as unknown as MercuriusLoaders;
}

/** The content slice of the GraphQL schema: same service as REST, formats picked field by field. */
export function registerContentGraphql(app: FastifyInstance): void {
  app.graphql.extendSchema(schema);
  app.graphql.defineResolvers(resolvers(app.content));
  app.graphql.defineLoaders(loaders(app.content));
  for (const [type, fields] of Object.entries(listBounds)) app.graphqlListBounds.define(type, fields);
}
