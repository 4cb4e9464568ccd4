/**
 * Which modules a caller may address. Decided once per request from the principal (`contentVisibility` in
 * auth/principal.ts: admins see archived modules, everyone else does not) and passed by every door (REST route,
 * GraphQL context, CLI) to the services, which apply `isVisible` and nothing else.
 *
 * The rule:
 * - a module addressed by slug or id (a content read, a flashcard's module, a learner's `module` filter) is found
 *   when it is live, or archived and the visibility includes archived modules; otherwise it is reported missing,
 *   exactly like a module that never existed (404);
 * - lists (modules, search, progress without a filter, the study queue) hold live modules only, for every caller.
 */
export interface Visibility {
  readonly includeArchived: boolean;
}

/** Live modules only: anonymous callers, learners, integrations, and any list. */
export const liveOnly: Visibility = Object.freeze({ includeArchived: false });

/** Archived modules included: admins, and operators at the CLI. */
export const includingArchived: Visibility = Object.freeze({ includeArchived: true });

export const isVisible = (module: { archivedAt: string | null }, visibility: Visibility): boolean =>
  module.archivedAt === null || visibility.includeArchived;
