// The platform helper interface: recognise a dataset's platform and list its files (the manifest).
import type { Config } from '../config.js';
import type { HttpClient } from '../http/client.js';
import type { Logger } from '../logger.js';
import type { IngestRequest } from '../schemas/request.js';
import type { ManifestEntry } from '../schemas/manifest.js';
import type { LandingPage } from '../capture/landing.js';
import type { CapturedResponse } from '../capture/web-capture.js';
import type { StrategyName } from '../schemas/strategy-names.js';

/** The landing page a helper is shown (defined where it is fetched). */
export type { LandingPage };

export interface PlatformContext {
  config: Config;
  logger: Logger;
  http: HttpClient;
  signal?: AbortSignal;
  /** The helper's request budget name (its wire name): API calls count against `<budget>:api`. */
  budget?: string;
}

/** A manifest entry plus what the pipeline may already hold for it (not on the wire). */
export interface PlatformFile extends ManifestEntry {
  /** Already captured during this ingest (the landing page itself is the file). */
  prefetched?: CapturedResponse;
  /** The platform says this file cannot be downloaded (restricted, embargoed, link-only). */
  restricted?: boolean;
}

export interface PlatformItem {
  platformName: string;
  platformDomain: string;
  platformId: string;
  manifest: PlatformFile[];
  archiveorgItemName: string | null;
  archiveorgItemMeta: Record<string, unknown>;
  platformBaseUrl: string | null;
  platformBundleUrl: string | null;
  /**
   * The platform is itself the archive (an archive.org item): nothing is copied, the result is
   * `success-existing` with the platform's own sizes and hashes.
   */
  alreadyArchived?: boolean;
}

export interface PlatformRequest extends IngestRequest {
  /** The cleaned URL of base_url. */
  url: string;
}

export interface PlatformHelper {
  /** The wire id (`platform_name`), also the file name. */
  readonly name: string;
  /** Cheap and offline: does the URL, or the landing page we reached, belong to this platform? */
  matchRequest(request: PlatformRequest, landing: LandingPage | null): boolean;
  /** Asks the platform (its API) for the item and its manifest; throws status-carrying errors. */
  processRequest(request: PlatformRequest, landing: LandingPage | null, ctx: PlatformContext): Promise<PlatformItem>;
  /** A platform may insist on a strategy; otherwise the generic chooser decides. */
  chooseStrategy?(item: PlatformItem): StrategyName | undefined;
}
