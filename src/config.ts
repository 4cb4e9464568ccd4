import { isPlainHttpUrl } from './lib/plain-url.js';
import { redactUrl } from './lib/redact-url.js';
import { z } from 'zod';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

function isRedisUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return ['redis:', 'rediss:'].includes(url.protocol) && url.hostname !== '' && /^\/?(\d{1,5})?$/.test(url.pathname);
}

const plainUrl = z.string().max(2000).refine(isPlainHttpUrl, 'must be an http:// or https:// URL without spaces, control characters or credentials');

/** Every setting the server reads from the environment, with its default. */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer(0, 65_535).default(3000),
  DATABASE_PATH: z.string().min(1).default('./data/mnemo.db'),
  DATABASE_URL: z
    .string()
    .max(4000)
    .refine((value) => URL.canParse(value) && ['postgres:', 'postgresql:'].includes(new URL(value).protocol), 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_MAX: integer(1, 1000).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: integer(100, 3_600_000).default(15_000),
  DATABASE_CONNECT_TIMEOUT_MS: integer(100, 120_000).default(5000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SEED_DIR: z.string().min(1).default('./seed'),
  SEED_ON_START: booleanFromEnv.default(true),
  SQLITE_SYNCHRONOUS: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
  SQLITE_BUSY_TIMEOUT_MS: integer(0, 60_000).default(5000),
  SQLITE_CHECKPOINT_INTERVAL_MS: integer(0, 3_600_000).default(1000),
  JSON_BODY_LIMIT_BYTES: integer(1024, 16 * 1024 * 1024).default(256 * 1024),
  IMPORT_BODY_LIMIT_BYTES: integer(1024, 1024 * 1024).default(1024 * 1024),
  IMPORT_PARSE_TIMEOUT_MS: integer(100, 600_000).default(30_000),
  CONTENT_CACHE_ENTRIES: integer(0, 1_000_000).default(256),
  CONTENT_CACHE_BYTES: integer(1024 * 1024, 16 * 1024 * 1024 * 1024).default(128 * 1024 * 1024),
  RESPONSE_CACHE_BYTES: integer(0, 4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  REQUEST_TIMEOUT_MS: integer(1000, 600_000).default(30_000),
  SHUTDOWN_GRACE_MS: integer(100, 600_000).default(10_000),
  FSRS_DESIRED_RETENTION: z.coerce.number().min(0.7).max(0.99).default(0.9),
  FSRS_MAXIMUM_INTERVAL_DAYS: integer(1, 36_500).default(36_500),
  MAX_ANSWERS_PER_CARD: integer(1, 1_000_000).default(1000),
  CONTENT_REQUIRES_AUTH: booleanFromEnv.default(false),
  RATE_LIMIT_PER_MINUTE: integer(0, 10_000_000).default(1200),
  RATE_LIMIT_STAFF_MULTIPLIER: integer(1, 1000).default(5),
  REDIS_URL: z
    .string()
    .max(4000)
    .refine(isRedisUrl, 'must be a redis:// or rediss:// URL with a host, optionally followed by /DB (a database number)')
    .optional(),
  // Every Redis key mnemo writes starts with this, so several deployments (or test runs) can share one Redis.
  REDIS_KEY_PREFIX: z
    .string()
    .max(64)
    .regex(/^[\x21-\x7e]+$/, 'must be 1-64 printable ASCII characters without spaces')
    .default('mnemo:'),
  AUTH_FAILURES_PER_MINUTE: integer(0, 1_000_000).default(20),
  AUTH_LOCKOUT_SECONDS: integer(1, 86_400).default(300),
  TRUST_PROXY: z.string().max(1000).default('false'),
  CORS_ORIGINS: z.string().max(4000).default(''),
  MAX_EVENT_LOOP_DELAY_MS: integer(0, 60_000).default(1000),
  GRAPHQL_MAX_DEPTH: integer(1, 100).default(10),
  GRAPHQL_MAX_ALIASES: integer(0, 1000).default(30),
  GRAPHQL_MAX_COST: integer(1, 100_000_000).default(100_000),
  GRAPHQL_MAX_TOKENS: integer(100, 1_000_000).default(5000),
  GRAPHQL_MAX_DOCUMENT_BYTES: integer(1024, 16 * 1024 * 1024).default(64 * 1024),
  GRAPHQL_BATCH_LIMIT: integer(0, 100).default(0),
  // The schema documents the API, not content, and the limits bound what any query can cost: public by default.
  GRAPHQL_INTROSPECTION: booleanFromEnv.default(true),
  GRAPHQL_SUGGESTIONS: booleanFromEnv.optional(),
  GRAPHIQL: booleanFromEnv.optional(),
  GRAPHQL_JIT: integer(0, 1000).default(1),
  GRAPHQL_PERSISTED_QUERIES: integer(0, 100_000).default(1000),
  GRAPHQL_RESPONSE_CACHE_BYTES: integer(0, 4 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
  GRAPHQL_MAX_RESPONSE_BYTES: integer(1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  // A placeholder under the reserved .invalid domain until the deployment names its own (README, xAPI).
  XAPI_ACCOUNT_HOMEPAGE: plainUrl.default('https://mnemo.invalid'),
  XAPI_ACTIVITY_BASE: plainUrl.default('https://mnemo.invalid/xapi'),
  XAPI_LANGUAGE: z
    .string()
    .regex(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/, 'must be an RFC 5646 language tag such as en or en-US')
    .optional(),
  LRS_ENDPOINT: z.string().max(2000).refine(isPlainHttpUrl, 'must be an http:// or https:// URL without credentials (set LRS_USERNAME and LRS_PASSWORD)').optional(),
  LRS_USERNAME: z.string().max(1000).optional(),
  LRS_PASSWORD: z.string().max(1000).optional(),
  LRS_VERSION: z.enum(['1.0.3', '2.0.0']).default('1.0.3'),
  LRS_BATCH_SIZE: integer(1, 500).default(100),
  LRS_TIMEOUT_MS: integer(100, 120_000).default(10_000),
});

export type EnvConfig = z.infer<typeof configSchema>;

export interface Config {
  env: EnvConfig['NODE_ENV'];
  host: string;
  port: number;
  databasePath: string;
  /** PostgreSQL instead of the SQLite file at databasePath, when DATABASE_URL is set. */
  postgres: PostgresConfig | undefined;
  logLevel: EnvConfig['LOG_LEVEL'];
  seedDir: string;
  seedOnStart: boolean;
  /** checkpointIntervalMs: WAL checkpoints on a background connection this often; 0 leaves them to SQLite. */
  sqlite: { synchronous: EnvConfig['SQLITE_SYNCHRONOUS']; busyTimeoutMs: number; checkpointIntervalMs: number };
  /** Request bodies: JSON APIs, and module sources for imports (never above the 1 MiB source limit). */
  limits: { jsonBodyBytes: number; importBodyBytes: number };
  /** Modules (all sections, all renderings) kept in memory for reads and GraphQL, by count and approximate size. */
  contentCacheEntries: number;
  contentCacheBytes: number;
  /** A module source still being parsed and rendered after this long is refused (MNEMO_IMPORT_TOO_COMPLEX). */
  importParseTimeoutMs: number;
  /** Serialised REST responses (and their compressed variants) kept in memory, in bytes. */
  responseCacheBytes: number;
  requestTimeoutMs: number;
  shutdownGraceMs: number;
  graphql: GraphqlConfig;
  fsrs: { desiredRetention: number; maximumIntervalDays: number };
  /**
   * Answers one learner may record on one card. A late answer replays from the card's latest state snapshot
   * before it (one every 16 answers); one older than every snapshot replays the whole history, which this bounds.
   */
  maxAnswersPerCard: number;
  /** Require an API key for content reads (they are anonymous by default). */
  contentRequiresAuth: boolean;
  protection: ProtectionConfig;
  xapi: XapiConfig;
}

export interface XapiConfig {
  /** `actor.account.homePage` of learners whose owner key sets none (XAPI_ACCOUNT_HOMEPAGE). */
  accountHomePage: string;
  /** Base IRI of activities (XAPI_ACTIVITY_BASE). */
  activityBase: string;
  /** The content's language, when the deployment states it (XAPI_LANGUAGE). */
  language: string | undefined;
  /** Where statements are pushed (LRS_*); undefined: no outbox is written and nothing is pushed. */
  lrs: LrsConfig | undefined;
}

export interface LrsConfig {
  /** The LRS's xAPI base, e.g. https://lrs.example.com/xapi/ (statements go to `<endpoint>/statements`). */
  endpoint: string;
  /** Basic auth, when both are set. */
  username: string | undefined;
  password: string | undefined;
  version: '1.0.3' | '2.0.0';
  /** Statements per POST. */
  batchSize: number;
  /** A request to the LRS unanswered after this long counts as a transient failure. */
  timeoutMs: number;
}

export interface PostgresConfig {
  url: string;
  /** Connections per process. */
  poolMax: number;
  /** The server cancels a statement running longer than this. */
  statementTimeoutMs: number;
  connectTimeoutMs: number;
}

export interface ProtectionConfig {
  /** Requests per minute per API key (per IP for anonymous callers); 0 turns rate limiting off. */
  rateLimitPerMinute: number;
  /** Admin and integration keys get this multiple of the limit (they act for many learners). */
  rateLimitStaffMultiplier: number;
  /** Fastify's trustProxy: false, true, or the proxy addresses/CIDRs whose X-Forwarded-For is believed. */
  trustProxy: boolean | string;
  /** Failed authentications per client address per minute before the address is locked out; 0 turns it off. */
  authFailuresPerMinute: number;
  /** How long a locked-out address gets 429 (with Retry-After) for every request carrying a token. */
  authLockoutSeconds: number;
  /** Origins allowed by CORS; empty means no CORS headers at all (closed). */
  corsOrigins: string[];
  /** Event-loop delay (ms) above which requests are shed with 503; 0 turns the check off. */
  maxEventLoopDelayMs: number;
  /** Rate-limit and failed-authentication counters shared by every instance (REDIS_URL); per instance, in memory, when undefined. */
  redis: RedisConfig | undefined;
}

export interface RedisConfig {
  /** A redis:// or rediss:// URL (REDIS_URL); it may hold a password. */
  url: string;
  /** Start of every key written (REDIS_KEY_PREFIX): `<prefix>rl:key:<id>` / `<prefix>rl:ip:<ip>` (rate limits), `<prefix>af:<address>` (failed authentications). */
  keyPrefix: string;
  /** Startup gives up (and fails) when Redis has not connected in this long. */
  connectTimeoutMs: number;
  /** A command unanswered after this long counts the request in memory instead. */
  commandTimeoutMs: number;
}

export interface GraphqlConfig {
  maxDepth: number;
  maxAliases: number;
  /** Budget for fields x list sizes, computed before execution. */
  maxCost: number;
  maxTokens: number;
  /** Length of a document's text (comments included, which the token limit does not count). */
  maxDocumentBytes: number;
  /** Operations per batched request; 0 turns batching off. */
  batchLimit: number;
  /** `__schema` / `__type` and the SDL at /graphql/schema.graphql. */
  introspection: boolean;
  /** "Did you mean ...?" hints in validation errors; they reveal the schema, so off in production. */
  suggestions: boolean;
  graphiql: boolean;
  /** Executions of a query before graphql-jit compiles it; 0 turns jit off. */
  jit: number;
  /** Automatic persisted queries kept in memory; 0 turns them off. */
  persistedQueries: number;
  /** Whole responses to content-only queries kept in memory (bytes); 0 turns the cache off. */
  responseCacheBytes: number;
  /** Largest response body (bytes); a larger result is replaced by a MNEMO_GRAPHQL_RESPONSE_TOO_LARGE error. */
  maxResponseBytes: number;
}

/** Variables whose values may hold a password: a message shows them with it replaced. */
const secretVariables = new Set(['DATABASE_URL', 'REDIS_URL', 'LRS_ENDPOINT']);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment once at startup. A bad value stops the process with a message naming the variable,
 * rather than surfacing later as a confusing runtime failure.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings come from `VAR= npm start`; treat them as unset so defaults apply.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = configSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      const value = name === 'LRS_PASSWORD' ? '<redacted>' : secretVariables.has(name) ? redactUrl(env[name] ?? '') : (env[name] ?? '');
      return `  ${name}=${JSON.stringify(value)}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return fromEnv(parsed.data);
}

function fromEnv(env: EnvConfig): Config {
  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    databasePath: env.DATABASE_PATH,
    postgres:
      env.DATABASE_URL === undefined
        ? undefined
        : {
            url: env.DATABASE_URL,
            poolMax: env.DATABASE_POOL_MAX,
            statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
            connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
          },
    logLevel: env.LOG_LEVEL,
    seedDir: env.SEED_DIR,
    seedOnStart: env.SEED_ON_START,
    sqlite: { synchronous: env.SQLITE_SYNCHRONOUS, busyTimeoutMs: env.SQLITE_BUSY_TIMEOUT_MS, checkpointIntervalMs: env.SQLITE_CHECKPOINT_INTERVAL_MS },
    limits: { jsonBodyBytes: env.JSON_BODY_LIMIT_BYTES, importBodyBytes: env.IMPORT_BODY_LIMIT_BYTES },
    importParseTimeoutMs: env.IMPORT_PARSE_TIMEOUT_MS,
    contentCacheEntries: env.CONTENT_CACHE_ENTRIES,
    contentCacheBytes: env.CONTENT_CACHE_BYTES,
    responseCacheBytes: env.RESPONSE_CACHE_BYTES,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    fsrs: { desiredRetention: env.FSRS_DESIRED_RETENTION, maximumIntervalDays: env.FSRS_MAXIMUM_INTERVAL_DAYS },
    maxAnswersPerCard: env.MAX_ANSWERS_PER_CARD,
    contentRequiresAuth: env.CONTENT_REQUIRES_AUTH,
    protection: {
      rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
      rateLimitStaffMultiplier: env.RATE_LIMIT_STAFF_MULTIPLIER,
      authFailuresPerMinute: env.AUTH_FAILURES_PER_MINUTE,
      authLockoutSeconds: env.AUTH_LOCKOUT_SECONDS,
      trustProxy: env.TRUST_PROXY === 'true' ? true : env.TRUST_PROXY === 'false' ? false : env.TRUST_PROXY,
      corsOrigins: env.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean),
      maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
      redis: env.REDIS_URL === undefined ? undefined : { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX, connectTimeoutMs: 5000, commandTimeoutMs: 1000 },
    },
    xapi: {
      accountHomePage: env.XAPI_ACCOUNT_HOMEPAGE,
      activityBase: env.XAPI_ACTIVITY_BASE,
      language: env.XAPI_LANGUAGE,
      lrs:
        env.LRS_ENDPOINT === undefined
          ? undefined
          : {
              endpoint: env.LRS_ENDPOINT,
              username: env.LRS_USERNAME,
              password: env.LRS_PASSWORD,
              version: env.LRS_VERSION,
              batchSize: env.LRS_BATCH_SIZE,
              timeoutMs: env.LRS_TIMEOUT_MS,
            },
    },
    graphql: {
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxAliases: env.GRAPHQL_MAX_ALIASES,
      maxCost: env.GRAPHQL_MAX_COST,
      maxTokens: env.GRAPHQL_MAX_TOKENS,
      maxDocumentBytes: env.GRAPHQL_MAX_DOCUMENT_BYTES,
      batchLimit: env.GRAPHQL_BATCH_LIMIT,
      introspection: env.GRAPHQL_INTROSPECTION,
      suggestions: env.GRAPHQL_SUGGESTIONS ?? env.NODE_ENV !== 'production',
      graphiql: env.GRAPHIQL ?? env.NODE_ENV === 'development',
      jit: env.GRAPHQL_JIT,
      persistedQueries: env.GRAPHQL_PERSISTED_QUERIES,
      responseCacheBytes: env.GRAPHQL_RESPONSE_CACHE_BYTES,
      maxResponseBytes: env.GRAPHQL_MAX_RESPONSE_BYTES,
    },
  };
}

/**
 * Configuration for tests and tools: defaults (or those that follow from `env`, e.g. NODE_ENV=production), an
 * in-memory database, overrides on top.
 */
export function testConfig(overrides: Partial<Config> = {}, env: Record<string, string> = {}): Config {
  return {
    // Rate limits, the failed-authentication lockout and load shedding are off unless a test turns them on:
    // suites send thousands of requests, many with bad tokens on purpose.
    ...fromEnv(
      configSchema.parse({ NODE_ENV: 'test', DATABASE_PATH: ':memory:', LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', AUTH_FAILURES_PER_MINUTE: '0', MAX_EVENT_LOOP_DELAY_MS: '0', ...env }),
    ),
    seedOnStart: false,
    ...overrides,
  };
}
