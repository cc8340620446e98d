// Archiving a manifest's files into the WARC store, shared by web-file and web-fileset: per-file
// existence check, streamed capture of every hop, verification, per-file statuses.
import { BodyTooLargeError, IngestError, InfrastructureError } from '../errors.js';
import { followRedirects } from '../http/redirects.js';
import { resumable, retryTransfer, RetryBudget } from '../http/resume.js';
import type { PlatformFile, PlatformItem } from '../platforms/types.js';
import type { CaptureResult } from '../schemas/index.js';
import type { FileStatus } from '../schemas/statuses.js';
import { isSafeItemPath } from '../stores/items/types.js';
import type { Capture } from '../stores/warc/capture-index.js';
import { captureResponse, cdxFromCapture, type CapturedResponse } from '../capture/web-capture.js';
import { mapLimit } from '../map-limit.js';
import type { StrategyContext } from './types.js';
import { wireEntry, type FileOutcome } from './outcomes.js';
import { fillFromMeta, verifyFile } from './verify.js';

function captureResult(captured: CapturedResponse): CaptureResult {
  return {
    file_meta: captured.fileMeta,
    terminal: captured.terminal,
    cdx: captured.cdx,
    revisit_cdx: captured.revisitCdx,
  };
}

function existingResult(capture: Capture, ctx: StrategyContext): CaptureResult | null {
  if (!capture.sha1hex || !capture.md5hex || !capture.sha256hex || capture.sizeBytes === null) return null;
  return {
    file_meta: {
      size_bytes: capture.sizeBytes,
      sha1hex: capture.sha1hex,
      md5hex: capture.md5hex,
      sha256hex: capture.sha256hex,
      mimetype: capture.fileMimetype ?? capture.mimetype ?? 'application/octet-stream',
    },
    terminal: {
      terminal_url: capture.url,
      terminal_dt: capture.datetime,
      terminal_status_code: capture.statusCode ?? 200,
      terminal_sha1hex: capture.sha1hex,
    },
    cdx: cdxFromCapture(capture, ctx.capture.warcLocation),
    revisit_cdx: null,
  };
}

/** An earlier capture of this file whose bytes agree with every size and hash the platform gave. */
export async function findExisting(file: PlatformFile, ctx: StrategyContext): Promise<FileOutcome | null> {
  return (await findExistingAll([file], ctx))[0]!;
}

/**
 * What the last findExistingAll of an ingest (its strategy context) found for each file, until
 * archiveFiles takes it: the check for an existing fileset and the download that follows it ask
 * the index once, not twice.
 */
const foundBefore = new WeakMap<StrategyContext, Map<PlatformFile, FileOutcome | null>>();

/**
 * findExisting for each file, all in one round trip to the index: every identification of every
 * file, the most direct first (by URL, then by each hash given).
 */
export async function findExistingAll(
  files: readonly PlatformFile[],
  ctx: StrategyContext,
): Promise<Array<FileOutcome | null>> {
  const found = await lookUp(files, ctx, new Map());
  foundBefore.set(ctx, found);
  return files.map((file) => found.get(file) ?? null);
}

/** Adds to `found` what the index holds of each file not in it yet. */
async function lookUp(
  files: readonly PlatformFile[],
  ctx: StrategyContext,
  found: Map<PlatformFile, FileOutcome | null>,
): Promise<Map<PlatformFile, FileOutcome | null>> {
  const asked = files.filter((file) => !found.has(file) && !file.restricted && file.platform_url);
  if (asked.length === 0) return found;
  const copies = await ctx.index.existingCopiesOf(
    asked.map((file) => ({
      url: file.platform_url!,
      hashes: { sha1: file.sha1, sha256: file.sha256, md5: file.md5 },
    })),
  );
  asked.forEach((file, i) => found.set(file, firstAgreeing(file, copies[i]!, ctx)));
  return found;
}

function firstAgreeing(file: PlatformFile, candidates: Capture[], ctx: StrategyContext): FileOutcome | null {
  for (const capture of candidates) {
    const result = existingResult(capture, ctx);
    if (!result?.file_meta || verifyFile(file, result.file_meta).status !== 'success') continue;
    const entry = fillFromMeta(wireEntry(file, 'exists'), result.file_meta);
    return {
      entry: { ...entry, terminal_url: capture.url, terminal_dt: capture.datetime },
      capture: result,
    };
  }
  return null;
}

async function download(file: PlatformFile, ctx: StrategyContext, budget: string): Promise<FileOutcome> {
  const failed = (status: FileStatus, message: string): FileOutcome => ({ entry: wireEntry(file, status), message });
  if (!file.platform_url) return failed('error-platform-download', `${file.path}: the platform gave no download URL`);
  let captured: CapturedResponse;
  try {
    if (file.prefetched) {
      captured = file.prefetched;
    } else {
      const url = file.platform_url;
      const signal = ctx.signal ? { signal: ctx.signal } : {};
      const onFileBytes = ctx.onFileBytes;
      const onBytes = onFileBytes ? { onBytes: (bytes: number) => onFileBytes(file.path, bytes) } : {};
      // A dropped connection is resumed (Range) or the download started over, within the retries.
      const retries = new RetryBudget(ctx.config.http.retries);
      captured = await retryTransfer(
        ctx.http,
        retries,
        async () => {
          // Every attempt starts the file's progress over (a resumed transfer counts on).
          onFileBytes?.(file.path, 0, true);
          const { final } = await followRedirects(ctx.http, url, {
            maxRedirects: ctx.config.http.maxRedirects,
            budget,
            ...onBytes,
            ...signal,
            onHop: async (hop) => void (await captureResponse(ctx.capture, hop, signal)),
          });
          // A server that sends more than the platform declared is cut off: it cannot fill our disk.
          const maxBytes = file.size ?? ctx.config.limits.maxTotalSize;
          const body = resumable(ctx.http, final, { retries, budget, ...onBytes, ...signal });
          return captureResponse(ctx.capture, body, { maxBytes, ...signal });
        },
        ctx.signal,
      );
    }
  } catch (err) {
    if (ctx.signal?.aborted || err instanceof InfrastructureError) throw err;
    if (err instanceof BodyTooLargeError && file.size !== undefined && file.size !== null) {
      return failed(
        'mismatch-size',
        `${file.path}: server sent more than the ${file.size} bytes the platform declared`,
      );
    }
    if (err instanceof IngestError) return failed('error-platform-download', `${file.path}: ${err.message}`);
    throw err;
  }
  if (captured.statusCode < 200 || captured.statusCode >= 300) {
    return failed('error-platform-download', `${file.path}: HTTP ${captured.statusCode} from ${captured.url}`);
  }
  const verdict = verifyFile(file, captured.fileMeta);
  const located = { terminal_url: captured.url, terminal_dt: captured.datetime };
  if (verdict.status !== 'success') {
    return {
      entry: { ...wireEntry(file, verdict.status), ...located },
      capture: captureResult(captured),
      message: verdict.message!,
    };
  }
  return {
    entry: { ...fillFromMeta(wireEntry(file, 'success'), captured.fileMeta), ...located },
    capture: captureResult(captured),
  };
}

export async function archiveFiles(item: PlatformItem, ctx: StrategyContext): Promise<FileOutcome[]> {
  // Downloads count against the platform's download budget, apart from its API budget.
  const budget = `${item.platformName}:download`;
  // A file captured during this ingest (the landing page itself) is new, not "exists".
  const lookFor = ctx.request.force_recrawl === true ? [] : item.manifest.filter((file) => !file.prefetched);
  // What the check for an existing fileset found, for the files looked for here (only these).
  const before = foundBefore.get(ctx);
  foundBefore.delete(ctx);
  const known = new Map<PlatformFile, FileOutcome | null>();
  for (const file of lookFor) if (before?.has(file)) known.set(file, before.get(file) ?? null);
  const copies = await lookUp(lookFor, ctx, known);
  return mapLimit(item.manifest, ctx.config.downloadConcurrency, async (file) => {
    if (file.restricted) {
      return { entry: wireEntry(file, 'platform-restricted'), message: `${file.path}: restricted by the platform` };
    }
    // No file of a WARC capture is written under its path, but whoever unpacks the fileset from its
    // manifest does: the paths an item refuses are refused here too.
    if (!isSafeItemPath(file.path)) {
      return {
        entry: wireEntry(file, 'unsafe-path'),
        message: `unsafe path in the manifest: ${JSON.stringify(file.path)}`,
      };
    }
    const outcome = copies.get(file) ?? (await download(file, ctx, budget));
    ctx.onFileDone?.(outcome.entry, outcome.entry.size ?? 0);
    return outcome;
  });
}
