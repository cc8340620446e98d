// A platform "site": what a local fixture server must answer to stand in for one platform's hosts
// (recorded API responses, file bodies, DOI redirects). Every platform helper has one, in
// test/support/sites/<helper name>.ts; the shared contract suite (test/platforms/contract.test.ts)
// and the end-to-end CLI test (test/platforms/e2e.test.ts) run over all of them.
import type { Status } from '../../../src/schemas/statuses.js';
import type { FixtureServer } from '../fixture-server.js';

export interface ServedDataset {
  /** The request's base_url (a landing URL or a DOI URL as a user would give it). */
  url: string;
  platformId: string;
  /** archiveorg_item_name the helper must give. */
  itemName: string;
  /** Manifest paths, in the helper's order. */
  paths: string[];
  /** The dataset status `fileset-ingest ingest` must reach end to end with the served file bodies. */
  status: Extract<Status, 'success' | 'success-file' | 'success-existing' | 'success-partial'>;
}

export interface PlatformSite {
  /** The helper's wire name (platform_name) and file name. */
  platform: string;
  /** Origins (scheme://host) the helper and its downloads talk to: the test rewrites each onto the fixture server. */
  origins: string[];
  /**
   * Adds routes for one complete dataset: the recorded API responses and, for every file the
   * status needs, a body whose size and hashes match the manifest.
   */
  serveDataset(server: FixtureServer): ServedDataset;
  /** Adds routes where the platform's API says the dataset does not exist (404); returns the request URL. */
  serveNotFound(server: FixtureServer): string;
  /**
   * Adds routes where a recorded API response has changed shape (a field removed or of another
   * type); returns the request URL and the field path the platform-error message must name.
   */
  serveChangedShape(server: FixtureServer): { url: string; field: string };
  /** URLs the helper must claim from the URL alone (no landing page). */
  claims: string[];
  /** URLs the helper must not claim from the URL alone. */
  rejects: string[];
}
