// ingestFileset(request, deps) → result: the whole pipeline; every command and worker is a shell around it.
import type { Config } from '../config.js';
import { NoPlatformMatchError, NoStrategyHelperError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import type { Logger } from '../logger.js';
import { findPlatform, PLATFORMS } from '../platforms/registry.js';
import type { PlatformHelper, PlatformItem } from '../platforms/types.js';
import {
  boundedEcho,
  FILESET_INGEST_TYPES,
  isFilesetIngestType,
  parseRequest,
  type IngestRequest,
} from '../schemas/request.js';
import type { DatasetFileResult, FilesetResult, ManifestEntry } from '../schemas/index.js';
import { isSafeItemPath, type ItemStore } from '../stores/items/types.js';
import type { CaptureIndex } from '../stores/warc/capture-index.js';
import type { WebCaptureDeps } from '../capture/web-capture.js';
import type { WarcWriter } from '../stores/warc/writer.js';
import { resultNote } from '../stores/warc/note.js';
import { chooseStrategy } from '../strategies/chooser.js';
import type { WorkBudget } from '../strategies/work-budget.js';
import type { StrategyName } from '../schemas/strategy-names.js';
import { STRATEGIES } from '../strategies/registry.js';
import type { ArchiveStrategy, StrategyContext, StrategyResult } from '../strategies/types.js';
import { summarise, wireEntry } from '../strategies/outcomes.js';
import { fetchLanding } from '../capture/landing.js';
import { applyLimits } from './limits.js';
import {
  consumerFields,
  datasetFileResult,
  landingFields,
  newResult,
  platformFields,
  statusOfError,
  strategyFields,
  withStatus,
} from './result.js';
import { checkBlocklist, cleanUrl } from './url.js';

/** What an ingest is doing, for a progress display (`IngestDeps.onProgress`). */
export type ProgressEvent =
  | { phase: 'landing' | 'platform' | 'done' }
  /** The strategy starts on the manifest: `bytesTotal` is the sum of the declared sizes (null: some unknown). */
  | { phase: 'files'; strategy: string; filesTotal: number; bytesTotal: number | null }
  /** A file's download begins (again, with `start`: `bytes` is what a resumed part already holds) or `bytes` more arrived. */
  | { phase: 'file-bytes'; path: string; bytes: number; start: boolean }
  /** A file is finished, whatever its status (`size`: its declared or archived size). */
  | { phase: 'file-done'; path: string; status: string; size: number };

export interface IngestDeps {
  config: Config;
  logger: Logger;
  http: HttpClient;
  index: CaptureIndex;
  writer: WarcWriter;
  items: ItemStore;
  tmpDir: string;
  /** The archiveorg-* strategies' working directory, kept across runs (resumable downloads). */
  workDir: string;
  workBudget: WorkBudget;
  now: () => Date;
  /** Where a WARC file will live once shipped (FILESET_WARC_STORE); unset: `warcs/<file>`. */
  warcLocation?: (name: string) => string;
  platforms?: readonly PlatformHelper[];
  strategies?: Partial<Record<StrategyName, ArchiveStrategy>>;
  onProgress?: (event: ProgressEvent) => void;
}

export interface IngestOptions {
  /** Inspect only: fetch the landing page and the platform's API, write nothing, download no file. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface IngestOutcome {
  result: FilesetResult;
  /** The dataset-file result beside a `*-file` success. */
  fileResult: DatasetFileResult | null;
  /** The strategy chosen (also in the result once it ran). */
  strategy?: StrategyName;
  /**
   * A dry run reached the strategy and found nothing archived yet: `result` then holds everything
   * learned so far, and its status means nothing.
   */
  ready: boolean;
}

export async function ingestFileset(
  rawRequest: unknown,
  deps: IngestDeps,
  options: IngestOptions = {},
): Promise<IngestOutcome> {
  const parsed = parseRequest(rawRequest);
  if ('problem' in parsed) {
    const echo = boundedEcho(isObject(rawRequest) ? rawRequest : { value: rawRequest });
    return { result: newResult(echo, 'bad-request', parsed.problem), fileResult: null, ready: false };
  }
  const { request } = parsed;
  if (!isFilesetIngestType(request.ingest_type)) {
    const message = `ingest_type ${JSON.stringify(request.ingest_type)} is not a fileset type (${FILESET_INGEST_TYPES.join(', ')})`;
    return { result: newResult(request, 'skip-ingest-type', message), fileResult: null, ready: false };
  }
  const deadline = AbortSignal.timeout(deps.config.ingestDeadlineMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const log = deps.logger.child({ base_url: request.base_url });
  const run = new IngestRun(request, deps, options.dryRun ?? false, signal, log);

  let result: FilesetResult;
  try {
    result = await run.execute();
  } catch (err) {
    const { status, message } = statusOfError(err, deadline.aborted);
    if (status === 'internal-error') log.error({ err }, 'unexpected error during ingest');
    result = withStatus(run.partial, status, message);
  }
  const ready = run.ready && result === run.partial;
  // A dry run captured nothing for consumers to read; inspect shows what the platform said.
  if (!options.dryRun) result = consumerFields(result);
  if (!options.dryRun && run.url && result.status !== 'skip-url-blocklist') {
    await writeNote(deps, run.url, result);
  }
  // A dry run that got as far as it may is "ready"; its result stops where the archiving would begin.
  const finished = ready ? 'ready' : result.status;
  log.info({ status: finished, strategy: result.ingest_strategy, files: result.file_count }, 'ingest finished');
  deps.onProgress?.({ phase: 'done' });
  return {
    result,
    fileResult: datasetFileResult(result),
    ready,
    ...(run.strategy ? { strategy: run.strategy } : {}),
  };
}

/** One request's way through the pipeline; `partial` holds what is known when something fails. */
class IngestRun {
  partial: FilesetResult;
  url: string | undefined;
  strategy: StrategyName | undefined;
  ready = false;

  constructor(
    private readonly request: IngestRequest,
    private readonly deps: IngestDeps,
    private readonly dryRun: boolean,
    private readonly signal: AbortSignal,
    private readonly log: Logger,
  ) {
    this.partial = newResult(request, 'internal-error');
  }

  async execute(): Promise<FilesetResult> {
    const { config } = this.deps;
    this.url = cleanUrl(this.request.base_url);
    checkBlocklist(this.url, config.urlBlocklist);

    this.deps.onProgress?.({ phase: 'landing' });
    const capture: WebCaptureDeps = {
      writer: this.dryRun ? null : this.deps.writer,
      index: this.dryRun ? null : this.deps.index,
      tmpDir: this.deps.tmpDir,
      now: this.deps.now,
      warcLocation: this.deps.warcLocation,
    };
    const landing = await fetchLanding(this.url, {
      config,
      http: this.deps.http,
      capture,
      signal: this.signal,
      dryRun: this.dryRun,
    });
    this.partial = { ...this.partial, ...landingFields(landing) };

    const platformRequest = { ...this.request, url: this.url };
    const platform = findPlatform(platformRequest, landing, this.deps.platforms ?? PLATFORMS);
    if (!platform) {
      // A page we could not fetch says more than "no platform": report why.
      if (landing.error) throw landing.error;
      throw new NoPlatformMatchError(`no platform helper recognises ${landing.capture?.url ?? this.url}`);
    }
    this.deps.onProgress?.({ phase: 'platform' });
    const ctx = { config, logger: this.log, http: this.deps.http, signal: this.signal, budget: platform.name };
    const item = await platform.processRequest(platformRequest, landing.error ? null : landing, ctx);
    this.partial = {
      ...this.partial,
      ...platformFields(item),
      manifest: item.manifest.map((f) => wireEntry(f, f.restricted ? 'platform-restricted' : 'not-processed')),
    };
    // Chosen before the limits are applied, so a result (and inspect) that hits a limit still says
    // which strategy the dataset would take.
    this.strategy =
      platform.chooseStrategy?.(item) ??
      chooseStrategy({ sizes: item.manifest.map((f) => f.size), bundleUrl: item.platformBundleUrl }, config.thresholds);
    this.partial.ingest_strategy = this.strategy;
    // Limits guard downloads; an item that is already an archive downloads nothing.
    if (item.alreadyArchived && item.manifest.length) {
      const outcome = alreadyArchived(item);
      return this.finish(outcome.status, outcome);
    }
    applyLimits(item, config.limits);

    const strategy = (this.deps.strategies ?? STRATEGIES)[this.strategy];
    if (!strategy) throw new NoStrategyHelperError(`strategy ${this.strategy} is not implemented yet`);

    const strategyCtx = this.strategyContext(capture);
    const existing = this.request.force_recrawl ? null : await strategy.checkExisting(item, strategyCtx);
    if (this.dryRun) {
      if (existing) return this.finish(existing.status, existing);
      this.ready = true;
      return this.partial;
    }
    if (!existing) {
      const sizes = item.manifest.map((f) => f.size);
      this.deps.onProgress?.({
        phase: 'files',
        strategy: this.strategy,
        filesTotal: item.manifest.length,
        bytesTotal: sizes.every((s) => typeof s === 'number') ? sizes.reduce<number>((a, s) => a + (s ?? 0), 0) : null,
      });
    }
    const outcome = existing ?? (await strategy.process(item, strategyCtx));
    await this.noteItem(item, outcome);
    return this.finish(outcome.status, outcome);
  }

  /** An item-store strategy leaves a note in the item: what it did, and the result. */
  private async noteItem(item: PlatformItem, outcome: StrategyResult): Promise<void> {
    if (!this.strategy?.startsWith('archiveorg') || !item.archiveorgItemName) return;
    await this.deps.items.writeNote(item.archiveorgItemName, {
      time: this.deps.now(),
      base_url: this.request.base_url,
      strategy: this.strategy,
      status: outcome.status,
      ...(outcome.errorMessage ? { error_message: outcome.errorMessage } : {}),
      ...outcome.note,
    });
  }

  private finish(status: FilesetResult['status'], outcome: Parameters<typeof strategyFields>[0]): FilesetResult {
    return withStatus({ ...this.partial, ...strategyFields(outcome) }, status, outcome.errorMessage);
  }

  private strategyContext(capture: WebCaptureDeps): StrategyContext {
    const onProgress = this.deps.onProgress;
    return {
      config: this.deps.config,
      logger: this.log,
      http: this.deps.http,
      capture,
      index: this.deps.index,
      items: this.deps.items,
      workDir: this.deps.workDir,
      workBudget: this.deps.workBudget,
      now: this.deps.now,
      request: this.request,
      signal: this.signal,
      ...(onProgress
        ? {
            onFileBytes: (path: string, bytes: number, start = false) =>
              onProgress({ phase: 'file-bytes', path, bytes, start }),
            onFileDone: (entry: ManifestEntry, bytes: number) =>
              onProgress({
                phase: 'file-done',
                path: entry.path,
                status: entry.status ?? 'not-processed',
                size: bytes,
              }),
          }
        : {}),
    };
  }
}

/**
 * The platform is itself an archive (an archive.org item): copying it into an item would copy it
 * into itself, so the result points at the platform's own copy with the platform's own hashes.
 * Files the platform keeps private are reported as restricted, as a download would find them.
 */
function alreadyArchived(item: PlatformItem): StrategyResult {
  const outcomes = item.manifest.map((f) => {
    // A name no item of ours may hold is not vouched for either: whoever unpacks the set uses it.
    const unsafe = !f.restricted && !isSafeItemPath(f.path);
    const status = f.restricted ? 'platform-restricted' : unsafe ? 'unsafe-path' : 'exists';
    return {
      // Not captured over the web by us: the platform URL names the platform's own copy.
      entry: { ...wireEntry(f, status), terminal_url: null, terminal_dt: null },
      ...(unsafe ? { message: `unsafe path in the manifest: ${JSON.stringify(f.path)}` } : {}),
    };
  });
  return { ...summarise(outcomes, 'success-existing'), manifest: outcomes.map((o) => o.entry) };
}

/** The ingest's note: a `metadata` record holding its result, beside what it captured. */
async function writeNote(deps: IngestDeps, url: string, result: FilesetResult): Promise<void> {
  await deps.writer.writeMetadata(resultNote(url, result, deps.now()));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
