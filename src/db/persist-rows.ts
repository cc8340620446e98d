// What one fileset result contributes to each sandcrawler table (002_sandcrawler_tables.sql), as
// plain rows: the rules of sandcrawler's persist path, with its gaps closed (dataset requests are
// stored; the bundle fields are read from the result, not from the row being built).
import type { Cdx, FileMeta, FilesetResult } from '../schemas/result.js';
import type { ManifestEntry } from '../schemas/manifest.js';

export const PERSIST_TABLES = [
  'ingest_request',
  'ingest_file_result',
  'ingest_fileset_platform',
  'cdx',
  'file_meta',
] as const;
export type PersistTable = (typeof PERSIST_TABLES)[number];

export type Row = Record<string, string | number | boolean | null>;

type ColumnType = 'text' | 'bigint' | 'integer' | 'boolean' | 'jsonb';

/**
 * The rule a column's CHECK constraint (002_sandcrawler_tables.sql) states, checked before any row
 * of a result is written: `text` non-empty, `dt14` 14 digits, `hexN` N lowercase hex digits,
 * `count` >= 0, `positive` > 0, `array`/`object` the JSON type. `required`: NOT NULL.
 */
type ColumnCheck = 'text' | 'dt14' | 'hex32' | 'hex40' | 'hex64' | 'count' | 'positive' | 'array' | 'object' | 'any';

type Column = readonly [
  name: string,
  type: ColumnType,
  check?: ColumnCheck,
  flags?: 'required' | 'indexed' | 'required indexed',
];

export interface TableSpec {
  name: PersistTable;
  columns: readonly Column[];
  key: readonly string[];
  /**
   * `update`: a row with the same key takes the new values when any differs (the latest result
   * wins; `updated` is set then). `nothing`: the first row stays; cdx and file_meta rows describe
   * a capture or a file's bytes, which never change.
   */
  onConflict: 'update' | 'nothing';
  touch?: string;
}

export const TABLES: Record<PersistTable, TableSpec> = {
  ingest_request: {
    name: 'ingest_request',
    columns: [
      ['link_source', 'text', 'text', 'required indexed'],
      ['link_source_id', 'text', 'text', 'required indexed'],
      ['ingest_type', 'text', 'text', 'required indexed'],
      ['base_url', 'text', 'text', 'required indexed'],
      ['ingest_request_source', 'text', 'text'],
      ['release_stage', 'text', 'text'],
      ['request', 'jsonb', 'object'],
    ],
    key: ['link_source', 'link_source_id', 'ingest_type', 'base_url'],
    onConflict: 'update',
  },
  ingest_file_result: {
    name: 'ingest_file_result',
    columns: [
      ['ingest_type', 'text', 'text', 'required indexed'],
      ['base_url', 'text', 'text', 'required indexed'],
      ['hit', 'boolean', 'any', 'required'],
      ['status', 'text', 'text'],
      ['terminal_url', 'text', 'text', 'indexed'],
      ['terminal_dt', 'text', 'dt14'],
      ['terminal_status_code', 'integer', 'any'],
      ['terminal_sha1hex', 'text', 'hex40'],
    ],
    key: ['ingest_type', 'base_url'],
    onConflict: 'update',
    touch: 'updated',
  },
  ingest_fileset_platform: {
    name: 'ingest_fileset_platform',
    columns: [
      ['ingest_type', 'text', 'text', 'required indexed'],
      ['base_url', 'text', 'text', 'required indexed'],
      ['hit', 'boolean', 'any', 'required'],
      ['status', 'text', 'text'],
      ['platform_name', 'text', 'text', 'required indexed'],
      ['platform_domain', 'text', 'text', 'required indexed'],
      ['platform_id', 'text', 'text', 'required indexed'],
      ['ingest_strategy', 'text', 'text'],
      ['total_size', 'bigint', 'count'],
      ['file_count', 'bigint', 'count'],
      ['archiveorg_item_name', 'text', 'text'],
      ['archiveorg_item_bundle_path', 'text', 'text'],
      ['web_bundle_url', 'text', 'text'],
      ['web_bundle_dt', 'text', 'dt14'],
      ['manifest', 'jsonb', 'array'],
    ],
    key: ['ingest_type', 'base_url'],
    onConflict: 'update',
    touch: 'updated',
  },
  cdx: {
    name: 'cdx',
    columns: [
      ['url', 'text', 'text', 'required indexed'],
      ['datetime', 'text', 'dt14', 'required indexed'],
      ['sha1hex', 'text', 'hex40', 'required indexed'],
      ['mimetype', 'text', 'text'],
      ['warc_path', 'text', 'text'],
      ['warc_csize', 'bigint', 'positive'],
      ['warc_offset', 'bigint', 'count'],
    ],
    key: ['url', 'datetime'],
    onConflict: 'nothing',
  },
  file_meta: {
    name: 'file_meta',
    columns: [
      ['sha1hex', 'text', 'hex40', 'required indexed'],
      ['sha256hex', 'text', 'hex64', 'indexed'],
      ['md5hex', 'text', 'hex32', 'indexed'],
      ['size_bytes', 'bigint', 'count'],
      ['mimetype', 'text', 'text'],
    ],
    key: ['sha1hex'],
    onConflict: 'nothing',
  },
};

export type TableRows = Record<PersistTable, Row[]>;

export const emptyTableRows = (): TableRows => ({
  ingest_request: [],
  ingest_file_result: [],
  ingest_fileset_platform: [],
  cdx: [],
  file_meta: [],
});

/** Why a result adds no row to a table it would otherwise fill. */
export type SkipReason = 'no-base-url' | 'no-link-source';

export interface ResultRows {
  rows: Partial<Record<PersistTable, Row[]>>;
  skipped: SkipReason[];
}

/** Per-file statuses whose bytes are in our WARCs or item store. */
const ARCHIVED_FILE = new Set(['success', 'exists']);

export function rowsOfResult(result: FilesetResult): ResultRows {
  const request = result.request;
  const rows: ResultRows['rows'] = { cdx: capturedCdx(result), file_meta: archivedFiles(result) };
  if (typeof request.base_url !== 'string') return { rows, skipped: ['no-base-url'] };
  // Every result on the fileset topic answers a dataset request, even one that did not say so.
  const keys = { ingest_type: textOf(request.ingest_type) ?? 'dataset', base_url: request.base_url };
  const terminal = result.terminal;
  rows.ingest_file_result = [
    {
      ...keys,
      hit: result.hit,
      status: result.status,
      terminal_url: terminal?.terminal_url ?? null,
      terminal_dt: terminal?.terminal_dt ?? null,
      terminal_status_code: terminal?.terminal_status_code ?? null,
      terminal_sha1hex: terminal?.terminal_sha1hex ?? null,
    },
  ];
  if (result.platform_name) rows.ingest_fileset_platform = [platformRow(result, keys)];
  const requestRow = ingestRequestRow(request, keys);
  if (requestRow) rows.ingest_request = [requestRow];
  return { rows, skipped: requestRow ? [] : ['no-link-source'] };
}

/**
 * Most bytes the indexed text columns of one row may hold together. A btree index entry holds at
 * most about 2700 bytes (a third of a page); beyond it PostgreSQL refuses the row (SQLSTATE 54000).
 */
export const MAX_INDEXED_BYTES = 2600;

const HEX = { hex32: 32, hex40: 40, hex64: 64 } as const;
const INT32 = 2 ** 31;

/**
 * Why the database would refuse one of these rows, or null: the column checks of the schema, NUL
 * characters (which text and jsonb refuse), JSON that jsonb cannot hold, integers out of range and
 * index entries too large. Checked for all of a result's rows before any is written.
 */
export function rowsProblem(rows: ResultRows['rows']): { table: PersistTable; error: string } | null {
  for (const table of PERSIST_TABLES) {
    for (const row of rows[table] ?? []) {
      const error = rowProblem(TABLES[table], row);
      if (error) return { table, error };
    }
  }
  return null;
}

function rowProblem(spec: TableSpec, row: Row): string | null {
  let indexedBytes = 0;
  for (const [name, type, check = 'any', flags = ''] of spec.columns) {
    const value = row[name] ?? null;
    if (value === null) {
      if (flags.startsWith('required')) return `${name}: missing`;
      continue;
    }
    const problem = valueProblem(type, check, value);
    if (problem) return `${name}: ${problem}`;
    if (flags.endsWith('indexed') && typeof value === 'string') indexedBytes += Buffer.byteLength(value);
  }
  if (indexedBytes > MAX_INDEXED_BYTES)
    return `indexed columns hold ${indexedBytes} bytes, more than an index entry can (${MAX_INDEXED_BYTES})`;
  return null;
}

function valueProblem(type: ColumnType, check: ColumnCheck, value: string | number | boolean): string | null {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean' ? null : 'not a boolean';
    case 'integer':
    case 'bigint': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        return `${JSON.stringify(value)} is not an integer`;
      if (type === 'integer' && (value < -INT32 || value >= INT32)) return `${value} is out of range`;
      if (check === 'count' && value < 0) return `${value} is negative`;
      if (check === 'positive' && value <= 0) return `${value} is not positive`;
      return null;
    }
    case 'text': {
      if (typeof value !== 'string') return 'not a string';
      if (value.includes('\0')) return 'contains a NUL character';
      if (check === 'text' && value === '') return 'empty';
      if (check === 'dt14' && !/^\d{14}$/.test(value)) return `${shortened(value)} is not a 14-digit date`;
      const digits = check in HEX ? HEX[check as keyof typeof HEX] : 0;
      if (digits && !(value.length === digits && /^[0-9a-f]*$/.test(value)))
        return `${shortened(value)} is not ${digits} lowercase hex digits`;
      return null;
    }
    case 'jsonb':
      return typeof value === 'string' ? jsonbProblem(value, check) : 'not JSON text';
  }
}

/** JSON text that jsonb refuses (a \u0000 escape, a lone surrogate), or of the wrong JSON type. */
function jsonbProblem(json: string, check: ColumnCheck): string | null {
  for (let i = json.indexOf('\\'); i >= 0; i = json.indexOf('\\', i)) {
    if (json[i + 1] !== 'u') {
      i += 2;
      continue;
    }
    const code = parseInt(json.slice(i + 2, i + 6), 16);
    i += 6;
    if (code === 0) return 'contains a NUL character';
    if (code >= 0xdc00 && code <= 0xdfff) return 'contains a lone surrogate';
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = json.startsWith('\\u', i) ? parseInt(json.slice(i + 2, i + 6), 16) : NaN;
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'contains a lone surrogate';
      i += 6;
    }
  }
  const first = json.trimStart()[0];
  if (check === 'array' && first !== '[') return 'not a JSON array';
  if (check === 'object' && first !== '{') return 'not a JSON object';
  return null;
}

function shortened(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

function platformRow(result: FilesetResult, keys: { ingest_type: string; base_url: string }): Row {
  const bundle = result.fileset_bundle;
  // web_bundle_* name a web capture of the bundle; an archiveorg bundle fetched but not captured has none.
  const webBundle = bundle?.cdx ? bundle.terminal : null;
  const webBundleUrl = result.web_bundle_url ?? webBundle?.terminal_url ?? null;
  const webBundleDt = result.web_bundle_url_dt ?? webBundle?.terminal_dt ?? null;
  return {
    ...keys,
    hit: result.hit,
    status: result.status,
    platform_name: result.platform_name ?? null,
    platform_domain: result.platform_domain ?? null,
    platform_id: result.platform_id ?? null,
    ingest_strategy: result.ingest_strategy ?? null,
    total_size: result.total_size ?? null,
    file_count: result.file_count ?? null,
    archiveorg_item_name: result.archiveorg_item_name ?? null,
    archiveorg_item_bundle_path: bundle?.archiveorg_bundle_path ?? null,
    web_bundle_url: webBundleUrl,
    web_bundle_dt: webBundleDt,
    manifest: result.manifest ? JSON.stringify(result.manifest) : null,
  };
}

/**
 * sandcrawler's request_to_row: the key may be implied by a DOI base_url or a Save Paper Now
 * release; the optional fields it keeps go into `request` (null when there are none).
 */
function ingestRequestRow(
  request: Record<string, unknown>,
  keys: { ingest_type: string; base_url: string },
): Row | null {
  let linkSource = request.link_source;
  let linkSourceId = request.link_source_id;
  const extIds = objectOf(request.ext_ids);
  const fatcat = objectOf(request.fatcat);
  if (!linkSource && typeof extIds?.doi === 'string' && keys.base_url === `https://doi.org/${extIds.doi}`) {
    [linkSource, linkSourceId] = ['doi', extIds.doi];
  }
  const source = textOf(request.ingest_request_source);
  const releaseIdent = textOf(fatcat?.release_ident);
  if (!linkSource && source?.startsWith('savepapernow') && releaseIdent) {
    [linkSource, linkSourceId] = ['spn', releaseIdent];
  }
  if (typeof linkSource !== 'string' || typeof linkSourceId !== 'string') return null;

  const extra: Record<string, unknown> = {};
  if (releaseIdent) extra.release_ident = releaseIdent;
  for (const field of ['ext_ids', 'edit_extra', 'rel']) {
    if (truthy(request[field])) extra[field] = request[field];
  }
  return {
    link_source: linkSource,
    link_source_id: linkSourceId,
    ...keys,
    ingest_request_source: source ?? null,
    release_stage: textOf(request.release_stage) || null,
    request: Object.keys(extra).length ? JSON.stringify(extra) : null,
  };
}

/** The landing page capture, the original a revisit points to, and the file and bundle captures. */
function capturedCdx(result: FilesetResult): Row[] {
  const all = [
    result.cdx,
    result.revisit_cdx,
    result.fileset_file?.cdx,
    result.fileset_file?.revisit_cdx,
    result.fileset_bundle?.cdx,
    result.fileset_bundle?.revisit_cdx,
  ];
  return all
    .filter((cdx): cdx is Cdx => !!cdx)
    .map((cdx) => ({
      url: cdx.url,
      datetime: cdx.datetime,
      sha1hex: cdx.sha1hex,
      mimetype: cdx.mimetype ?? null,
      warc_path: cdx.warc_path,
      warc_csize: cdx.warc_csize,
      warc_offset: cdx.warc_offset,
    }));
}

/**
 * Files whose bytes we hold: the landing page, manifest entries archived or already present, with every hash; the
 * single file and the bundle when captured or the result succeeded. Never a file that failed
 * verification: a later ingest would trust this row and skip downloading it.
 */
function archivedFiles(result: FilesetResult): Row[] {
  const metas: FileMeta[] = [];
  // The landing page as captured: ingest_file_result.terminal_sha1hex joins this row.
  if (result.file_meta && result.cdx) metas.push(result.file_meta);
  for (const entry of result.manifest ?? []) {
    const meta = entryFileMeta(entry);
    if (meta) metas.push(meta);
  }
  const file = result.fileset_file;
  if (file?.file_meta && (result.hit || file.cdx)) metas.push(file.file_meta);
  const bundle = result.fileset_bundle;
  if (bundle?.file_meta && (bundle.cdx || bundle.archiveorg_bundle_path)) metas.push(bundle.file_meta);
  return metas.map((m) => ({
    sha1hex: m.sha1hex,
    sha256hex: m.sha256hex,
    md5hex: m.md5hex,
    size_bytes: m.size_bytes,
    mimetype: m.mimetype,
  }));
}

function entryFileMeta(entry: ManifestEntry): FileMeta | null {
  const { size, md5, sha1, sha256, mimetype } = entry;
  if (!entry.status || !ARCHIVED_FILE.has(entry.status)) return null;
  if (size == null || !md5 || !sha1 || !sha256 || !mimetype) return null;
  return { size_bytes: size, md5hex: md5, sha1hex: sha1, sha256hex: sha256, mimetype };
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Python's truthiness, as sandcrawler tests the optional request fields: no empty string, list or object. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return !!value;
}
