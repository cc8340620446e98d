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
