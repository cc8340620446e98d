// Putting a manifest's files into an item of the item store, shared by archiveorg-file and
// archiveorg-fileset: compare with the item's files (by path, size and hash), fetch the rest into
// the working directory (work-dir.ts), upload, and say what changed (the item's note).
import { join } from 'node:path';
import { describeError, ItemUploadError } from '../errors.js';
import type { PlatformFile, PlatformItem } from '../platforms/types.js';
import type { CaptureResult, ManifestEntry } from '../schemas/index.js';
import type { FileStatus } from '../schemas/statuses.js';
import { checkItemName, isSafeItemPath, type ItemFile } from '../stores/items/types.js';
import type { WorkBudget } from './work-budget.js';
import { fetchToWork, pruneEmptyDirs, removeWork, workPaths } from './work-dir.js';
import type { StrategyContext, StrategyResult } from './types.js';
import { fillFromMeta } from './verify.js';
import { mapLimit } from '../map-limit.js';
import { wireEntry, type FileOutcome } from './outcomes.js';

/**
 * An item file was not captured over the web: no terminal URL or time names a capture of it (a
 * consumer would build a Wayback URL from them). The item name and the path inside it name it.
 */
export const NOT_CAPTURED = { terminal_url: null, terminal_dt: null } as const;

/** A file's outcome plus what it did to the item (for the note). */
export interface ItemOutcome extends FileOutcome {
  change?: 'added' | 'changed' | 'unchanged';
}

export function itemNameOf(item: PlatformItem): string {
  const name = item.archiveorgItemName;
  // The name becomes a directory of the working directory: one plain segment only.
  checkItemName(name, `archive item name from ${item.platformName}`);
  return name;
}

function sameBytes(file: PlatformFile, stored: ItemFile): boolean {
  if (file.size !== null && file.size !== undefined && file.size !== stored.size) return false;
  const common = [
    [file.sha1, stored.sha1],
    [file.md5, stored.md5],
    [file.sha256, stored.sha256],
  ].filter((pair): pair is [string, string] => Boolean(pair[0] && pair[1]));
  return common.length > 0 && common.every(([a, b]) => a.toLowerCase() === b.toLowerCase());
}

function existsOutcome(file: PlatformFile, stored: ItemFile): ItemOutcome {
  const sha256 = stored.sha256 ?? file.sha256?.toLowerCase() ?? null;
  const mimetype = stored.mimetype ?? file.mimetype ?? null;
  const entry: ManifestEntry = {
    ...wireEntry(file, 'exists'),
    size: stored.size,
    md5: stored.md5,
    sha1: stored.sha1,
    sha256,
    mimetype,
    ...NOT_CAPTURED,
  };
  const capture: CaptureResult = {
    // A store without sha256 (archive.org) cannot give a complete file_meta.
    file_meta: sha256
      ? {
          size_bytes: stored.size,
          md5hex: stored.md5,
          sha1hex: stored.sha1,
          sha256hex: sha256,
          mimetype: mimetype ?? 'application/octet-stream',
        }
      : null,
    terminal: null,
    cdx: null,
    revisit_cdx: null,
  };
  return { entry, capture, change: 'unchanged' };
}

/** Every open file of the manifest already in the item with the same bytes, or null (restricted files make it null). */
export async function existingInItem(item: PlatformItem, ctx: StrategyContext): Promise<ItemOutcome[] | null> {
  if (!item.manifest.length || item.manifest.some((f) => f.restricted)) return null;
  const itemName = itemNameOf(item);
  const stored = new Map((await ctx.items.listFiles(itemName, ctx.signal)).map((f) => [f.path, f]));
  if (!item.manifest.every((f) => stored.has(f.path) && sameBytes(f, stored.get(f.path)!))) return null;
  return item.manifest.map((f) => existsOutcome(f, stored.get(f.path)!));
}

export async function checkExistingInItem(
  item: PlatformItem,
  ctx: StrategyContext,
  strategy: string,
): Promise<StrategyResult | null> {
  const outcomes = await existingInItem(item, ctx);
  if (!outcomes) return null;
  return { status: 'success-existing', manifest: outcomes.map((o) => o.entry), note: itemNote(strategy, outcomes) };
}

/** The item's note for one ingest: what was added, changed (older version kept), left alone, or failed. */
export function itemNote(strategy: string, outcomes: ItemOutcome[]): Record<string, unknown> {
  const paths = (change: ItemOutcome['change']) => outcomes.filter((o) => o.change === change).map((o) => o.entry.path);
  return {
    strategy,
    added: paths('added'),
    changed: paths('changed'),
    unchanged: paths('unchanged'),
    failed: outcomes.filter((o) => !o.change).map((o) => ({ path: o.entry.path, status: o.entry.status })),
  };
}

export interface ArchiveItemOptions {
  /** The working-directory budget; the runtime should share one per process (default: one for this call). */
  budget?: WorkBudget;
}

/** Archives every file of the manifest into the item; per-file failures are outcomes, store outages throw. */
export async function archiveItemFiles(
  item: PlatformItem,
  ctx: StrategyContext,
  options: ArchiveItemOptions = {},
): Promise<ItemOutcome[]> {
  const itemName = itemNameOf(item);
  const budget = options.budget ?? ctx.workBudget;
  const stored = new Map((await ctx.items.listFiles(itemName, ctx.signal)).map((f) => [f.path, f]));
  const seen = new Set<string>();
  // The first infrastructure failure stops the other downloads; it is thrown once they have settled.
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  let fatal: { error: unknown } | undefined;
  let metadata: Promise<void> | undefined;
  const run: RunContext = {
    ctx: { ...ctx, signal },
    itemName,
    budget,
    downloadBudget: `${item.platformName}:download`,
    setMetadata: () => (metadata ??= ctx.items.setMetadata(itemName, itemMetadata(item))),
  };

  const outcomes = await mapLimit(item.manifest, ctx.config.downloadConcurrency, async (file): Promise<ItemOutcome> => {
    const failed = (status: FileStatus, message: string): ItemOutcome => ({ entry: wireEntry(file, status), message });
    try {
      signal.throwIfAborted();
      let outcome: ItemOutcome;
      if (file.restricted) outcome = failed('platform-restricted', `${file.path}: restricted by the platform`);
      else if (!isSafeItemPath(file.path))
        outcome = failed('unsafe-path', `unsafe path in the manifest: ${JSON.stringify(file.path)}`);
      else if (seen.has(file.path)) outcome = failed('unsafe-path', `${file.path}: the manifest lists this path twice`);
      else {
        seen.add(file.path);
        const current = stored.get(file.path);
        if (current && ctx.request.force_recrawl !== true && sameBytes(file, current)) {
          // A crash after an upload may have left its work files behind.
          await removeWork(workPaths(ctx.workDir, itemName, file.path));
          outcome = existsOutcome(file, current);
        } else {
          outcome = await archiveOne(file, current, run);
        }
      }
      ctx.onFileDone?.(outcome.entry, outcome.entry.size ?? 0);
      return outcome;
    } catch (err) {
      fatal ??= { error: err };
      stop.abort(err);
      return failed('not-processed', describeError(err));
    }
  });
  await pruneEmptyDirs(join(ctx.workDir, itemName)).catch(() => undefined);
  if (fatal) throw fatal.error;
  return outcomes;
}

export function itemMetadata(item: PlatformItem): Record<string, unknown> {
  return {
    ...item.archiveorgItemMeta,
    platform_name: item.platformName,
    platform_domain: item.platformDomain,
    platform_id: item.platformId,
    ...(item.platformBaseUrl ? { platform_base_url: item.platformBaseUrl } : {}),
  };
}

interface RunContext {
  ctx: StrategyContext & { signal: AbortSignal };
  itemName: string;
  budget: WorkBudget;
  downloadBudget: string;
  setMetadata: () => Promise<void>;
}

async function archiveOne(file: PlatformFile, current: ItemFile | undefined, run: RunContext): Promise<ItemOutcome> {
  const { ctx, itemName, budget } = run;
  const failed = (status: FileStatus, message: string): ItemOutcome => ({ entry: wireEntry(file, status), message });
  const size = file.size ?? null;
  if (size !== null && size > budget.total) {
    return failed(
      'too-large-size',
      `${file.path}: ${size} bytes is more than the working-directory budget of ${budget.total} bytes (FILESET_WORK_DIR_BUDGET)`,
    );
  }
  // A file of unknown size may take the whole budget, and no more.
  const release = await budget.reserve(size ?? budget.total, ctx.signal);
  try {
    const work = workPaths(ctx.workDir, itemName, file.path);
    const fetched = await fetchToWork(file, work, { ctx, budget: run.downloadBudget, limit: size ?? budget.total });
    if (!('meta' in fetched)) return fetched;
    const { meta } = fetched;
    const filled = fillFromMeta(wireEntry(file, 'success'), meta);
    try {
      await run.setMetadata();
      await ctx.items.putFile(
        itemName,
        {
          path: file.path,
          source: work.done,
          size: meta.size_bytes,
          md5: meta.md5hex,
          sha1: meta.sha1hex,
          sha256: meta.sha256hex,
          mimetype: meta.mimetype,
        },
        ctx.signal,
      );
    } catch (err) {
      if (!(err instanceof ItemUploadError)) throw err; // the store is unreachable: keep the work files for the retry
      await removeWork(work);
      return {
        entry: { ...filled, status: 'error-archiveorg-upload', ...NOT_CAPTURED },
        message: `${file.path}: the item store refused the file: ${err.message}`,
      };
    }
    await removeWork(work);
    const change = !current
      ? 'added'
      : current.sha1 === meta.sha1hex && current.size === meta.size_bytes
        ? 'unchanged'
        : 'changed';
    return {
      entry: { ...filled, ...NOT_CAPTURED },
      capture: { file_meta: meta, terminal: null, cdx: null, revisit_cdx: null },
      change,
    };
  } finally {
    release();
  }
}
