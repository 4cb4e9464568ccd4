import type { ContentService } from '../content/service.js';
import type { Visibility } from '../content/visibility.js';
import type { Work } from '../db/work.js';

/** What the learning services need of content to resolve a `module` filter. */
export type ModuleLookup = Pick<ContentService, 'getModuleHeadWork'>;

/**
 * The id of the module a `module` filter names, resolved by content under the caller's visibility: an unknown
 * slug, or an archived module the caller may not see, is a 404 (MNEMO_CONTENT_MODULE_NOT_FOUND), not an empty
 * result. No filter: undefined.
 */
export function* moduleIdOf(modules: ModuleLookup, slug: string | undefined, visibility: Visibility): Work<string | undefined> {
  if (slug === undefined) return undefined;
  return (yield* modules.getModuleHeadWork(slug, visibility)).id;
}
