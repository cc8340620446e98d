// Benchmark: persist throughput. N synthetic fileset results with 10-file manifests (14 rows each
// in five tables) written by persistResults in batches of 500 into a fresh PostgreSQL database,
// then the same batches replayed, compared with plain multi-row INSERTs and with COPY of the same
// rows into the same (emptied) tables.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { arrayLiteral, persistResults } from '../src/db/persist.js';
import { FilesetResultSchema } from '../src/schemas/result.js';
import {
  emptyTableRows,
  PERSIST_TABLES,
  rowsOfResult,
  TABLES,
  type Row,
  type TableRows,
} from '../src/db/persist-rows.js';
import type { FilesetResult } from '../src/schemas/result.js';
import { benchScale, fmt, log, markdownTable, withDatabase, type BenchReport } from './lib.js';

const BATCH = 500;
const FILES = 10;
const logger = pino({ level: 'silent' });

interface Measured {
  method: string;
  seconds: number;
  /** Rows in the five tables afterwards, summed: must equal the rows the results hold. */
  rows: number;
}

export async function persistBench(): Promise<BenchReport> {
  const count = Math.max(BATCH, Math.round(20_000 * benchScale()));
  log(`generating ${count} results with ${FILES}-file manifests`);
  const results = Array.from({ length: count }, (_, i) => syntheticResult(i));
  const batches = chunks(results, BATCH);
  const tables = tableRows(results);
  const expectedRows = PERSIST_TABLES.reduce((sum, t) => sum + tables[t].length, 0);
  const measured: Measured[] = [];
  const invalid: string[] = [];
  // The share of persistResults spent in this process: validating and turning results into rows.
  const jsStart = process.hrtime.bigint();
  for (const r of results) rowsOfResult(FilesetResultSchema.parse(r));
  const jsSeconds = Number(process.hrtime.bigint() - jsStart) / 1e9;

  await withDatabase('postgres', async (url) => {
    const db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: url }, logger);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await migrate(db, logger);
      const time = async (method: string, body: () => Promise<void>) => {
        log(method);
        const start = process.hrtime.bigint();
        await body();
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        measured.push({ method, seconds, rows: await totalRows(db) });
      };

      await time(`persistResults, ${BATCH} per batch, into empty tables`, async () => {
        for (const batch of batches) check(await persistResults(db, batch, { logger }), invalid);
      });
      await time(`persistResults, the same batches replayed (every row a conflict, none changed)`, async () => {
        for (const batch of batches) check(await persistResults(db, batch, { logger }), invalid);
      });
      await truncate(db);
      await time(`multi-row INSERT without ON CONFLICT, ${BATCH} per batch (rows prepared beforehand)`, async () => {
        for (const batch of batches) {
          const rows = tableRows(batch);
          await db.transaction(async (tx) => {
            for (const t of PERSIST_TABLES)
              if (rows[t].length) await tx.query(plainInsertSql(t), columnArrays(t, rows[t]));
          });
        }
      });
      await truncate(db);
      const batchRows = batches.map(tableRows);
      await time(`COPY, ${BATCH} per batch (rows prepared beforehand)`, async () => {
        for (const rows of batchRows) {
          await client.query('BEGIN');
          for (const t of PERSIST_TABLES) await copyIn(client, t, rows[t]);
          await client.query('COMMIT');
        }
      });
      await truncate(db);
      await time('COPY, one stream per table for all rows (rows prepared beforehand)', async () => {
        await client.query('BEGIN');
        for (const t of PERSIST_TABLES) await copyIn(client, t, tables[t]);
        await client.query('COMMIT');
      });
    } finally {
      await client.end();
      await db.close();
    }
  });

  for (const m of measured) {
    if (m.rows !== expectedRows) invalid.push(`${m.method}: ${m.rows} rows in the tables, expected ${expectedRows}`);
  }
  const header = ['method', 'seconds', 'results/s', 'rows/s'];
  const table = markdownTable(
    header,
    measured.map((m) => [m.method, fmt(m.seconds, 2), fmt(count / m.seconds, 0), fmt(expectedRows / m.seconds, 0)]),
  );
  const perTable = PERSIST_TABLES.map((t) => `${t} ${tables[t].length}`).join(', ');
  const markdown =
    `${count} results with ${FILES}-file manifests, ${expectedRows} rows (${perTable}), into a fresh database on the local ` +
    `PostgreSQL. "Rows prepared beforehand": the baselines get the rows persistResults would write, already built; ` +
    `persistResults itself spent ${fmt(jsSeconds, 2)} s of its time validating the results (zod) and building their rows.\n\n${table}`;
  return { markdown, invalid };
}

/** A web-fileset success with FILES archived files; every key and hash distinct. */
function syntheticResult(i: number): FilesetResult {
  const doi = `10.5281/zenodo.${1_000_000 + i}`;
  const base = `https://doi.org/${doi}`;
  const landing = `https://zenodo.org/records/${1_000_000 + i}`;
  const manifest = Array.from({ length: FILES }, (_, j) => {
    const seed = `${i}/${j}`;
    return {
      path: `data/file-${j}.csv`,
      size: 1000 + j,
      md5: hash('md5', seed),
      sha1: hash('sha1', seed),
      sha256: hash('sha256', seed),
      mimetype: 'text/csv',
      extra: { version: '1' },
      status: 'success' as const,
      platform_url: `${landing}/files/file-${j}.csv`,
      terminal_url: `${landing}/files/file-${j}.csv`,
      terminal_dt: '20240101000000',
    };
  });
  return {
    hit: true,
    status: 'success',
    request: { base_url: base, ingest_type: 'dataset', link_source: 'doi', link_source_id: doi, ext_ids: { doi } },
    terminal: {
      terminal_url: landing,
      terminal_dt: '20240101000000',
      terminal_status_code: 200,
      terminal_sha1hex: hash('sha1', landing),
    },
    cdx: {
      surt: `org,zenodo)/records/${1_000_000 + i}`,
      datetime: '20240101000000',
      url: landing,
      mimetype: 'text/html',
      status_code: 200,
      sha1b32: 'A'.repeat(32),
      sha1hex: hash('sha1', landing),
      warc_path: 'FILESET-bench.warc.gz',
      warc_offset: i * 1000,
      warc_csize: 900,
    },
    platform_name: 'zenodo',
    platform_domain: 'zenodo.org',
    platform_id: String(1_000_000 + i),
    archiveorg_item_name: `zenodo.org-${1_000_000 + i}`,
    ingest_strategy: 'web-fileset',
    file_count: FILES,
    total_size: manifest.reduce((s, e) => s + e.size, 0),
    manifest,
  };
}

function hash(alg: string, text: string): string {
  return createHash(alg).update(text).digest('hex');
}

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

function tableRows(results: FilesetResult[]): TableRows {
  const tables = emptyTableRows();
  for (const r of results) {
    const { rows } = rowsOfResult(r);
    for (const t of PERSIST_TABLES) tables[t].push(...(rows[t] ?? []));
  }
  return tables;
}

function check(outcome: Awaited<ReturnType<typeof persistResults>>, invalid: string[]): void {
  if (outcome.rejected.length)
    invalid.push(`persistResults rejected ${outcome.rejected.length} rows: ${JSON.stringify(outcome.rejected[0])}`);
}

async function totalRows(db: Database): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `SELECT ${PERSIST_TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(' + ')} AS n`,
  );
  return Number(row?.n);
}

async function truncate(db: Database): Promise<void> {
  await db.exec(`TRUNCATE ${PERSIST_TABLES.join(', ')}`);
}

function plainInsertSql(table: (typeof PERSIST_TABLES)[number]): string {
  const spec = TABLES[table];
  const names = spec.columns.map(([n]) => n);
  const arrays = spec.columns.map(([, type], i) => `$${i + 1}::${type === 'jsonb' ? 'text' : type}[]`);
  const values = spec.columns.map(([n, type]) => (type === 'jsonb' ? `u.${n}::jsonb` : `u.${n}`));
  return `INSERT INTO ${table} (${names.join(', ')}) SELECT ${values.join(', ')} FROM unnest(${arrays.join(', ')}) AS u(${names.join(', ')})`;
}

function columnArrays(table: (typeof PERSIST_TABLES)[number], rows: Row[]): unknown[] {
  return TABLES[table].columns.map(([n]) => arrayLiteral(rows.map((r) => r[n] ?? null)));
}

// ---- COPY ... FROM STDIN through pg's own connection (pg has no COPY API of its own) ----

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** COPY text format: tab-separated, \N for null, backslash escapes. */
function copyText(table: (typeof PERSIST_TABLES)[number], rows: Row[]): Buffer {
  const columns = TABLES[table].columns.map(([n]) => n);
  const field = (v: Row[string] | undefined) =>
    v === null || v === undefined
      ? '\\N'
      : typeof v === 'boolean'
        ? v
          ? 't'
          : 'f'
        : String(v).replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!);
  return Buffer.from(rows.map((r) => `${columns.map((c) => field(r[c])).join('\t')}\n`).join(''));
}

/** A pg Submittable: the client hands it the connection and feeds it the server's messages. */
function copyIn(client: pg.Client, table: (typeof PERSIST_TABLES)[number], rows: Row[]): Promise<void> {
  if (!rows.length) return Promise.resolve();
  const data = copyText(table, rows);
  const columns = TABLES[table].columns.map(([n]) => n).join(', ');
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    const noop = () => undefined;
    const submittable = {
      submit: (connection: unknown) => (connection as CopyConnection).query(`COPY ${table} (${columns}) FROM STDIN`),
      handleCopyInResponse: (connection: CopyConnection) => {
        for (let at = 0; at < data.length; at += 1 << 20)
          connection.sendCopyFromChunk(data.subarray(at, at + (1 << 20)));
        connection.endCopyFrom();
      },
      handleError: (err: Error) => void (failure = err),
      handleReadyForQuery: () => (failure ? reject(failure) : resolve()),
      handleCommandComplete: noop,
      handleRowDescription: noop,
      handleDataRow: noop,
      handleEmptyQuery: noop,
      handlePortalSuspended: noop,
      handleCopyData: noop,
    };
    client.query(submittable as pg.Submittable);
  });
}
