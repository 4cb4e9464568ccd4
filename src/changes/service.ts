import { z } from 'zod';
import type { ContentListener } from '../content/import-module.js';
import type { Work } from '../db/work.js';
import { decodeCursor, encodeCursor } from '../lib/cursor.js';
import { keysetPage } from '../lib/page.js';
import type { ChangesRepository, NewChange } from './repository.js';

export interface ChangeDto {
  entity: 'module' | 'flashcard';
  id: string;
  moduleSlug: string;
  op: 'upsert' | 'archive';
  version: number;
  /** When the change was written (ISO 8601, UTC). */
  changedAt: string;
}

const feedCursor = { seq: z.number().int().min(0) };

/**
 * The change feed for offline clients. Entries are written by the content transactions (as a ContentListener),
 * so a client that stores `nextCursor` and asks again gets exactly what changed since: no gaps, no repeats.
 */
export function createChangesService(repository: ChangesRepository, now: () => Date = () => new Date()) {
  const listener: ContentListener = {
    *moduleWritten({ module, upsertedFlashcardIds, archivedFlashcardIds }) {
      // While a module is archived its edits stay out of the feed; restoring it announces its current state.
      if (module.archivedAt !== null) return;
      const at = now().toISOString();
      const entry = (entity: NewChange['entity'], entityId: string, op: NewChange['op']): NewChange => ({
        entity,
        entityId,
        op,
        moduleSlug: module.slug,
        version: module.version,
        createdAt: at,
      });
      yield* repository.record([
        entry('module', module.id, 'upsert'),
        ...upsertedFlashcardIds.map((id) => entry('flashcard', id, 'upsert')),
        ...archivedFlashcardIds.map((id) => entry('flashcard', id, 'archive')),
      ]);
    },
    *moduleArchived(module) {
      yield* repository.record([{ entity: 'module', entityId: module.id, op: 'archive', moduleSlug: module.slug, version: module.version, createdAt: now().toISOString() }]);
    },
    *moduleRestored(module) {
      yield* repository.record([{ entity: 'module', entityId: module.id, op: 'upsert', moduleSlug: module.slug, version: module.version, createdAt: now().toISOString() }]);
    },
  };

  return {
    listener,

    /**
     * A stamp of all content visible to non-admins: every import of a live module, archive and restore writes a
     * change in its own transaction, so equal stamps mean equal content. Caches of derived responses key on it.
     */
    contentStamp: (): Promise<number> => repository.run(repository.latestSeq()),
    /** `contentStamp` as a work, for a caller's snapshot or commit-cached work. */
    contentStampWork: (): Work<number> => repository.latestSeq(),

    /** Changes after `since` (from the beginning without one). `nextCursor` is always set: store it, ask again. */
    async feed(query: { since?: string | undefined; limit: number }): Promise<{ changes: ChangeDto[]; nextCursor: string; hasMore: boolean }> {
      const after = query.since === undefined ? 0 : decodeCursor('changes', query.since, feedCursor).seq;
      const page = await repository.run(keysetPage('changes', query.limit, (limit) => repository.after(after, limit), (row) => ({ seq: row.seq })));
      return {
        changes: page.items.map((row) => ({
          entity: row.entity,
          id: row.entityId,
          moduleSlug: row.moduleSlug,
          op: row.op,
          version: row.version,
          changedAt: row.createdAt,
        })),
        // Never null: an empty page hands back the position it started from, so a client can always store and resume.
        nextCursor: page.endCursor ?? encodeCursor('changes', { seq: after }),
        hasMore: page.nextCursor !== null,
      };
    },
  };
}

export type ChangesService = ReturnType<typeof createChangesService>;
