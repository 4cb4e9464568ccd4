import { z } from 'zod';
import type { TextFormat } from '../content/module-source/text-format.js';
import { presentFlashcard } from '../content/present.js';
import type { FlashcardRecord, ModuleRecord } from '../content/records.js';
import type { ContentService } from '../content/service.js';
import { liveOnly, type Visibility } from '../content/visibility.js';
import type { UserRow } from '../db/schema.js';
import type { Work } from '../db/work.js';
import { decodeCursor } from '../lib/cursor.js';
import { type Page, keysetPage, mapPage } from '../lib/page.js';
import type { AnswersRepository, CardStateRecord, LearnerRead, StudyCardRef } from './answers-repository.js';
import { moduleIdOf } from './module-filter.js';
import type { StatsRepository } from './stats-repository.js';
import { cardStateNames, type Scheduler } from './scheduler.js';
import type { CardStateDto, ProgressDto, StudyItemDto } from './schemas.js';

/** An entry of the study queue: the card with its module, and its state unless it is new. */
export interface StudyItem {
  reason: 'due' | 'new';
  card: FlashcardRecord;
  module: ModuleRecord;
  state: CardStateDto | null;
}

export const presentStudyCard = (item: Pick<StudyItem, 'card' | 'module'>, format: TextFormat): StudyItemDto['flashcard'] => ({
  ...presentFlashcard(item.card, format),
  moduleSlug: item.module.slug,
});

export function presentStudyItem(item: StudyItem, format: TextFormat): StudyItemDto {
  return { reason: item.reason, flashcard: presentStudyCard(item, format), state: item.state };
}

/**
 * A learner's study queue before the clock is applied: the states that fall due first and the first new cards,
 * `limit` of each. Which of them are due is decided per request, so it stays valid until the learner's next write
 * or the next content change.
 */
interface StudyCandidates extends LearnerRead {
  due: CardStateRecord[];
  fresh: StudyCardRef[];
}

interface CardsQuery {
  module?: string | undefined;
  due?: boolean;
  limit: number;
}

interface StudyQuery {
  module?: string | undefined;
  limit: number;
  newLimit: number;
}

/** A card counts as mastered once it is in review with a stability of three weeks or more. */
export const masteredStabilityDays = 21;

const cardsCursor = { flashcardId: z.string().max(64) };
const dayMs = 24 * 60 * 60 * 1000;

/**
 * Card states, the study queue and progress: reads over the answer history and its derived states. A `module`
 * filter is resolved by content under the caller's visibility (404 when the caller may not see the module); the
 * study queue and unfiltered progress hold live modules only, for every caller.
 */
export function createStudyService(
  repository: AnswersRepository,
  stats: StatsRepository,
  content: ContentService,
  scheduler: Scheduler,
  /** Moves with every change to live content (ChangesService.contentStampWork): the study candidates are keyed on it. */
  contentStamp: () => Work<number>,
  now: () => Date = () => new Date(),
) {
  // Works are generator functions declared here once, given their data as arguments: a `function*` expression per
  // call costs V8 a new function with its own prototype and object map, which made a cached read about 4x slower.
  function* studyCandidates(userId: string, moduleId: string | undefined, limit: number): Work<StudyCandidates> {
    const stamp = yield* contentStamp();
    return yield* repository.cachedForLearner(userId, `study\u0000${moduleId ?? ''}\u0000${limit}\u0000${stamp}`, () =>
      loadCandidates(userId, moduleId, limit),
    );
  }

  function* loadCandidates(userId: string, moduleId: string | undefined, limit: number): Work<StudyCandidates> {
    const due = yield* repository.earliestDue(userId, limit, moduleId);
    const fresh = yield* repository.newCards(userId, limit, moduleId);
    // Approximate bytes as V8 holds them: a state row (16 fields, 8 of them strings) about 700, a card reference 150.
    return { due, fresh, bytes: 256 + due.length * 700 + fresh.length * 150 };
  }

  function* cardsPage(userId: string, query: CardsQuery, after: string | undefined, visibility: Visibility, at: Date): Work<Page<CardStateRecord>> {
    const moduleId = yield* moduleIdOf(content, query.module, visibility);
    return yield* keysetPage(
      'cards',
      query.limit,
      (limit) => repository.states({ userId, limit, afterFlashcardId: after, moduleId, dueBy: query.due ? at.toISOString() : undefined }),
      (state) => ({ flashcardId: state.flashcardId }),
    );
  }

  /** The study queue's due states and new cards at `dueBy`, with the cards from content. */
  function* studyQueue(userId: string, query: StudyQuery, visibility: Visibility, dueBy: string) {
    const moduleId = yield* moduleIdOf(content, query.module, visibility);
    const candidates = yield* studyCandidates(userId, moduleId, query.limit);
    const notYetDue = candidates.due.findIndex((state) => state.due > dueBy);
    const due = notYetDue === -1 ? candidates.due : candidates.due.slice(0, notYetDue);
    const fresh = candidates.fresh.slice(0, Math.min(query.newLimit, query.limit - due.length));
    return { due, fresh, cards: yield* content.liveFlashcardsWork([...due, ...fresh]) };
  }

  function* moduleProgress(userId: string, query: { module?: string | undefined }, visibility: Visibility, at: Date): Work<ProgressDto[]> {
    const filter = query.module === undefined ? undefined : yield* content.getModuleWork(query.module, visibility);
    const moduleId = filter?.id;
    const answerStats = new Map((yield* stats.answerStats(userId, moduleId)).map((row) => [row.moduleId, row]));
    const stateStats = new Map((yield* stats.stateStats(userId, at.toISOString(), masteredStabilityDays, moduleId)).map((row) => [row.moduleId, row]));
    // Unfiltered, progress is a list: the modules answered in that are live, for every caller.
    const modules = filter
      ? [filter]
      : (yield* content.modulesByIdsWork([...new Set([...answerStats.keys(), ...stateStats.keys()])], liveOnly))
          .filter((module) => module !== null)
          .sort((a, b) => (a.slug < b.slug ? -1 : 1));
    const progress: ProgressDto[] = [];
    for (const module of modules) {
      const answers = answerStats.get(module.id);
      const states = stateStats.get(module.id);
      progress.push({
        moduleSlug: module.slug,
        totalCards: module.counts.flashcards,
        seenCards: states?.seen ?? 0,
        dueNow: Number(states?.due ?? 0),
        mastered: Number(states?.mastered ?? 0),
        answers: answers?.answers ?? 0,
        accuracy: answers && answers.answers > 0 ? Number(answers.recalled) / answers.answers : null,
        lastAnsweredAt: answers?.lastAnsweredAt ?? null,
        streakDays: answers ? streak(yield* stats.answerDays(userId, module.id, 400), at) : 0,
      });
    }
    return progress;
  }

  function presentState(state: CardStateRecord, at: Date): CardStateDto {
    return {
      flashcardId: state.flashcardId,
      moduleSlug: state.moduleSlug,
      state: cardStateNames[state.state] ?? 'new',
      due: state.due,
      stability: state.stability,
      difficulty: state.difficulty,
      reps: state.reps,
      lapses: state.lapses,
      lastAnsweredAt: state.lastAnsweredAt,
      retrievability: scheduler.retrievability(state, at),
    };
  }

  return {
    presentState,

    async cards(user: UserRow, query: CardsQuery & { cursor?: string | undefined }, visibility: Visibility = liveOnly): Promise<Page<CardStateDto>> {
      const at = now();
      const after = query.cursor === undefined ? undefined : decodeCursor('cards', query.cursor, cardsCursor).flashcardId;
      const page = await repository.run(cardsPage(user.id, query, after, visibility, at));
      return mapPage(page, (state) => presentState(state, at));
    },

    /** What to show next: due cards, most overdue first, then never-seen cards up to `newLimit`. */
    async study(user: UserRow, query: StudyQuery, visibility: Visibility = liveOnly): Promise<StudyItem[]> {
      const at = now();
      // One work: on SQLite one synchronous run, as a cache hit costs no statement and needs no more.
      const { due, fresh, cards } = await repository.run(studyQueue(user.id, query, visibility, at.toISOString()));
      const item = (id: string, reason: StudyItem['reason'], state: CardStateRecord | null): StudyItem[] => {
        const found = cards.get(id);
        return found ? [{ reason, ...found, state: state && presentState(state, at) }] : [];
      };
      return [...due.flatMap((state) => item(state.flashcardId, 'due', state)), ...fresh.flatMap((ref) => item(ref.flashcardId, 'new', null))];
    },

    /** Per-module progress for the modules the learner has answered in (or the one asked for). */
    async progress(user: UserRow, query: { module?: string | undefined }, visibility: Visibility = liveOnly): Promise<ProgressDto[]> {
      return stats.run(moduleProgress(user.id, query, visibility, now()));
    },

    /** The caller's states for a batch of flashcards (GraphQL `Flashcard.myState`), in the order asked. */
    async statesOfCards(user: UserRow, flashcardIds: readonly string[]): Promise<(CardStateDto | null)[]> {
      const at = now();
      const byId = new Map((await repository.run(repository.statesOfCards(user.id, [...new Set(flashcardIds)]))).map((state) => [state.flashcardId, state]));
      return flashcardIds.map((id) => {
        const state = byId.get(id);
        return state ? presentState(state, at) : null;
      });
    },
  };
}

export type StudyService = ReturnType<typeof createStudyService>;

/** Consecutive days (newest first, `YYYY-MM-DD`) ending today or yesterday. */
function streak(days: string[], at: Date): number {
  const today = at.toISOString().slice(0, 10);
  const yesterday = new Date(at.getTime() - dayMs).toISOString().slice(0, 10);
  if (days[0] !== today && days[0] !== yesterday) return 0;
  let count = 1;
  for (let index = 1; index < days.length; index++) {
    const expected = new Date(Date.parse(`${days[index - 1]}T00:00:00Z`) - dayMs).toISOString().slice(0, 10);
    if (days[index] !== expected) break;
    count += 1;
  }
  return count;
}
