import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { createAuthRepository } from '../src/auth/repository.js';
import { createAuthService } from '../src/auth/service.js';
import { migrationsFolder, openDatabase } from '../src/db/client.js';
import { createScheduler, type ScheduledAnswer } from '../src/learning/scheduler.js';
import type { ImportedModuleLine, ImportWorkerTask } from './import-worker.js';
import { Rng } from './prng.js';
import { commonTerms, createVocabulary, type ModuleShape } from './text.js';

/**
 * The benchmark dataset: modules imported through the real import path, learners, a year of answers and the card
 * states the scheduler derives from them. Built once per parameter set into bench/.data/<name>/ and reused; a
 * `complete` marker is written last, so an interrupted build is never mistaken for a finished one.
 */

/** Bump when the generator changes what it writes, so cached datasets are rebuilt. */
const generatorVersion = 1;

export interface DatasetParams {
  seed: number;
  modules: number;
  shape: ModuleShape;
  learners: number;
  /** Total answers, heavy learners included. */
  answers: number;
  /** Learners with large histories (the study-queue and history scenarios use them); they come first. */
  heavyLearners: number;
  heavyAnswers: { min: number; max: number };
  /** Ordinary learners that also get a learner key (heavy learners always get one). */
  keyedLearners: number;
}

const moduleShape: ModuleShape = { takeaways: 10, flashcards: 50, cheatSheetColumns: 5, cheatSheetRows: 10, revisionItems: 20 };

export const datasetProfiles = {
  full: {
    seed: 20_261_126,
    modules: 1000,
    shape: moduleShape,
    learners: 10_000,
    answers: 1_000_000,
    heavyLearners: 100,
    heavyAnswers: { min: 3000, max: 5000 },
    keyedLearners: 200,
  },
  quick: {
    seed: 20_261_126,
    modules: 100,
    shape: moduleShape,
    learners: 1000,
    answers: 100_000,
    heavyLearners: 10,
    heavyAnswers: { min: 3000, max: 5000 },
    keyedLearners: 50,
  },
} satisfies Record<string, DatasetParams>;

export interface DatasetModule {
  slug: string;
  id: string;
  /** Live flashcards in deck order. */
  flashcardIds: string[];
}

export interface DatasetManifest {
  key: string;
  generatorVersion: number;
  params: DatasetParams;
  builtAt: string;
  buildSeconds: number;
  phases: Record<string, number>;
  counts: { modules: number; flashcards: number; learners: number; answers: number; cardStates: number; heavyAnswers: number };
  modules: DatasetModule[];
  searchTerms: { common: string[]; rare: string[] };
}

export interface LearnerToken {
  userId: string;
  token: string;
}

export interface HeavyLearnerToken extends LearnerToken {
  answers: number;
  /** Slugs of the modules this learner studies. */
  modules: string[];
}

export interface DatasetTokens {
  admin: string;
  integration: string;
  heavy: HeavyLearnerToken[];
  learners: LearnerToken[];
}

export interface Dataset {
  dir: string;
  dbPath: string;
  manifest: DatasetManifest;
  tokens: DatasetTokens;
  /** False when this call built it. */
  reused: boolean;
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const workerFile = fileURLToPath(new URL('./import-worker.ts', import.meta.url));
export const dataRoot = fileURLToPath(new URL('./.data/', import.meta.url));

const files = { db: 'mnemo.db', manifest: 'dataset.json', tokens: 'tokens.json', complete: 'complete' };

/** Identifies a dataset: generator version, parameters and the schema (migrations) it was built against. */
export function datasetKey(params: DatasetParams): string {
  const journal = readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8');
  return createHash('sha256').update(JSON.stringify({ generatorVersion, params, journal })).digest('hex').slice(0, 12);
}

export function datasetDir(params: DatasetParams): string {
  return join(dataRoot, `m${params.modules}-l${params.learners}-a${params.answers}-${datasetKey(params)}`);
}

/** The cached dataset for these parameters, built first if there is none. */
export async function ensureDataset(params: DatasetParams, log: (line: string) => void = console.log): Promise<Dataset> {
  const dir = datasetDir(params);
  if (!existsSync(join(dir, files.complete))) {
    mkdirSync(dataRoot, { recursive: true });
    const name = dir.split('/').at(-1)!;
    // Leftovers of interrupted builds of the same dataset.
    for (const entry of readdirSync(dataRoot)) if (entry.startsWith(`${name}.tmp-`)) rmSync(join(dataRoot, entry), { recursive: true, force: true });
    const building = `${dir}.tmp-${process.pid}`;
    mkdirSync(building, { recursive: true });
    try {
      await buildDataset(params, building, log);
      rmSync(dir, { recursive: true, force: true });
      renameSync(building, dir);
      // Datasets of the same size built by an older generator or schema are never used again.
      const family = name.slice(0, name.lastIndexOf('-') + 1);
      for (const entry of readdirSync(dataRoot)) {
        if (entry.startsWith(family) && entry !== name && !entry.includes('.tmp-')) rmSync(join(dataRoot, entry), { recursive: true, force: true });
      }
    } catch (error) {
      rmSync(building, { recursive: true, force: true });
      throw error;
    }
    return { ...readDataset(dir), reused: false };
  }
  return { ...readDataset(dir), reused: true };
}

function readDataset(dir: string): Omit<Dataset, 'reused'> {
  return {
    dir,
    dbPath: join(dir, files.db),
    manifest: JSON.parse(readFileSync(join(dir, files.manifest), 'utf8')) as DatasetManifest,
    tokens: JSON.parse(readFileSync(join(dir, files.tokens), 'utf8')) as DatasetTokens,
  };
}

const dayMs = 24 * 60 * 60 * 1000;

async function buildDataset(params: DatasetParams, dir: string, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  const phases: Record<string, number> = {};
  let phaseStart = started;
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - phaseStart) / 1000;
    log(`  ${name}: ${phases[name]!.toFixed(1)} s`);
    phaseStart = now;
  };
  const dbPath = join(dir, files.db);
  log(`Building dataset: ${params.modules} modules, ${params.learners} learners, ${params.answers} answers -> ${dir}`);

  const database = openDatabase({ path: dbPath, synchronous: 'NORMAL', busyTimeoutMs: 60_000 });
  const { sqlite } = database;
  try {
    const auth = createAuthService(createAuthRepository(database.db));
    const admin = await auth.createKey({ role: 'admin', name: 'bench-admin' }, null);
    const integration = await auth.createKey({ role: 'integration', name: 'bench-lms' }, null);

    const imported = await importModules(params, dbPath, log);
    phase('modules imported (real import path)');

    // Bulk phase: this connection only; the data is generated consistent, so foreign keys are not re-checked.
    sqlite.pragma('synchronous = OFF');
    sqlite.pragma('foreign_keys = OFF');
    sqlite.pragma('cache_size = -262144');
    sqlite.pragma('temp_store = MEMORY');

    const modules = loadModules(sqlite, imported);
    const users = insertLearners(sqlite, params, integration.id);
    phase('learners inserted');

    const { heavy, answers, cardStates, heavyAnswers } = insertAnswers(sqlite, params, modules, users, log);
    phase('answers and card states inserted');

    const tokens: DatasetTokens = {
      admin: admin.token,
      integration: integration.token,
      heavy: await Promise.all(
        heavy.map(async (learner) => ({
          userId: learner.userId,
          token: (await auth.createKey({ role: 'learner', name: `bench-heavy-${learner.index}`, userId: learner.userId }, null)).token,
          answers: learner.answers,
          modules: learner.modules,
        })),
      ),
      learners: await Promise.all(
        users.slice(params.heavyLearners, params.heavyLearners + params.keyedLearners).map(async (userId, offset) => ({
          userId,
          token: (await auth.createKey({ role: 'learner', name: `bench-learner-${params.heavyLearners + offset}`, userId }, null)).token,
        })),
      ),
    };

    sqlite.exec('ANALYZE');
    // Checkpointed into the main file, which stays in WAL mode (as a server's database is): the file is copied
    // alone, and the server does not pay a journal-mode switch (an fsync of the whole file) at startup.
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    phase('keys, ANALYZE and checkpoint');

    const vocabulary = createVocabulary(params.seed);
    const manifest: DatasetManifest = {
      key: datasetKey(params),
      generatorVersion,
      params,
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round(performance.now() - started) / 1000,
      phases,
      counts: {
        modules: modules.length,
        flashcards: modules.reduce((sum, module) => sum + module.flashcardIds.length, 0),
        learners: users.length,
        answers,
        cardStates,
        heavyAnswers,
      },
      modules,
      searchTerms: {
        common: commonTerms(vocabulary, 10),
        rare: new Rng(params.seed).sample(imported.flatMap((line) => line.rareTerms), 50),
      },
    };
    writeFileSync(join(dir, files.tokens), `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
    writeFileSync(join(dir, files.manifest), `${JSON.stringify(manifest)}\n`);
    log(`Dataset built in ${manifest.buildSeconds.toFixed(1)} s`);
  } finally {
    database.close();
  }
  // Written last: its presence means everything above completed.
  writeFileSync(join(dir, files.complete), `${new Date().toISOString()}\n`);
}

/** Imports every module through the real import path, in one child process per core. */
async function importModules(params: DatasetParams, dbPath: string, log: (line: string) => void): Promise<ImportedModuleLine[]> {
  const workers = Math.max(1, Math.min(availableParallelism(), 4, params.modules));
  const imported: ImportedModuleLine[] = [];
  let reported = 0;
  const runWorker = (worker: number) =>
    new Promise<void>((resolve, reject) => {
      const task: ImportWorkerTask = { dbPath, seed: params.seed, modules: params.modules, shape: params.shape, worker, workers };
      const child = spawn(process.execPath, ['--import', 'tsx', workerFile, JSON.stringify(task)], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        imported.push(JSON.parse(line) as ImportedModuleLine);
        const tenth = Math.floor((imported.length * 10) / params.modules);
        if (tenth > reported) {
          reported = tenth;
          log(`  imported ${imported.length}/${params.modules} modules`);
        }
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`import worker ${worker} failed (${signal ?? `exit code ${code}`})`)),
      );
    });
  await Promise.all(Array.from({ length: workers }, (_, worker) => runWorker(worker)));
  if (imported.length !== params.modules) throw new Error(`imported ${imported.length} modules, expected ${params.modules}`);
  return imported.sort((a, b) => a.index - b.index);
}

/** Modules in generation order, with their ids and live flashcards as the import stored them. */
function loadModules(sqlite: Database.Database, imported: ImportedModuleLine[]): DatasetModule[] {
  const moduleIds = new Map((sqlite.prepare('SELECT slug, id FROM modules').all() as { slug: string; id: string }[]).map((row) => [row.slug, row.id]));
  const cards = new Map<string, string[]>();
  const rows = sqlite.prepare('SELECT id, module_id AS moduleId FROM flashcards WHERE archived_at IS NULL ORDER BY module_id, position').all() as {
    id: string;
    moduleId: string;
  }[];
  for (const row of rows) {
    const list = cards.get(row.moduleId) ?? [];
    list.push(row.id);
    cards.set(row.moduleId, list);
  }
  return imported.map(({ slug }) => {
    const id = moduleIds.get(slug);
    if (!id) throw new Error(`module ${slug} was not imported`);
    return { slug, id, flashcardIds: cards.get(id) ?? [] };
  });
}

/** Learner ids in order; every other learner belongs to the integration key, the rest to admins (''). */
function insertLearners(sqlite: Database.Database, params: DatasetParams, integrationKeyId: string): string[] {
  const rng = new Rng(params.seed ^ 0x1234567);
  const insert = sqlite.prepare('INSERT INTO users (id, external_id, display_name, owner, created_at) VALUES (?, ?, ?, ?, ?)');
  const createdAt = new Date(Date.now() - 400 * dayMs).toISOString();
  const ids: string[] = [];
  sqlite.transaction(() => {
    for (let index = 0; index < params.learners; index++) {
      const id = rng.id('usr');
      insert.run(id, `learner-${index}`, `Learner ${index}`, index % 2 === 0 ? integrationKeyId : '', createdAt);
      ids.push(id);
    }
  })();
  return ids;
}

interface CardRef {
  id: string;
  moduleId: string;
}

interface AnswerDraft extends ScheduledAnswer {
  at: number;
  card: CardRef;
}

/** How many answers each learner has: heavy learners first, the rest share the remainder with a skew. */
function answerCounts(rng: Rng, params: DatasetParams): number[] {
  const counts = Array.from({ length: params.learners }, (_, index) =>
    index < params.heavyLearners ? rng.int(params.heavyAnswers.min, params.heavyAnswers.max) : 0,
  );
  const heavyTotal = counts.reduce((sum, count) => sum + count, 0);
  const remainder = Math.max(0, params.answers - heavyTotal);
  const weights = counts.map((_, index) => (index < params.heavyLearners ? 0 : Math.pow(-Math.log(1 - rng.next()), 1.5)));
  const weightTotal = weights.reduce((sum, weight) => sum + weight, 0);
  let assigned = 0;
  for (let index = params.heavyLearners; index < params.learners; index++) {
    counts[index] = Math.floor((remainder * weights[index]!) / weightTotal);
    assigned += counts[index]!;
  }
  // Rounding leftovers, one each, to random ordinary learners.
  for (let left = remainder - assigned; left > 0; left--) {
    const index = rng.int(params.heavyLearners, params.learners - 1);
    counts[index] = counts[index]! + 1;
  }
  return counts;
}

/** One learner's history: distinct cards from a few modules, each answered one or more times at growing gaps. */
function learnerHistory(rng: Rng, count: number, heavy: boolean, modules: DatasetModule[], now: number) {
  const moduleCount = heavy ? rng.int(20, 40) : Math.max(Math.ceil(count / 120), 1) + rng.int(0, 2);
  const chosen = rng.sample(modules, Math.min(moduleCount, modules.length));
  const pool: CardRef[] = chosen.flatMap((module) => module.flashcardIds.map((id) => ({ id, moduleId: module.id })));
  const distinct = Math.max(1, Math.min(pool.length, Math.round(count / (heavy ? 2.5 + rng.next() : 1.5 + 2 * rng.next()))));
  const cards = rng.sample(pool, distinct);
  const perCard = cards.map(() => 1);
  for (let left = count - cards.length; left > 0; left--) perCard[rng.int(0, cards.length - 1)]! += 1;

  const windowStart = now - 365 * dayMs;
  const windowEnd = now - 10 * 60 * 1000;
  const drafts: AnswerDraft[][] = cards.map((card, index) => {
    const reps = perCard[index]!;
    const times: number[] = [windowStart + rng.next() * (windowEnd - windowStart) * 0.98];
    for (let rep = 1; rep < reps; rep++) {
      const previous = times[rep - 1]!;
      const next = previous + dayMs * (0.05 + rng.next()) * Math.pow(2.2, rep - 1);
      if (next < windowEnd) {
        times.push(next);
        continue;
      }
      // No room left for growing gaps: the remaining reviews are crammed in before now.
      const rest = Array.from({ length: reps - rep }, () => previous + rng.next() * (windowEnd - previous)).sort((a, b) => a - b);
      times.push(...rest);
      break;
    }
    return times.map((time, rep) => {
      const at = Math.floor(time);
      return {
        at,
        answeredAt: new Date(at).toISOString(),
        clientAnswerId: rng.uuid(),
        rating: rng.weighted(rep === 0 ? [25, 15, 45, 15] : [10, 15, 60, 15]) + 1,
        card,
      };
    });
  });
  return { modules: chosen.map((module) => module.slug), drafts };
}

function insertAnswers(sqlite: Database.Database, params: DatasetParams, modules: DatasetModule[], users: string[], log: (line: string) => void) {
  const rng = new Rng(params.seed ^ 0x7f4a7c15);
  const scheduler = createScheduler({ desiredRetention: 0.9, maximumIntervalDays: 36_500 });
  const counts = answerCounts(rng, params);
  const now = Date.now();
  const insertAnswer = sqlite.prepare(
    `INSERT INTO answers (id, user_id, client_answer_id, flashcard_id, module_id, rating, correct, answered_at, received_at, duration_ms, response)
     VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL)`,
  );
  const insertState = sqlite.prepare(
    `INSERT INTO card_states (user_id, flashcard_id, module_id, state, due, stability, difficulty, elapsed_days, scheduled_days,
       learning_steps, reps, lapses, last_review, last_answered_at, last_client_answer_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const heavy: { index: number; userId: string; answers: number; modules: string[] }[] = [];
  let answers = 0;
  let cardStates = 0;
  let heavyAnswers = 0;
  let nextReport = params.answers / 10;

  const learner = (index: number) => {
    const userId = users[index]!;
    const count = counts[index]!;
    if (count === 0) return;
    const isHeavy = index < params.heavyLearners;
    const history = learnerHistory(rng, count, isHeavy, modules, now);
    if (isHeavy) {
      heavy.push({ index, userId, answers: count, modules: history.modules });
      heavyAnswers += count;
    }
    // Card states exactly as the server computes them: the scheduler's replay of the card's answers.
    for (const cardAnswers of history.drafts) {
      const card = cardAnswers[0]!.card;
      const state = scheduler.replay(cardAnswers);
      insertState.run(
        userId, card.id, card.moduleId, state.state, state.due, state.stability, state.difficulty, state.elapsedDays,
        state.scheduledDays, state.learningSteps, state.reps, state.lapses, state.lastReview, state.lastAnsweredAt, state.lastClientAnswerId,
      );
      cardStates += 1;
    }
    // Inserted in time order per learner, which keeps the (user, answered_at) indexes append-only.
    const ordered = history.drafts.flat().sort((a, b) => a.at - b.at);
    for (const answer of ordered) {
      const delay = rng.chance(0.05) ? rng.int(60_000, 3 * dayMs) : rng.int(50, 3000);
      const receivedAt = new Date(Math.min(answer.at + delay, now)).toISOString();
      insertAnswer.run(rng.id('ans'), userId, answer.clientAnswerId, answer.card.id, answer.card.moduleId, answer.rating, answer.answeredAt, receivedAt, rng.int(1500, 25_000));
    }
    answers += ordered.length;
  };

  // Large transactions: one per block of learners.
  const block = sqlite.transaction((from: number, to: number) => {
    for (let index = from; index < to; index++) learner(index);
  });
  const blockSize = 250;
  for (let from = 0; from < users.length; from += blockSize) {
    block(from, Math.min(from + blockSize, users.length));
    if (answers >= nextReport) {
      log(`  answers: ${answers.toLocaleString('en-US')}/${params.answers.toLocaleString('en-US')}`);
      while (nextReport <= answers) nextReport += params.answers / 10;
    }
  }
  return { heavy, answers, cardStates, heavyAnswers };
}
