// `fileset-ingest status`: what is stored, read from the capture index, the persisted results and
// the local WARC directory; a table on a terminal, JSON with --json. It writes nothing: without an
// embedded database yet, everything is zero.
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config, WarcStoreLocation } from '../config.js';
import { embeddedDatabaseExists, openDatabase, type Database } from '../db/database.js';
import { UsageError } from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';

export { statusUsage as usage } from './usage.js';

export interface StatusReport {
  database: string;
  captures: {
    /** Response records (landing pages, files, error pages) and their payload bytes. */
    responses: number;
    bytes: number;
    warc_files: number;
    revisits: number;
    last_capture: string | null;
  };
  warc_dir: { path: string; files: number; bytes: number; open: number };
  /**
   * FILESET_WARC_STORE (null when unset: WARC files stay in warc_dir), the closed WARC files of this
   * machine waiting to be shipped there, and the WARC files the capture index names there.
   */
  warc_store: { store: string; waiting_files: number; waiting_bytes: number; shipped_files: number } | null;
  datasets: {
    total: number;
    files: number;
    bytes: number;
    items: number;
    by_status: Array<{ status: string; count: number; last: string }>;
  };
  last_runs: Array<{ base_url: string; status: string; updated: string; file_count: number; total_size: number }>;
}

const LAST_RUNS = 5;

export async function run(
  config: Config,
  logger: Logger,
  args: string[],
  options: { json: boolean; output?: NodeJS.WritableStream },
): Promise<number> {
  if (args.length) throw new UsageError(`unexpected argument "${args[0]}"`);
  const report = await statusReport(config, logger);
  const output = options.output ?? process.stdout;
  output.write(options.json ? `${JSON.stringify(report)}\n` : formatStatus(report));
  return 0;
}

export async function statusReport(config: Config, logger: Logger): Promise<StatusReport> {
  const database = config.databaseUrl ? redactUrl(config.databaseUrl) : `embedded (${join(config.dataDir, 'pglite')})`;
  const warcDir = await warcDirectory(resolve(config.dataDir, 'warcs'));
  const store = config.warc.store ? describeWarcStore(config.warc.store) : null;
  const warcStore = (shipped: number): StatusReport['warc_store'] =>
    store === null
      ? null
      : {
          store,
          waiting_files: warcDir.files - warcDir.open,
          waiting_bytes: warcDir.bytes - warcDir.open_bytes,
          shipped_files: shipped,
        };
  const disk = { path: warcDir.path, files: warcDir.files, bytes: warcDir.bytes, open: warcDir.open };
  if (!config.databaseUrl && !embeddedDatabaseExists(config.dataDir)) {
    const { shipped: _none, ...tables } = await tablesOf(null);
    return { database, warc_dir: disk, warc_store: warcStore(0), ...tables };
  }
  const db = await openDatabase(config, logger);
  try {
    const { shipped, ...tables } = await tablesOf(db);
    return { database, warc_dir: disk, warc_store: warcStore(shipped), ...tables };
  } finally {
    await db.close();
  }
}

function describeWarcStore(location: WarcStoreLocation): string {
  switch (location.kind) {
    case 'fs':
      return `fs://${location.root}/${location.prefix}`;
    case 's3':
      return `s3://${location.bucket}/${location.prefix}`;
    case 'ias3':
      return `ias3://${location.itemPrefix}`;
  }
}

/** The figures of the capture index and the persisted results; zeros for a table that does not exist (yet). */
async function tablesOf(
  db: Database | null,
): Promise<Pick<StatusReport, 'captures' | 'datasets' | 'last_runs'> & { shipped: number }> {
  const has = async (table: string) =>
    db !== null && (await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]))[0]?.t != null;
  const hasCapture = await has('capture');
  // A shipped file's path says where it is (`<item or prefix>/<file>`); a local one is a bare name.
  const [{ shipped } = { shipped: 0 }] = hasCapture
    ? await db!.query<{ shipped: number }>(
        `SELECT count(DISTINCT warc_path)::int8 AS shipped FROM capture WHERE strpos(warc_path, '/') > 0`,
      )
    : [];
  const [captures] = hasCapture
    ? await db!.query<StatusReport['captures']>(
        `SELECT count(*) FILTER (WHERE record_type = 'response')::int8 AS responses,
                coalesce(sum(size_bytes) FILTER (WHERE record_type = 'response'), 0)::int8 AS bytes,
                count(DISTINCT warc_path)::int8 AS warc_files,
                count(*) FILTER (WHERE record_type = 'revisit')::int8 AS revisits,
                to_char(max(created) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_capture
           FROM capture`,
      )
    : [{ responses: 0, bytes: 0, warc_files: 0, revisits: 0, last_capture: null }];
  if (!(await has('ingest_fileset_platform'))) {
    return {
      captures: captures!,
      datasets: { total: 0, files: 0, bytes: 0, items: 0, by_status: [] },
      last_runs: [],
      shipped,
    };
  }
  const updated = `to_char(updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
  const [totals] = await db!.query<Omit<StatusReport['datasets'], 'by_status'>>(
    `SELECT count(*)::int8 AS total, coalesce(sum(file_count), 0)::int8 AS files,
            coalesce(sum(total_size), 0)::int8 AS bytes, count(DISTINCT archiveorg_item_name)::int8 AS items
       FROM ingest_fileset_platform`,
  );
  const byStatus = await db!.query<StatusReport['datasets']['by_status'][number]>(
    `SELECT coalesce(status, '(none)') AS status, count(*)::int8 AS count,
            to_char(max(updated) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last
       FROM ingest_fileset_platform GROUP BY 1 ORDER BY count(*) DESC, 1`,
  );
  const lastRuns = await db!.query<StatusReport['last_runs'][number]>(
    `SELECT base_url, coalesce(status, '(none)') AS status, ${updated} AS updated,
            coalesce(file_count, 0)::int8 AS file_count, coalesce(total_size, 0)::int8 AS total_size
       FROM ingest_fileset_platform ORDER BY updated DESC, base_url LIMIT ${LAST_RUNS}`,
  );
  return { captures: captures!, datasets: { ...totals!, by_status: byStatus }, last_runs: lastRuns, shipped };
}

/** WARC files on this machine's disk: finished ones and those still being written (`.open`). */
async function warcDirectory(path: string): Promise<StatusReport['warc_dir'] & { open_bytes: number }> {
  const dir = { path, files: 0, bytes: 0, open: 0, open_bytes: 0 };
  if (!existsSync(path)) return dir;
  for (const name of await readdir(path)) {
    if (!/\.warc(\.gz)?(\.open)?$/.test(name)) continue;
    const { size } = await stat(join(path, name));
    dir.files += 1;
    dir.bytes += size;
    if (name.endsWith('.open')) {
      dir.open += 1;
      dir.open_bytes += size;
    }
  }
  return dir;
}

/** Bytes for people: 1.5 GB (powers of 10, as the sizes in the README). */
export function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0
    ? `${Math.round(bytes)} B`
    : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

/** The report as a few aligned tables. */
export function formatStatus(report: StatusReport): string {
  const { captures: c, warc_dir: w, datasets: d } = report;
  const rows: Array<[string, string]> = [
    ['database', report.database],
    ['captured responses', `${c.responses} (${humanBytes(c.bytes)})${c.revisits ? `, ${c.revisits} revisits` : ''}`],
    ['WARC files (index)', String(c.warc_files)],
    [
      'WARC files (disk)',
      `${w.files} (${humanBytes(w.bytes)})${w.open ? `, ${w.open} being written` : ''} in ${w.path}`,
    ],
    ...(report.warc_store
      ? ([
          ['WARC store', report.warc_store.store],
          [
            'WARC files waiting to ship',
            `${report.warc_store.waiting_files} (${humanBytes(report.warc_store.waiting_bytes)})`,
          ],
          ['WARC files shipped', String(report.warc_store.shipped_files)],
        ] as Array<[string, string]>)
      : []),
    ['last capture', c.last_capture ?? 'never'],
    ['datasets', `${d.total} (${d.files} files, ${humanBytes(d.bytes)})`],
    ['archive items', String(d.items)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (d.by_status.length) {
    lines.push(
      '',
      table(
        ['status', 'datasets', 'last run'],
        d.by_status.map((s) => [s.status, String(s.count), s.last]),
      ),
    );
  }
  if (report.last_runs.length) {
    lines.push(
      '',
      table(
        ['last runs', 'status', 'files', 'size', 'when'],
        report.last_runs.map((r) => [r.base_url, r.status, String(r.file_count), humanBytes(r.total_size), r.updated]),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
