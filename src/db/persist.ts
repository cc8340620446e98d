// persistResults: a batch of fileset results into the sandcrawler tables, in one transaction with
// one multi-row upsert per table. Idempotent (a replayed batch changes no row); each result is
// written whole or not at all, and a refused one is reported with its key while the rest lands.
import { describeError, InfrastructureError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { FilesetResultSchema } from '../schemas/result.js';
import type { Database } from './database.js';
import {
  emptyTableRows,
  PERSIST_TABLES,
  rowsOfResult,
  rowsProblem,
  TABLES,
  type PersistTable,
  type Row,
  type SkipReason,
  type TableRows,
  type TableSpec,
} from './persist-rows.js';

export { PERSIST_TABLES, type PersistTable } from './persist-rows.js';

export interface RejectedRow {
  /**
   * The table whose row broke a rule (none of the result's rows is written), or `result`: the
   * result itself was not a valid fileset result.
   */
  table: PersistTable | 'result';
  /** The result's key: its request's ingest_type and base_url. */
  key: Record<string, string | null>;
  error: string;
}

export interface PersistOutcome {
  /** Valid fileset results in the batch (their rows were written unless listed in `rejected`). */
  results: number;
  /** Rows inserted or changed, by table: 0 everywhere for a replayed batch. */
  rows: Record<PersistTable, number>;
  rejected: RejectedRow[];
  /** Results, or rows of a result, left out on purpose, by reason (see SkippedReason). */
  skipped: Partial<Record<SkippedReason, number>>;
}

/**
 * `dataset-file`: a dataset-file result (the file-ingest topic's shape; not ours to store here);
 * `skip-ingest-type`: the answer to a request of another ingest_type, which another worker stores;
 * `no-base-url`: a result (bad-request) whose request has no base_url, so no keyed row;
 * `no-link-source`: a request without link_source/link_source_id (after sandcrawler's defaults).
 */
export type SkippedReason = 'dataset-file' | 'skip-ingest-type' | SkipReason;

export interface PersistOptions {
  logger: Logger;
  metrics?: Metrics;
}

/** One result's rows, written all together or not at all. */
interface ResultBatch {
  key: Record<string, string | null>;
  rows: TableRows;
}

/** Longest value of a reported key. */
const MAX_KEY_CHARS = 1024;

// Errors that belong to one row's values, not to the statement or the database: data exceptions
// (22xxx), integrity violations (23xxx), and an index entry too large (54000, a huge URL).
const ROW_ERROR = /^(22|23)|^54000$/;

/**
 * Writes the batch, each result all or nothing: a result is checked whole before any of its rows
 * is written, and one the database still refuses is rolled back whole (its own savepoint) while
 * the rest of the batch lands. Throws (writing nothing) when the database itself fails:
 * InfrastructureError for a lost connection, which the caller retries with the same batch.
 */
export async function persistResults(
  db: Database,
  results: unknown[],
  options: PersistOptions,
): Promise<PersistOutcome> {
  const { logger, metrics } = options;
  const started = process.hrtime.bigint();
  const outcome: PersistOutcome = { results: 0, rows: zeroCounts(), rejected: [], skipped: {} };
  const reject = (entry: RejectedRow) => {
    // Expected trouble with the data, not with us: one line with the key and the reason, no stack.
    logger.warn(entry, 'result not persisted');
    metrics?.persistRejected.inc({ table: entry.table });
    outcome.rejected.push(entry);
  };
  const accepted: ResultBatch[] = [];
  for (const raw of results) {
    if (isDatasetFileResult(raw)) {
      count(outcome.skipped, 'dataset-file');
      continue;
    }
    const parsed = FilesetResultSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      reject({ table: 'result', key: resultKey(raw), error: `${issue.path.join('.') || 'result'}: ${issue.message}` });
      continue;
    }
    if (parsed.data.status === 'skip-ingest-type') {
      // A request for another worker: its rows (keyed by that ingest_type) are that worker's to write.
      count(outcome.skipped, 'skip-ingest-type');
      continue;
    }
    outcome.results += 1;
    const { rows, skipped } = rowsOfResult(parsed.data);
    const problem = rowsProblem(rows);
    if (problem) {
      reject({ table: problem.table, key: resultKey(raw), error: problem.error });
      continue;
    }
    for (const reason of skipped) count(outcome.skipped, reason);
    accepted.push({ key: resultKey(raw), rows: { ...emptyTableRows(), ...rows } });
  }

  await db.transaction(async (tx) => {
    const { written, refused } = await writeKeepingGoodResults(tx, accepted);
    outcome.rows = written;
    for (const { result, table, error } of refused) reject({ table, key: result.key, error });
  });

  for (const table of PERSIST_TABLES) if (outcome.rows[table]) metrics?.persistRows.inc({ table }, outcome.rows[table]);
  metrics?.persistBatchSize.observe(results.length);
  metrics?.persistSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  return outcome;
}

/**
 * One statement per table for the whole batch, inside a savepoint. Should the database refuse a
 * row anyway (a rule not checked up front), each result again in its own savepoint: a result it
 * refuses leaves no row in any table, the others are kept.
 */
async function writeKeepingGoodResults(
  tx: Database,
  results: ResultBatch[],
): Promise<{
  written: Record<PersistTable, number>;
  refused: Array<{ result: ResultBatch; table: PersistTable; error: string }>;
}> {
  const refused: Array<{ result: ResultBatch; table: PersistTable; error: string }> = [];
  const progress: WriteProgress = { table: PERSIST_TABLES[0] };
  try {
    return { written: await tx.transaction((sp) => writeRows(sp, results, progress)), refused };
  } catch (err) {
    if (!isRowError(err)) throw err;
  }
  const written = zeroCounts();
  for (const result of results) {
    try {
      const wrote = await tx.transaction((sp) => writeRows(sp, [result], progress));
      for (const table of PERSIST_TABLES) written[table] += wrote[table];
    } catch (err) {
      if (!isRowError(err)) throw err;
      refused.push({ result, table: progress.table, error: describeRowError(err) });
    }
  }
  return { written, refused };
}

/** The table being written when a statement failed. */
interface WriteProgress {
  table: PersistTable;
}

/** Rows written by table: one upsert per table for all the results given. */
async function writeRows(
  db: Database,
  results: ResultBatch[],
  progress: WriteProgress,
): Promise<Record<PersistTable, number>> {
  const written = zeroCounts();
  for (const table of PERSIST_TABLES) {
    progress.table = table;
    const rows = uniqueInKeyOrder(
      TABLES[table],
      results.flatMap((r) => r.rows[table]),
    );
    if (rows.length) written[table] = await upsert(db, TABLES[table], rows);
  }
  return written;
}

/** Rows inserted or changed. Arrays (one per column) keep the statement's text and parameter count fixed. */
async function upsert(db: Database, spec: TableSpec, rows: Row[]): Promise<number> {
  const params = spec.columns.map(([name]) => arrayLiteral(rows.map((row) => row[name] ?? null)));
  const written = await db.query(upsertSql(spec), params);
  return written.length;
}

/**
 * A PostgreSQL array literal. pg's own array encoder builds it piece by piece and took ~100 ms for
 * a batch of 500 ten-file manifests (2 MB), more than the database needed to store them.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | boolean | null>): string {
  const items = values.map((v) => {
    if (v === null) return 'NULL';
    if (typeof v === 'string') return `"${v.replace(/[\\"]/g, '\\$&')}"`;
    return typeof v === 'boolean' ? (v ? 't' : 'f') : String(v);
  });
  return `{${items.join(',')}}`;
}

const sqlCache = new Map<PersistTable, string>();

export function upsertSql(spec: TableSpec): string {
  const cached = sqlCache.get(spec.name);
  if (cached) return cached;
  const names = spec.columns.map(([name]) => name);
  // jsonb travels as text[] (one JSON text per row): both pg and PGlite pass text arrays verbatim.
  const arrays = spec.columns.map(([, type], i) => `$${i + 1}::${type === 'jsonb' ? 'text' : type}[]`);
  const values = spec.columns.map(([name, type]) => (type === 'jsonb' ? `u.${name}::jsonb` : `u.${name}`));
  const changing = names.filter((name) => !spec.key.includes(name));
  const conflict =
    spec.onConflict === 'nothing'
      ? 'DO NOTHING'
      : `DO UPDATE SET ${[...changing.map((c) => `${c} = EXCLUDED.${c}`), ...(spec.touch ? [`${spec.touch} = now()`] : [])].join(', ')}
  WHERE (${changing.map((c) => `cur.${c}`).join(', ')}) IS DISTINCT FROM (${changing.map((c) => `EXCLUDED.${c}`).join(', ')})`;
  const sql = `INSERT INTO ${spec.name} AS cur (${names.join(', ')})
  SELECT ${values.join(', ')} FROM unnest(${arrays.join(', ')}) AS u(${names.join(', ')})
  ON CONFLICT (${spec.key.join(', ')}) ${conflict}
  RETURNING 1`;
  sqlCache.set(spec.name, sql);
  return sql;
}

/**
 * One row per key, the last one given (Postgres refuses to update one row twice in a statement),
 * sorted by key: two persisters writing overlapping rows (the same file from two datasets) then
 * lock them in the same order and cannot deadlock.
 */
function uniqueInKeyOrder(spec: TableSpec, rows: Row[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const row of rows) byKey.set(JSON.stringify(spec.key.map((column) => row[column])), row);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

function isRowError(err: unknown): boolean {
  if (err instanceof InfrastructureError) return false;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ROW_ERROR.test(code);
}

function describeRowError(err: unknown): string {
  const e = err as { code?: string; constraint?: string };
  const parts = [describeError(err)];
  if (e.constraint) parts.push(`constraint ${e.constraint}`);
  if (e.code) parts.push(`SQLSTATE ${e.code}`);
  return parts.join('; ');
}

function isDatasetFileResult(raw: unknown): boolean {
  const request = (raw as { request?: unknown } | null)?.request;
  return (
    !!request && typeof request === 'object' && (request as { ingest_type?: unknown }).ingest_type === 'dataset-file'
  );
}

/** What identifies a result that could not be read as one: its request's type and URL, when present. */
function resultKey(raw: unknown): Record<string, string | null> {
  const request = (raw as { request?: unknown } | null)?.request as Record<string, unknown> | undefined;
  // A hostile base_url may be megabytes long: the key names it, it need not repeat it.
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, MAX_KEY_CHARS) : null);
  return { ingest_type: text(request?.ingest_type), base_url: text(request?.base_url) };
}

function zeroCounts(): Record<PersistTable, number> {
  return { ingest_request: 0, ingest_file_result: 0, ingest_fileset_platform: 0, cdx: 0, file_meta: 0 };
}

function count<K extends string>(counts: Partial<Record<K, number>>, key: K): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
