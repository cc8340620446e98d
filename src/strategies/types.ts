// The archive strategy interface: look for an existing copy, else archive every file.
import type { Config } from '../config.js';
import type { HttpClient } from '../http/client.js';
import type { Logger } from '../logger.js';
import type { PlatformItem } from '../platforms/types.js';
import type { IngestRequest } from '../schemas/request.js';
import type { CaptureResult, ManifestEntry } from '../schemas/index.js';
import type { Status } from '../schemas/statuses.js';
import type { ItemStore } from '../stores/items/types.js';
import type { CaptureIndex } from '../stores/warc/capture-index.js';
import type { WebCaptureDeps } from '../capture/web-capture.js';
import type { WorkBudget } from './work-budget.js';
import type { StrategyName } from '../schemas/strategy-names.js';

export interface StrategyContext {
  config: Config;
  logger: Logger;
  http: HttpClient;
  capture: WebCaptureDeps;
  index: CaptureIndex;
  request: IngestRequest;
  /** The item store of the archiveorg-* strategies. */
  items: ItemStore;
  /** The archiveorg-* strategies' working directory (`<dataDir>/work`), kept across runs so downloads resume. */
  workDir: string;
  /** Bytes the working directory may hold, shared by every dataset of the process. */
  workBudget: WorkBudget;
  now: () => Date;
  signal?: AbortSignal;
  /**
   * Download progress: `bytes` more of `path` arrived; with `start`, a download (or a new attempt)
   * begins and `bytes` is what is already there (a resumed part), replacing the count so far.
   */
  onFileBytes?: (path: string, bytes: number, start?: boolean) => void;
  onFileDone?: (entry: ManifestEntry, bytes: number) => void;
}

export interface StrategyResult {
  status: Status;
  manifest: ManifestEntry[];
  errorMessage?: string;
  filesetFile?: CaptureResult;
  filesetBundle?: CaptureResult & { archiveorg_bundle_path?: string | null };
  /** What an archiveorg-* strategy did to the item (added, changed, unchanged files): the pipeline writes it as the item's note. */
  note?: Record<string, unknown>;
}

export interface ArchiveStrategy {
  readonly name: StrategyName;
  /** A complete earlier archive of this item, or null; never downloads a dataset file. */
  checkExisting(item: PlatformItem, ctx: StrategyContext): Promise<StrategyResult | null>;
  process(item: PlatformItem, ctx: StrategyContext): Promise<StrategyResult>;
}
