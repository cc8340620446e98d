// Building results, and the one place where an error becomes a status.
import { describeError, InfrastructureError, IngestError } from '../errors.js';
import { scrubSecrets } from '../redact.js';
import type { LandingPage } from '../capture/landing.js';
import type { PlatformItem } from '../platforms/types.js';
import type { DatasetFileResult, FilesetResult } from '../schemas/result.js';
import { isSuccess, type Status } from '../schemas/statuses.js';
import type { StrategyResult } from '../strategies/types.js';

const MAX_ERROR_MESSAGE = 1600;

/** An `error_message`: at most 1600 characters, no credentials (a refused URL's `user:pass@`). */
export function truncateMessage(message: string): string {
  const clean = scrubSecrets(message);
  return clean.length > MAX_ERROR_MESSAGE ? `${clean.slice(0, MAX_ERROR_MESSAGE - 1)}…` : clean;
}

/**
 * The status and message an error stands for. Infrastructure errors are rethrown: they are
 * never a dataset's status, the caller retries the request.
 */
export function statusOfError(err: unknown, timedOut: boolean): { status: Status; message: string } {
  if (err instanceof InfrastructureError) throw err;
  if (timedOut) return { status: 'timeout', message: `ingest deadline exceeded: ${describeError(err)}` };
  if (err instanceof IngestError) return { status: err.status, message: err.message };
  return { status: 'internal-error', message: `${err instanceof Error ? err.name : 'Error'}: ${describeError(err)}` };
}

export function newResult(request: Record<string, unknown>, status: Status, errorMessage?: string): FilesetResult {
  return {
    hit: isSuccess(status),
    status,
    request,
    ...(errorMessage !== undefined ? { error_message: truncateMessage(errorMessage) } : {}),
  };
}

export function withStatus(result: FilesetResult, status: Status, errorMessage?: string): FilesetResult {
  const next: FilesetResult = { ...result, hit: isSuccess(status), status };
  if (errorMessage !== undefined) next.error_message = truncateMessage(errorMessage);
  else delete next.error_message;
  return next;
}

export function landingFields(landing: LandingPage): Partial<FilesetResult> {
  const capture = landing.capture;
  return {
    hops: landing.hops,
    ...(capture
      ? { terminal: capture.terminal, file_meta: capture.fileMeta, cdx: capture.cdx, revisit_cdx: capture.revisitCdx }
      : {}),
    ...(landing.biblio ? { html_biblio: landing.biblio } : {}),
  };
}

export function platformFields(item: PlatformItem): Partial<FilesetResult> {
  return {
    platform_name: item.platformName,
    platform_domain: item.platformDomain,
    platform_id: item.platformId,
    platform_base_url: item.platformBaseUrl,
    platform_bundle_url: item.platformBundleUrl,
    archiveorg_item_name: item.archiveorgItemName,
    file_count: item.manifest.length,
    total_size: item.manifest.reduce((sum, f) => sum + (f.size ?? 0), 0),
  };
}

export function strategyFields(outcome: StrategyResult): Partial<FilesetResult> {
  return {
    manifest: outcome.manifest,
    ...(outcome.filesetFile ? { fileset_file: outcome.filesetFile } : {}),
    ...(outcome.filesetBundle ? { fileset_bundle: outcome.filesetBundle } : {}),
  };
}

/**
 * The fields fatcat's importer builds URLs from (IngestFilesetResultImporter.parse_fileset_urls):
 * - `web_base_url` + `web_base_url_dt`: the landing page as our WARCs hold it (a 2xx capture, not
 *   a bot wall's page); `web_bundle_url` +
 *   `web_bundle_url_dt`: the bundle as captured by web-fileset-bundled. Only captures we wrote.
 * - `platform_base_url` is kept only where the importer can use it without raising: it then reads
 *   `platform_bundle_url` (as the repository base), and for a `web-*` strategy `web_base_url` and
 *   `web_base_url_dt` (KeyError when absent).
 */
export function consumerFields(result: FilesetResult): FilesetResult {
  const next: FilesetResult = { ...result };
  for (const key of ['web_base_url', 'web_base_url_dt', 'web_bundle_url', 'web_bundle_url_dt'] as const) {
    delete next[key];
  }
  const status = result.terminal?.terminal_status_code ?? 0;
  if (result.cdx && result.terminal && status >= 200 && status < 300) {
    next.web_base_url = result.terminal.terminal_url;
    next.web_base_url_dt = result.terminal.terminal_dt;
  }
  const bundle = result.fileset_bundle;
  if (bundle?.cdx && bundle.terminal) {
    next.web_bundle_url = bundle.terminal.terminal_url;
    next.web_bundle_url_dt = bundle.terminal.terminal_dt;
  }
  const webStrategy = result.ingest_strategy?.startsWith('web-') ?? false;
  if (result.platform_base_url && (!result.platform_bundle_url || (webStrategy && !next.web_base_url))) {
    next.platform_base_url = null;
  }
  return next;
}

/** sandcrawler's file-ingest result shape, emitted beside a `*-file` success. */
export function datasetFileResult(result: FilesetResult): DatasetFileResult | null {
  const file = result.fileset_file;
  if (!result.status.startsWith('success') || !result.ingest_strategy?.endsWith('-file') || !file?.file_meta) {
    return null;
  }
  return {
    hit: true,
    status: 'success',
    request: { ...result.request, ingest_type: 'dataset-file' },
    file_meta: file.file_meta,
    terminal: file.terminal ?? null,
    cdx: file.cdx ?? null,
    revisit_cdx: file.revisit_cdx ?? null,
  };
}
