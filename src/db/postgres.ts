// PostgreSQL backend: one pg.Pool per Database. Types are overridden on this pool only (int8 →
// number), never on pg's global parser table, and lost connections become InfrastructureError.
import pg from 'pg';
import { ConfigError, InfrastructureError, ServiceUnavailableError } from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';
import { guardFinished, parseInt8, withSavepoint, type Database } from './handle.js';

const CONNECT_TIMEOUT_MS = 10_000;
const INT8_OID = 20;

// SQLSTATE classes and errno codes that mean "cannot reach or log in to the database, or it is
// shedding load": the same work can succeed later, so they are infrastructure trouble, not data
// errors. 08 connection, 28 authorization, 3D000 no such database, 53 resources, 57P shutdown,
// 40001/40P01 serialization failure and deadlock.
const TRANSIENT_SQLSTATE = /^(08|28|53|57P)|^3D000$|^40001$|^40P01$/;
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const TRANSIENT_MESSAGE = /connection terminated|timeout exceeded when trying to connect|connection error/i;

export interface PostgresOptions {
  /** Pool size (pg's default is 10). */
  max?: number;
}

export async function openPostgres(url: string, logger: Logger, options: PostgresOptions = {}): Promise<Database> {
  const where = checkedUrl(url);
  const secret = passwordOf(url);
  const wrap = (err: unknown) => toInfrastructureError(err, where, secret);

  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, 'text', parseInt8);
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: options.max ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'fileset-ingest',
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, it kills the process.
  pool.on('error', (err) => logger.warn({ err: wrap(err), database: where }, 'idle PostgreSQL connection failed'));

  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new ServiceUnavailableError(
      'PostgreSQL',
      where,
      'FILESET_DATABASE_URL',
      scrub(messageOf(err), secret),
      causeOf(err, secret),
    );
  }
  logger.debug({ database: where }, 'connected to PostgreSQL');

  const run = async <R>(op: () => Promise<R>): Promise<R> => {
    try {
      return await op();
    } catch (err) {
      throw wrap(err);
    }
  };

  const onClient = (client: pg.PoolClient, depth: number): Database => {
    const self: Database = {
      kind: 'postgres',
      query: async <T>(sql: string, params?: unknown[]) => (await run(() => client.query(sql, params))).rows as T[],
      exec: async (sql) => {
        await run(() => client.query(sql));
      },
      transaction: (fn) => withSavepoint(self, depth, fn, (d) => onClient(client, d)),
      close: async () => {
        throw new Error('close the database, not a transaction handle');
      },
    };
    return self;
  };

  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres',
    query: async <T>(sql: string, params?: unknown[]) => (await run(() => pool.query(sql, params))).rows as T[],
    exec: async (sql) => {
      await run(() => pool.query(sql));
    },
    transaction: async (fn) => {
      const client = await run(() => pool.connect());
      let done = false;
      let broken: Error | undefined;
      // pg emits a checked-out client's connection loss as 'error' on the client, which nobody
      // else listens to: unheard, it would crash the process. The failing query rejects anyway.
      const onLost = (err: Error) => {
        broken = err;
      };
      client.on('error', onLost);
      try {
        await run(() => client.query('BEGIN'));
        const result = await fn(guardFinished(onClient(client, 1), () => done));
        await run(() => client.query('COMMIT'));
        return result;
      } catch (err) {
        // A client whose ROLLBACK fails is in an unknown state: destroy it rather than reuse it.
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        throw err;
      } finally {
        done = true;
        client.off('error', onLost);
        client.release(broken);
      }
    },
    close: () => (closing ??= pool.end()),
  };
}

/** The redacted URL for messages; a URL pg cannot use is a configuration error, not a retry. */
function checkedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('FILESET_DATABASE_URL is not a URL (expected postgres://user@host:port/db)');
  }
  if (!['postgres:', 'postgresql:', 'socket:'].includes(parsed.protocol)) {
    throw new ConfigError(`FILESET_DATABASE_URL is not a postgres:// URL: ${redactUrl(url)}`);
  }
  return redactUrl(url);
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_ERRNO.has(code))) return true;
  return err instanceof Error && TRANSIENT_MESSAGE.test(err.message);
}

/** Transient failures become InfrastructureError; SQL errors (constraints, syntax) pass unchanged. */
function toInfrastructureError(err: unknown, where: string, secret: string): unknown {
  if (err instanceof InfrastructureError || !isTransient(err)) return err;
  return new InfrastructureError(`PostgreSQL at ${where}: ${scrub(messageOf(err), secret)}`, causeOf(err, secret));
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return err.errors.map(messageOf).join('; ');
  return err instanceof Error ? err.message || err.constructor.name : String(err);
}

function scrub(text: string, secret: string): string {
  return secret ? text.replaceAll(secret, '***') : text;
}

/** Keeps the original error as cause unless anything in it mentions the password. */
function causeOf(err: unknown, secret: string): { cause?: unknown } {
  if (!secret) return { cause: err };
  const seen = err instanceof Error ? `${err.message}\n${err.stack ?? ''}\n${safeJson(err)}` : String(err);
  return seen.includes(secret) ? {} : { cause: err };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
