// The only reader of process.env: one zod schema for every FILESET_* variable, parsed once at
// start-up, and the type of the configuration is that schema's output. Every variable can also be
// given as a CLI flag: FILESET_DATA_DIR is --data-dir.
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { closest } from './did-you-mean.js';
import { ConfigError } from './errors.js';
import { redactUrl } from './logger.js';

export const VERSION = '0.1.0';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
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

/** A whole number in [min, max], written in decimal digits. */
const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
      if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      ctx.addIssue({ code: 'custom', message: `expected a whole number, ${range}` });
      return z.NEVER;
    });

/** An absolute http(s) URL (endpoints). */
const httpUrl = () =>
  z.string().refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), {
    message: 'expected an http:// or https:// URL',
  });

/** A PostgreSQL connection URL (`postgres://` or `postgresql://`, or `socket:` for a Unix socket). */
const postgresUrl = () =>
  z
    .string()
    .refine((text) => URL.canParse(text) && ['postgres:', 'postgresql:', 'socket:'].includes(new URL(text).protocol), {
      message: 'expected a postgres:// URL, e.g. postgres://user@host:5432/fileset',
    });

/** Comma-separated `host:port` pairs. */
const brokers = () =>
  z
    .string()
    .default('127.0.0.1:9092')
    .transform((text, ctx) => {
      const list = text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = list.filter((broker) => {
        const match = /^(\[[0-9a-f:.]+\]|[^\s:/[\]]+):(\d{1,5})$/i.exec(broker);
        return !match || Number(match[2]) < 1 || Number(match[2]) > 65535;
      });
      if (list.length && !bad.length) return list;
      ctx.addIssue({
        code: 'custom',
        message: `expected host:port[,host:port...]${bad.length ? `, not "${bad[0]}"` : ''}`,
      });
      return z.NEVER;
    });

const bool = (fallback: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
    .default(fallback ? 'true' : 'false')
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const list = () =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );

function parseOrigin(text: string): string {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) origin: ${text}`);
  return url.origin;
}

const rewriteMap = () =>
  z
    .string()
    .default('')
    .transform((text, ctx) => {
      const map = new Map<string, string>();
      for (const pair of text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
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
  for (const entry of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
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

const budgets = () =>
  z
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

/** Where the archiveorg-* strategies put items: FILESET_ITEM_STORE, parsed. */
export type ItemStoreLocation =
  { kind: 'fs'; root: string } | { kind: 's3'; bucket: string; prefix: string } | { kind: 'ias3' };

/** `fs:///path`, `s3://bucket[/prefix]` or `ias3://`; throws saying what is wrong. */
export function parseItemStore(text: string): ItemStoreLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`"${text}" is not fs:///path, s3://bucket[/prefix] or ias3://`);
  }
  switch (url.protocol) {
    case 'fs:': {
      const path = decodeURIComponent(`${url.host ? `${url.host}` : ''}${url.pathname}`);
      if (!path) throw new Error(`"${text}" names no directory`);
      return { kind: 'fs', root: resolve(path) };
    }
    case 's3:':
      if (!url.hostname) throw new Error(`"${text}" names no bucket`);
      return { kind: 's3', bucket: url.hostname, prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '') };
    case 'ias3:':
      return { kind: 'ias3' };
    default:
      throw new Error(`unknown scheme "${url.protocol}" (fs:, s3: or ias3:)`);
  }
}

/** Where closed WARC files are shipped: FILESET_WARC_STORE, parsed (unset: they stay in the data directory). */
export type WarcStoreLocation =
  | { kind: 'fs'; root: string; prefix: string }
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'ias3'; itemPrefix: string };

/**
 * `fs:///dir/<prefix>`, `s3://bucket/<prefix>` or `ias3://<item prefix>`. The prefix is never
 * empty: a shipped WARC's path `<prefix>/<file>` must hold a `/` (a bare name means a local file).
 */
export function parseWarcStore(text: string): WarcStoreLocation {
  const location = parseItemStore(text);
  switch (location.kind) {
    case 'fs': {
      const prefix = basename(location.root);
      if (!prefix || location.root === dirname(location.root))
        throw new Error(`"${text}" names no directory below the root (fs:///dir/<prefix>)`);
      return { kind: 'fs', root: dirname(location.root), prefix };
    }
    case 's3':
      if (!location.prefix) throw new Error(`"${text}" names no key prefix (s3://bucket/<prefix>)`);
      return location;
    case 'ias3': {
      const itemPrefix = new URL(text).hostname;
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/.test(itemPrefix))
        throw new Error(`"${text}" names no item prefix (ias3://<prefix>: letters, digits, '.', '-', '_')`);
      return { kind: 'ias3', itemPrefix };
    }
  }
}

const warcStore = () =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      try {
        return parseWarcStore(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

const itemStore = () =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      try {
        return parseItemStore(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

/** A variable's name: `FILESET_` and upper-case words. */
export type EnvName = `FILESET_${string}`;

/** The variable each setting is read from, by the schema that parses it (one instance per setting). */
const VARIABLE_OF = new Map<z.ZodType, EnvName>();

/** The setting read from variable `name` and parsed by `schema`. */
function env<T extends z.ZodType>(name: EnvName, schema: T): T {
  if (VARIABLE_OF.has(schema))
    throw new Error(`config.ts: ${name} shares its schema instance with ${VARIABLE_OF.get(schema)}`);
  VARIABLE_OF.set(schema, name);
  return schema;
}

/** Every setting, grouped as the code reads them, each with its variable and default. README "Configuration" documents each one. */
const SETTINGS = z.object({
  dataDir: env('FILESET_DATA_DIR', z.string().min(1).default('./data')),
  databaseUrl: env('FILESET_DATABASE_URL', postgresUrl().optional()),
  logLevel: env(
    'FILESET_LOG_LEVEL',
    z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  ),
  contact: env('FILESET_CONTACT', z.string().optional()),
  userAgent: env('FILESET_USER_AGENT', z.string().optional()),
  http: z.object({
    rewrite: env('FILESET_HTTP_REWRITE', rewriteMap()),
    allowPrivate: env('FILESET_HTTP_ALLOW_PRIVATE', bool(false)),
    retries: env('FILESET_HTTP_RETRIES', int(4)),
    retryMaxDelayMs: env('FILESET_HTTP_RETRY_MAX_DELAY_MS', int(60_000)),
    /** Retries of a 429 answer (the platform asked us to wait), counted apart from other retries. */
    rateLimitRetries: env('FILESET_HTTP_RATE_LIMIT_RETRIES', int(8)),
    /** Per-platform request budgets overriding the defaults of src/http/budget.ts. */
    budgets: env('FILESET_PLATFORM_BUDGETS', budgets()),
    perHostConcurrency: env('FILESET_HTTP_PER_HOST_CONCURRENCY', int(4, 1)),
    connectTimeoutMs: env('FILESET_HTTP_CONNECT_TIMEOUT_MS', int(15_000, 1)),
    headersTimeoutMs: env('FILESET_HTTP_HEADERS_TIMEOUT_MS', int(60_000, 1)),
    bodyTimeoutMs: env('FILESET_HTTP_BODY_TIMEOUT_MS', int(120_000, 1)),
    maxRedirects: env('FILESET_HTTP_MAX_REDIRECTS', int(10, 0)),
  }),
  landingMaxSize: env('FILESET_LANDING_MAX_SIZE', size('32MiB')),
  urlBlocklist: env('FILESET_URL_BLOCKLIST', list()),
  limits: z.object({
    maxTotalSize: env('FILESET_MAX_TOTAL_SIZE', size('64GiB')),
    maxFileCount: env('FILESET_MAX_FILE_COUNT', int(200, 1)),
  }),
  thresholds: z.object({
    webMaxFiles: env('FILESET_WEB_MAX_FILES', int(20, 1)),
    webMaxTotalSize: env('FILESET_WEB_MAX_TOTAL_SIZE', size('1GiB')),
    webMaxFileSize: env('FILESET_WEB_MAX_FILE_SIZE', size('128MiB')),
    bundleMinFiles: env('FILESET_BUNDLE_MIN_FILES', int(50, 1)),
    bundleMaxTotalSize: env('FILESET_BUNDLE_MAX_TOTAL_SIZE', size('4GiB')),
  }),
  downloadConcurrency: env('FILESET_DOWNLOAD_CONCURRENCY', int(4, 1)),
  ingestDeadlineMs: env(
    'FILESET_INGEST_DEADLINE_S',
    int(6 * 3600, 1).transform((seconds) => seconds * 1000),
  ),
  warc: z.object({
    prefix: env(
      'FILESET_WARC_PREFIX',
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/)
        .default('FILESET'),
    ),
    rolloverSize: env('FILESET_WARC_ROLLOVER_SIZE', size('1GB')),
    gzipLevel: env('FILESET_WARC_GZIP_LEVEL', int(5).pipe(z.number().max(9))),
    /** Where closed WARC files go (src/stores/warc/ship.ts); unset: they stay in `<dataDir>/warcs`. */
    store: env('FILESET_WARC_STORE', warcStore()),
    /** On archive.org, one item per period and worker: `<prefix>-<YYYYMMDD or YYYYMM>-<host>`. */
    itemPeriod: env('FILESET_WARC_ITEM_PERIOD', z.enum(['day', 'month']).default('day')),
    /** The archive.org collection of new WARC items (unset: none is asked for). */
    itemCollection: env(
      'FILESET_WARC_ITEM_COLLECTION',
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/)
        .optional(),
    ),
  }),
  items: z.object({
    /** Unset: `fs` under `<dataDir>/items` (filled in below). */
    store: env('FILESET_ITEM_STORE', itemStore()),
    /** Bytes the archiveorg-* strategies may hold in their working directory at once. */
    workDirBudget: env('FILESET_WORK_DIR_BUDGET', size('50GiB')),
  }),
  bundle: z.object({
    maxExpandedSize: env('FILESET_BUNDLE_MAX_EXPANDED_SIZE', size('8GiB')),
    maxRatio: env('FILESET_BUNDLE_MAX_RATIO', int(1000, 1)),
  }),
  s3: z.object({
    endpoint: env('FILESET_S3_ENDPOINT', httpUrl().optional()),
    region: env('FILESET_S3_REGION', z.string().min(1).default('us-east-1')),
    accessKeyId: env('FILESET_S3_ACCESS_KEY_ID', z.string().optional()),
    secretAccessKey: env('FILESET_S3_SECRET_ACCESS_KEY', z.string().optional()),
    forcePathStyle: env('FILESET_S3_FORCE_PATH_STYLE', bool(false)),
    partSize: env('FILESET_S3_PART_SIZE', size('64MiB')),
  }),
  ias3: z.object({
    endpoint: env('FILESET_IAS3_ENDPOINT', httpUrl().default('https://s3.us.archive.org')),
    metadataUrl: env('FILESET_IAS3_METADATA_URL', httpUrl().default('https://archive.org')),
    accessKey: env('FILESET_IAS3_ACCESS_KEY', z.string().optional()),
    secretKey: env('FILESET_IAS3_SECRET_KEY', z.string().optional()),
  }),
  kafka: z.object({
    brokers: env('FILESET_KAFKA_BROKERS', brokers()),
    /** The `{env}` of sandcrawler's topic and group names. */
    env: env(
      'FILESET_KAFKA_ENV',
      z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('dev'),
    ),
    /** Request topics the ingest worker consumes; empty: sandcrawler's daily and priority topics. */
    requestTopics: env('FILESET_KAFKA_REQUEST_TOPICS', list()),
    partitions: env('FILESET_KAFKA_PARTITIONS', int(8, 1)),
    replication: env('FILESET_KAFKA_REPLICATION', int(1, 1)),
  }),
  /** Requests in flight per ingest worker process. */
  workerConcurrency: env('FILESET_WORKER_CONCURRENCY', int(4, 1)),
  persist: z.object({
    batchSize: env('FILESET_PERSIST_BATCH_SIZE', int(500, 1)),
    lingerMs: env('FILESET_PERSIST_LINGER_MS', int(1000, 0)),
  }),
  /** The Prometheus endpoint of a worker; port 0 turns it off. */
  metrics: z.object({
    host: env('FILESET_METRICS_HOST', z.string().min(1).default('0.0.0.0')),
    port: env('FILESET_METRICS_PORT', int(9464, 0, 65535)),
  }),
});

/** The settings, with what follows from them: the version, the User-Agent, the default item store. */
export const ConfigSchema = SETTINGS.superRefine(({ items, warc, ias3 }, ctx) => {
  const needs =
    items.store?.kind === 'ias3'
      ? 'FILESET_ITEM_STORE=ias3://'
      : warc.store?.kind === 'ias3'
        ? 'FILESET_WARC_STORE=ias3://'
        : null;
  if (!needs) return;
  for (const [key, value] of [
    ['accessKey', ias3.accessKey],
    ['secretKey', ias3.secretKey],
  ] as const) {
    if (!value) ctx.addIssue({ code: 'custom', path: ['ias3', key], message: `needed by ${needs}` });
  }
}).transform(({ contact, userAgent, ...settings }) => ({
  version: VERSION,
  ...settings,
  userAgent: userAgent ?? `fileset-ingest/${VERSION}${contact ? ` (+${contact})` : ''}`,
  items: {
    ...settings.items,
    store:
      settings.items.store ??
      ({ kind: 'fs', root: resolve(join(settings.dataDir, 'items')) } satisfies ItemStoreLocation),
  },
}));

export type Config = z.output<typeof ConfigSchema>;

/** Every variable and where its value goes in the settings, in the order of the schema. */
const VARIABLES: Array<{ name: EnvName; path: string[] }> = (function walk(shape: z.ZodRawShape, path: string[]) {
  return Object.entries(shape).flatMap(([key, schema]): Array<{ name: EnvName; path: string[] }> => {
    if (schema instanceof z.ZodObject) return walk(schema.shape, [...path, key]);
    const name = VARIABLE_OF.get(schema as z.ZodType);
    if (!name) throw new Error(`config.ts: setting ${[...path, key].join('.')} has no variable`);
    return [{ name, path: [...path, key] }];
  });
})(SETTINGS.shape, []);

export const ENV_NAMES: readonly EnvName[] = VARIABLES.map((v) => v.name);

/** The default a variable's schema declares (as it would be written in the variable), or undefined. */
export function envDefault(name: EnvName): string | undefined {
  let schema = [...VARIABLE_OF].find(([, variable]) => variable === name)?.[0] as z.ZodType | undefined;
  while (schema) {
    const def = schema.def as { type: string; defaultValue?: unknown; in?: z.ZodType; innerType?: z.ZodType };
    if (def.type === 'default') return String(def.defaultValue);
    schema = def.type === 'pipe' ? def.in : def.innerType;
  }
  return undefined;
}

/** The flag spelling of a variable: FILESET_DATA_DIR → data-dir. */
export function flagName(env: EnvName): string {
  return env.slice('FILESET_'.length).toLowerCase().replaceAll('_', '-');
}

/** Variables whose values never appear in a message. */
const SECRETS: ReadonlySet<EnvName> = new Set(['FILESET_S3_SECRET_ACCESS_KEY', 'FILESET_IAS3_SECRET_KEY']);

/** A value as a message may quote it: on one line, short, secrets and passwords hidden. */
function shown(name: EnvName, value: unknown): string {
  if (SECRETS.has(name)) return '(hidden)';
  const text = String(value);
  const safe = name === 'FILESET_DATABASE_URL' && URL.canParse(text) ? redactUrl(text) : text;
  const quoted = JSON.stringify(safe);
  return quoted.length > 80 ? `${quoted.slice(0, 76)}…"` : quoted;
}

/**
 * Parses the environment, with CLI flag values (keyed by variable name) taking precedence.
 * Throws ConfigError naming every bad variable, its value and what is expected, on one line.
 */
export function loadConfig(
  environment: Record<string, string | undefined> = process.env,
  flags: Partial<Record<EnvName, string>> = {},
): Config {
  // Every group is there, set or not, so that an unset one parses to its defaults.
  const input: Record<string, unknown> = {};
  const given = new Map<string, string>();
  for (const { name, path } of VARIABLES) {
    let group = input;
    for (const key of path.slice(0, -1)) group = (group[key] ??= {}) as Record<string, unknown>;
    const value = flags[name] ?? environment[name];
    if (value !== undefined && value !== '') {
      group[path.at(-1)!] = value;
      given.set(path.join('.'), value);
    }
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const byPath = new Map(VARIABLES.map((v) => [v.path.join('.'), v.name]));
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const name = byPath.get(path);
      if (!name) return `${path}: ${issue.message}`;
      const value = given.get(path);
      return `${name}${value === undefined ? ' (unset)' : `=${shown(name, value)}`}: ${issue.message.replaceAll(/\s+/g, ' ')}`;
    });
    throw new ConfigError(`bad configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** Test-harness variables (README "Development"), not settings of the program. */
const TEST_PREFIX = 'FILESET_TEST_';

/** `FILESET_*` variables set in `environment` that are no setting, each with the closest setting's name. */
export function unknownVariables(
  environment: Record<string, string | undefined>,
): Array<{ name: string; suggestion: EnvName | undefined }> {
  const known = new Set<string>(ENV_NAMES);
  return Object.keys(environment)
    .filter((name) => name.startsWith('FILESET_') && !name.startsWith(TEST_PREFIX) && !known.has(name))
    .sort()
    .map((name) => ({ name, suggestion: closest(name, ENV_NAMES) }));
}

/** The environment the program reads: a `.env` file in `dir`, when there is one, under the process's environment. */
export function readEnvironment(
  dir = '.',
  environment: Record<string, string | undefined> = process.env,
): Record<string, string | undefined> {
  return { ...readEnvFile(join(dir, '.env')), ...environment };
}

/**
 * The variables of a `.env` file (Node's dotenv syntax), or none when there is no such file. The
 * caller lets the environment win over them. An unreadable file is a ConfigError.
 */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    throw new ConfigError(`cannot read ${path}: ${code ?? (err as Error).message}`);
  }
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(text))) if (value !== undefined) values[name] = value;
  return values;
}
