// The only reader of process.env: one zod schema for every FILESET_* variable, parsed once at
// start-up. Every variable can also be given as a CLI flag: FILESET_DATA_DIR is --data-dir.
import { z } from 'zod';
import { ConfigError } from './errors.js';

const VERSION = '0.1.0';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** Parses "64GiB", "1GB", "512 MiB" or a plain byte count. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new Error(`not a size: "${text}" (try 1GiB, 500MB or bytes)`);
  return Math.round(Number(m[1]) * factor);
}

const size = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parseSize(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

const bool = (fallback: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
    .default(fallback ? 'true' : 'false')
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const list = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

function parseOrigin(text: string): string {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) origin: ${text}`);
  return url.origin;
}

const rewriteMap = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const map = new Map<string, string>();
    for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [from, to, ...rest] = pair.split('=');
      try {
        if (!from || !to || rest.length) throw new Error('expected origin=origin');
        map.set(parseOrigin(from), parseOrigin(to));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `bad pair "${pair}": ${(err as Error).message}` });
      }
    }
    return map;
  });

/** A request budget's limits (src/http/budget.ts applies them). */
export interface BudgetLimits {
  concurrency: number;
  /** Request starts per minute; undefined: no rate limit beyond concurrency. */
  perMinute?: number;
}

/**
 * `zenodo:api=2@60,dryad:download=1,*:api=4` → overrides (`*` stands for every platform not named);
 * throws on a malformed entry.
 */
export function parseBudgets(text: string): Map<string, BudgetLimits> {
  const budgets = new Map<string, BudgetLimits>();
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^((?:\*|[a-z0-9._-]+):(?:api|download))=(\d+)(?:@(\d+(?:\.\d+)?))?$/i.exec(entry);
    if (!match || Number(match[2]) < 1 || (match[3] !== undefined && Number(match[3]) <= 0)) {
      throw new Error(`"${entry}" is not <platform>:<api|download>=<concurrency>[@<per minute>]`);
    }
    budgets.set(match[1]!.toLowerCase(), {
      concurrency: Number(match[2]),
      ...(match[3] !== undefined ? { perMinute: Number(match[3]) } : {}),
    });
  }
  return budgets;
}

const budgets = z
  .string()
  .default('')
  .transform((text, ctx) => {
    try {
      return parseBudgets(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** Every variable, with its default. README "Configuration" documents each one. */
export const EnvSchema = z.object({
  FILESET_DATA_DIR: z.string().min(1).default('./data'),
  FILESET_DATABASE_URL: z.string().optional(),
  FILESET_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  FILESET_CONTACT: z.string().min(1).default('https://www.npmjs.com/package/fileset-ingest'),
  FILESET_USER_AGENT: z.string().optional(),
  FILESET_HTTP_REWRITE: rewriteMap,
  FILESET_HTTP_ALLOW_PRIVATE: bool(false),
  FILESET_HTTP_RETRIES: int(4),
  FILESET_HTTP_RETRY_MAX_DELAY_MS: int(60_000),
  FILESET_HTTP_RATE_LIMIT_RETRIES: int(8),
  FILESET_PLATFORM_BUDGETS: budgets,
  FILESET_HTTP_PER_HOST_CONCURRENCY: int(4, 1),
  FILESET_HTTP_CONNECT_TIMEOUT_MS: int(15_000, 1),
  FILESET_HTTP_HEADERS_TIMEOUT_MS: int(60_000, 1),
  FILESET_HTTP_BODY_TIMEOUT_MS: int(120_000, 1),
  FILESET_HTTP_MAX_REDIRECTS: int(10, 0),
  FILESET_LANDING_MAX_SIZE: size('32MiB'),
  FILESET_URL_BLOCKLIST: list,
  FILESET_MAX_TOTAL_SIZE: size('64GiB'),
  FILESET_MAX_FILE_COUNT: int(200, 1),
  FILESET_WEB_MAX_FILES: int(20, 1),
  FILESET_WEB_MAX_TOTAL_SIZE: size('1GiB'),
  FILESET_WEB_MAX_FILE_SIZE: size('128MiB'),
  FILESET_BUNDLE_MIN_FILES: int(50, 1),
  FILESET_BUNDLE_MAX_TOTAL_SIZE: size('4GiB'),
  FILESET_DOWNLOAD_CONCURRENCY: int(4, 1),
  FILESET_INGEST_DEADLINE_S: int(6 * 3600, 1),
  FILESET_WARC_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('FILESET'),
  FILESET_WARC_ROLLOVER_SIZE: size('1GB'),
  FILESET_ITEM_STORE: z.string().optional(),
  FILESET_WORK_DIR_BUDGET: size('50GiB'),
  FILESET_BUNDLE_MAX_EXPANDED_SIZE: size('8GiB'),
  FILESET_BUNDLE_MAX_RATIO: int(1000, 1),
  FILESET_S3_ENDPOINT: z.string().url().optional(),
  FILESET_S3_REGION: z.string().min(1).default('us-east-1'),
  FILESET_S3_ACCESS_KEY_ID: z.string().optional(),
  FILESET_S3_SECRET_ACCESS_KEY: z.string().optional(),
  FILESET_S3_FORCE_PATH_STYLE: bool(false),
  FILESET_S3_PART_SIZE: size('64MiB'),
  FILESET_IAS3_ENDPOINT: z.string().url().default('https://s3.us.archive.org'),
  FILESET_IAS3_METADATA_URL: z.string().url().default('https://archive.org'),
  FILESET_IAS3_ACCESS_KEY: z.string().optional(),
  FILESET_IAS3_SECRET_KEY: z.string().optional(),
  FILESET_KAFKA_BROKERS: z.string().default('127.0.0.1:9092').transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  FILESET_KAFKA_ENV: z.string().regex(/^[A-Za-z0-9_-]+$/).default('dev'),
  FILESET_KAFKA_REQUEST_TOPICS: list,
  FILESET_KAFKA_PARTITIONS: int(8, 1),
  FILESET_KAFKA_REPLICATION: int(1, 1),
  FILESET_WORKER_CONCURRENCY: int(4, 1),
  FILESET_PERSIST_BATCH_SIZE: int(500, 1),
  FILESET_PERSIST_LINGER_MS: int(1000, 0),
  FILESET_METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  FILESET_METRICS_PORT: int(9464, 0),
});

export type EnvName = keyof typeof EnvSchema.shape;
export const ENV_NAMES = Object.keys(EnvSchema.shape) as EnvName[];

export interface Config {
  version: string;
  dataDir: string;
  databaseUrl: string | undefined;
  logLevel: z.infer<typeof EnvSchema>['FILESET_LOG_LEVEL'];
  userAgent: string;
  http: {
    rewrite: Map<string, string>;
    allowPrivate: boolean;
    retries: number;
    retryMaxDelayMs: number;
    /** Retries of a 429 answer (the platform asked us to wait), counted apart from other retries. */
    rateLimitRetries: number;
    /** Per-platform request budgets overriding the defaults of src/http/budget.ts. */
    budgets: Map<string, BudgetLimits>;
    perHostConcurrency: number;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    maxRedirects: number;
  };
  landingMaxSize: number;
  urlBlocklist: string[];
  limits: { maxTotalSize: number; maxFileCount: number };
  thresholds: {
    webMaxFiles: number;
    webMaxTotalSize: number;
    webMaxFileSize: number;
    bundleMinFiles: number;
    bundleMaxTotalSize: number;
  };
  downloadConcurrency: number;
  ingestDeadlineMs: number;
  warc: { prefix: string; rolloverSize: number };
  items: {
    /** FILESET_ITEM_STORE as given: `fs:///path`, `s3://bucket/prefix` or `ias3://`; unset: fs under dataDir/items. */
    store: string | undefined;
    /** Bytes the archiveorg-* strategies may hold in their working directory at once. */
    workDirBudget: number;
  };
  bundle: { maxExpandedSize: number; maxRatio: number };
  s3: {
    endpoint: string | undefined;
    region: string;
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    forcePathStyle: boolean;
    partSize: number;
  };
  ias3: { endpoint: string; metadataUrl: string; accessKey: string | undefined; secretKey: string | undefined };
  kafka: {
    brokers: string[];
    /** The `{env}` of sandcrawler's topic and group names. */
    env: string;
    /** Request topics the ingest worker consumes; empty: sandcrawler's daily and priority topics. */
    requestTopics: string[];
    partitions: number;
    replication: number;
  };
  /** Requests in flight per ingest worker process. */
  workerConcurrency: number;
  persist: { batchSize: number; lingerMs: number };
  /** The Prometheus endpoint of a worker; port 0 turns it off. */
  metrics: { host: string; port: number };
}

/** The flag spelling of a variable: FILESET_DATA_DIR → data-dir. */
export function flagName(env: EnvName): string {
  return env.slice('FILESET_'.length).toLowerCase().replaceAll('_', '-');
}

/**
 * Parses the environment, with CLI flag values (keyed by variable name) taking precedence.
 * Throws ConfigError naming every bad variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  flags: Partial<Record<EnvName, string>> = {},
): Config {
  const input: Record<string, string> = {};
  for (const name of ENV_NAMES) {
    const value = flags[name] ?? env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const parsed = EnvSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`bad configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    version: VERSION,
    dataDir: e.FILESET_DATA_DIR,
    databaseUrl: e.FILESET_DATABASE_URL,
    logLevel: e.FILESET_LOG_LEVEL,
    userAgent: e.FILESET_USER_AGENT ?? `fileset-ingest/${VERSION} (+${e.FILESET_CONTACT})`,
    http: {
      rewrite: e.FILESET_HTTP_REWRITE,
      allowPrivate: e.FILESET_HTTP_ALLOW_PRIVATE,
      retries: e.FILESET_HTTP_RETRIES,
      retryMaxDelayMs: e.FILESET_HTTP_RETRY_MAX_DELAY_MS,
      rateLimitRetries: e.FILESET_HTTP_RATE_LIMIT_RETRIES,
      budgets: e.FILESET_PLATFORM_BUDGETS,
      perHostConcurrency: e.FILESET_HTTP_PER_HOST_CONCURRENCY,
      connectTimeoutMs: e.FILESET_HTTP_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: e.FILESET_HTTP_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: e.FILESET_HTTP_BODY_TIMEOUT_MS,
      maxRedirects: e.FILESET_HTTP_MAX_REDIRECTS,
    },
    landingMaxSize: e.FILESET_LANDING_MAX_SIZE,
    urlBlocklist: e.FILESET_URL_BLOCKLIST,
    limits: { maxTotalSize: e.FILESET_MAX_TOTAL_SIZE, maxFileCount: e.FILESET_MAX_FILE_COUNT },
    thresholds: {
      webMaxFiles: e.FILESET_WEB_MAX_FILES,
      webMaxTotalSize: e.FILESET_WEB_MAX_TOTAL_SIZE,
      webMaxFileSize: e.FILESET_WEB_MAX_FILE_SIZE,
      bundleMinFiles: e.FILESET_BUNDLE_MIN_FILES,
      bundleMaxTotalSize: e.FILESET_BUNDLE_MAX_TOTAL_SIZE,
    },
    downloadConcurrency: e.FILESET_DOWNLOAD_CONCURRENCY,
    ingestDeadlineMs: e.FILESET_INGEST_DEADLINE_S * 1000,
    warc: { prefix: e.FILESET_WARC_PREFIX, rolloverSize: e.FILESET_WARC_ROLLOVER_SIZE },
    items: { store: e.FILESET_ITEM_STORE, workDirBudget: e.FILESET_WORK_DIR_BUDGET },
    bundle: { maxExpandedSize: e.FILESET_BUNDLE_MAX_EXPANDED_SIZE, maxRatio: e.FILESET_BUNDLE_MAX_RATIO },
    s3: {
      endpoint: e.FILESET_S3_ENDPOINT,
      region: e.FILESET_S3_REGION,
      accessKeyId: e.FILESET_S3_ACCESS_KEY_ID,
      secretAccessKey: e.FILESET_S3_SECRET_ACCESS_KEY,
      forcePathStyle: e.FILESET_S3_FORCE_PATH_STYLE,
      partSize: e.FILESET_S3_PART_SIZE,
    },
    ias3: {
      endpoint: e.FILESET_IAS3_ENDPOINT,
      metadataUrl: e.FILESET_IAS3_METADATA_URL,
      accessKey: e.FILESET_IAS3_ACCESS_KEY,
      secretKey: e.FILESET_IAS3_SECRET_KEY,
    },
    kafka: {
      brokers: e.FILESET_KAFKA_BROKERS,
      env: e.FILESET_KAFKA_ENV,
      requestTopics: e.FILESET_KAFKA_REQUEST_TOPICS,
      partitions: e.FILESET_KAFKA_PARTITIONS,
      replication: e.FILESET_KAFKA_REPLICATION,
    },
    workerConcurrency: e.FILESET_WORKER_CONCURRENCY,
    persist: { batchSize: e.FILESET_PERSIST_BATCH_SIZE, lingerMs: e.FILESET_PERSIST_LINGER_MS },
    metrics: { host: e.FILESET_METRICS_HOST, port: e.FILESET_METRICS_PORT },
  };
}
