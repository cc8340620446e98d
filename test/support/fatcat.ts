// fatcat's dataset importers (internetarchive/fatcat, python/fatcat_tools/importers/ingest.py),
// restated in TypeScript for the contract tests: what `want()` accepts, what `parse_record()`
// reads, and where it raises. Python's raises are thrown as FatcatRaise named after them:
// KeyError (row["x"] on an absent key), ValueError (the fatcat_openapi_client models' setters:
// FilesetUrl/FileUrl url and rel not None, FilesetFile path and size not None, md5/sha1/sha256
// exactly 32/40/64 lowercase hex digits), AssertionError. One raise stops fatcat's Kafka importer.
// The fatcat API is stubbed: a request names its release by `fatcat.release_ident`.

export class FatcatRaise extends Error {
  constructor(
    readonly kind: 'KeyError' | 'ValueError' | 'AssertionError',
    message: string,
  ) {
    super(`${kind}: ${message}`);
  }
}

type Row = Record<string, unknown>;

export interface ImportedUrl {
  rel: string;
  url: string;
}

export type Parsed =
  | { skipped: string }
  | { urls: ImportedUrl[]; manifest?: Array<{ path: string; extra: Record<string, string> | null }> };

/** row["key"]: KeyError when the key is absent; a present null is Python's None. */
function at(row: unknown, key: string | number): unknown {
  if (row === null || typeof row !== 'object' || !(key in row)) throw new FatcatRaise('KeyError', String(key));
  return (row as Record<string | number, unknown>)[key];
}

/** row.get("key") */
function get(row: unknown, key: string): unknown {
  return row !== null && typeof row === 'object' ? (row as Row)[key] : undefined;
}

/** Python truthiness. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** Python's f-string formatting of a value (None for null). */
function fmt(value: unknown): string {
  return value === null || value === undefined ? 'None' : String(value);
}

function notNone(model: string, field: string, value: unknown): void {
  if (value === null || value === undefined) {
    throw new FatcatRaise('ValueError', `Invalid value for \`${field}\`, must not be \`None\` (${model})`);
  }
}

function hexField(model: string, field: string, value: unknown, length: number): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'string' || value.length !== length || !/^[a-f0-9]+$/.test(value)) {
    throw new FatcatRaise('ValueError', `Invalid value for \`${field}\` (${model}): ${fmt(value)}`);
  }
}

/** FilesetUrl(url=..., rel=...) and FileUrl(...): both fields required. */
function url(model: 'FilesetUrl' | 'FileUrl', value: unknown, rel: string): ImportedUrl {
  notNone(model, 'url', value);
  return { rel, url: fmt(value) };
}

// IngestFileResultImporter.__init__: ingest_request_source_allowlist
const SOURCE_ALLOWLIST = [
  'fatcat-changelog',
  'fatcat-ingest-container',
  'fatcat-ingest',
  'arabesque',
  'unpaywall-corpus',
  'unpaywall',
  'doaj',
  'dblp',
];
// IngestFileResultImporter.want_ingest: accepted link_source values
const LINK_SOURCES = ['arxiv', 'pmc', 'unpaywall', 'doi', 'mag', 's2', 'doaj', 'dblp'];
// IngestFilesetResultImporter.__init__: max_file_count
const MAX_FILE_COUNT = 300;

/** IngestFileResultImporter.want_ingest */
function wantIngest(row: Row): boolean {
  if (get(row, 'hit') !== true) return false;
  const request = at(row, 'request');
  const source = get(request, 'ingest_request_source');
  if (!truthy(source) || !SOURCE_ALLOWLIST.includes(String(source))) return false;
  if (!LINK_SOURCES.includes(String(get(request, 'link_source')))) return false;
  return !String(source).startsWith('savepapernow');
}

/** IngestFileResultImporter.parse_ingest_release_ident, with the API lookup stubbed out. */
function releaseIdent(row: Row): string | null {
  const fatcat = get(at(row, 'request'), 'fatcat');
  const ident = truthy(fatcat) ? get(fatcat, 'release_ident') : undefined;
  return truthy(ident) ? String(ident) : null;
}

/** IngestFilesetResultImporter.want (want_ingest, then want_fileset). */
export function wantFileset(row: Row): boolean {
  if (!wantIngest(row)) return false;
  if (get(at(row, 'request'), 'ingest_type') !== 'dataset') return false;
  const manifest = get(row, 'manifest');
  if (!Array.isArray(manifest) || manifest.length <= 1 || manifest.length > MAX_FILE_COUNT) return false;
  return true;
}

/** IngestFilesetResultImporter.parse_fileset_urls (the same method of the file importer is identical). */
function filesetUrls(row: Row): ImportedUrl[] {
  if (!truthy(get(row, 'ingest_strategy'))) return [];
  const strategy = String(at(row, 'ingest_strategy'));
  const urls: ImportedUrl[] = [];
  const item = get(row, 'archiveorg_item_name');
  if (strategy === 'archiveorg-fileset' && truthy(item)) {
    urls.push(
      url('FilesetUrl', `https://archive.org/download/${fmt(at(row, 'archiveorg_item_name'))}/`, 'archive-base'),
    );
  }
  if (strategy.startsWith('web-') && truthy(get(row, 'platform_base_url'))) {
    const wayback = `https://web.archive.org/web/${fmt(at(row, 'web_base_url_dt'))}/${fmt(at(row, 'web_base_url'))}`;
    urls.push(url('FilesetUrl', wayback, 'webarchive-base'));
  }
  // The importer's strategy names end in "-bundle"; the wire names end in "-bundled" (both kept).
  if (strategy === 'archiveorg-fileset-bundle' && truthy(item)) {
    const bundle = `https://archive.org/download/${fmt(at(row, 'archiveorg_item_name'))}/${fmt(at(row, 'archiveorg_bundle_path'))}`;
    urls.push(url('FilesetUrl', bundle, 'archive-bundle'));
  }
  if (strategy === 'web-fileset-bundle' && truthy(get(row, 'platform_bundle_url'))) {
    const wayback = `https://web.archive.org/web/${fmt(at(row, 'web_bundle_url_dt'))}/${fmt(at(row, 'web_bundle_url'))}`;
    urls.push(url('FilesetUrl', wayback, 'webarchive-bundle'));
  }
  if (truthy(get(row, 'platform_bundle_url'))) {
    urls.push(url('FilesetUrl', at(row, 'platform_bundle_url'), 'repository-bundle'));
  }
  if (truthy(get(row, 'platform_base_url'))) {
    // sic: the importer labels platform_bundle_url as the repository base.
    urls.push(url('FilesetUrl', at(row, 'platform_bundle_url'), 'repository-base'));
  } else if (truthy(get(row, 'terminal'))) {
    urls.push(url('FilesetUrl', at(at(row, 'terminal'), 'terminal_url'), 'web'));
  }
  return urls;
}

/** IngestFilesetResultImporter.parse_record */
export function parseFilesetRecord(row: Row): Parsed {
  const request = at(row, 'request');
  if (get(request, 'ingest_type') !== 'dataset') return { skipped: 'skip-ingest-type' };
  if (!releaseIdent(row)) return { skipped: 'skip-release-not-found' };
  const urls = filesetUrls(row);
  if (!urls.length) return { skipped: 'skip-no-access-url' };
  const manifestRows = at(row, 'manifest') as unknown[];
  if (at(row, 'file_count') !== manifestRows.length) throw new FatcatRaise('AssertionError', 'file_count');
  if ((at(row, 'file_count') as number) > MAX_FILE_COUNT) return { skipped: 'skip-too-many-manifest-files' };
  const manifest: Array<{ path: string; extra: Record<string, string> | null }> = [];
  for (const file of manifestRows) {
    const [path, size] = [at(file, 'path'), at(file, 'size')];
    const [md5, sha1, sha256, mimetype] = ['md5', 'sha1', 'sha256', 'mimetype'].map((k) => get(file, k));
    notNone('FilesetFile', 'path', path);
    notNone('FilesetFile', 'size', size);
    hexField('FilesetFile', 'md5', md5, 32);
    hexField('FilesetFile', 'sha1', sha1, 40);
    hexField('FilesetFile', 'sha256', sha256, 64);
    if (!(truthy(md5) && truthy(sha1) && truthy(path) && truthy(size) && truthy(mimetype))) {
      return { skipped: 'skip-partial-file-info' };
    }
    const extra: Record<string, string> = {};
    if (truthy(get(file, 'platform_url'))) extra.original_url = String(get(file, 'platform_url'));
    if (truthy(get(file, 'terminal_url')) && truthy(get(file, 'terminal_dt'))) {
      extra.wayback_url = `https://web.archive.org/web/${fmt(at(file, 'terminal_dt'))}/${fmt(at(file, 'terminal_url'))}`;
    }
    manifest.push({ path: String(path), extra: Object.keys(extra).length ? extra : null });
  }
  return { urls, manifest };
}

/** IngestFilesetFileResultImporter.want (want_ingest, status, want_fileset). */
export function wantFilesetFile(row: Row): boolean {
  if (!wantIngest(row)) return false;
  if (get(row, 'status') !== 'success-file') return false;
  if (get(at(row, 'request'), 'ingest_type') !== 'dataset') return false;
  const manifest = get(row, 'manifest');
  return Array.isArray(manifest) && manifest.length === 1;
}

/** IngestFilesetFileResultImporter.parse_record */
export function parseFilesetFileRecord(row: Row): Parsed {
  const request = at(row, 'request');
  if (get(request, 'ingest_type') !== 'dataset') return { skipped: 'skip-ingest-type' };
  if (!releaseIdent(row)) return { skipped: 'skip-release-not-found' };
  const manifestRows = at(row, 'manifest') as unknown[];
  if (at(row, 'file_count') !== manifestRows.length || manifestRows.length !== 1) {
    throw new FatcatRaise('AssertionError', 'file_count == len(manifest) == 1');
  }
  const file = at(manifestRows, 0);
  if (at(file, 'status') !== 'success') throw new FatcatRaise('AssertionError', 'manifest[0].status == "success"');
  const urls: ImportedUrl[] = [];
  if (truthy(get(file, 'platform_url'))) urls.push(url('FileUrl', at(file, 'platform_url'), 'web'));
  if (truthy(get(file, 'terminal_url')) && truthy(get(file, 'terminal_dt'))) {
    const wayback = `https://web.archive.org/web/${fmt(at(file, 'terminal_dt'))}/${fmt(at(file, 'terminal_url'))}`;
    urls.push(url('FileUrl', wayback, 'webarchive'));
  }
  if (at(row, 'ingest_strategy') === 'archiveorg-file') {
    const archived = `https://archive.org/download/${fmt(at(row, 'archiveorg_item_name'))}/${fmt(at(file, 'path'))}`;
    urls.push(url('FileUrl', archived, 'archive'));
  }
  if (!urls.length) return { skipped: 'skip-no-access-url' };
  if (at(file, 'md5') === at(file, 'sha1')) return { skipped: 'skip-bad-hashes' };
  const [md5, sha1, sha256, size, mimetype] = ['md5', 'sha1', 'sha256', 'size', 'mimetype'].map((k) => at(file, k));
  hexField('FileEntity', 'md5', md5, 32);
  hexField('FileEntity', 'sha1', sha1, 40);
  hexField('FileEntity', 'sha256', sha256, 64);
  if (!(truthy(md5) && truthy(sha1) && truthy(sha256) && size !== null && truthy(mimetype))) {
    return { skipped: 'skip-partial-file-info' };
  }
  return { urls };
}
