// The one contract every platform helper passes, run over each helper's site
// (test/support/sites/<name>.ts): URL claims, the item and manifest invariants on a recorded
// dataset, not-found and changed-shape statuses, hostile URLs. Nothing reaches the network: every
// origin a helper talks to is rewritten onto a local server.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestError, PlatformError, PlatformNotFoundError } from '../../src/errors.js';
import { fetchLanding } from '../../src/capture/landing.js';
import { findPlatform, PLATFORMS } from '../../src/platforms/registry.js';
import type { PlatformHelper, PlatformItem, PlatformRequest } from '../../src/platforms/types.js';
import { ManifestEntrySchema } from '../../src/schemas/manifest.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { loadSites } from '../support/sites/index.js';
import type { PlatformSite } from '../support/sites/types.js';

const sites = await loadSites();
/** `web` is the generic fallback (the landing page is the file): it has no API and no site. */
const GENERIC = ['web'];
const HEX = { md5: 32, sha1: 40, sha256: 64 } as const;
const HOSTILE = [
  'https://',
  'https://%zz',
  'https://example.org/' + 'a/'.repeat(5000),
  'https://zenodo.org/records/' + '9'.repeat(400),
  'https://figshare.com/articles/dataset/x/%E0%A4%A',
  'https://dataverse.harvard.edu/dataset.xhtml?persistentId=',
  'https://archive.org/details/',
  'https://doi.org/10.5061/',
  'https://osf.io/../../etc/passwd',
  'javascript:alert(1)',
  'https://[::1]/records/1',
  'https://user:pass@zenodo.org:99999/records/1',
];

function request(url: string): PlatformRequest {
  return { base_url: url, url, ingest_type: 'dataset' };
}

it('every registered helper but the generic one has a site, and every site a helper', () => {
  expect(sites.map((s) => s.platform).sort()).toEqual(
    PLATFORMS.map((p) => p.name)
      .filter((n) => !GENERIC.includes(n))
      .sort(),
  );
});

describe.each(sites.map((site) => [site.platform, site] as const))(
  'platform contract: %s',
  (_name, site: PlatformSite) => {
    const helper = PLATFORMS.find((p) => p.name === site.platform) as PlatformHelper;
    let server: FixtureServer;
    let ctx: ReturnType<typeof platformContext>;
    let tmpDir: string;

    beforeAll(async () => {
      server = await FixtureServer.start();
      ctx = { ...platformContext(testConfig(server.origin, {}, site.origins)), budget: site.platform };
      tmpDir = await mkdtemp(join(tmpdir(), 'fileset-contract-'));
    });

    afterAll(async () => {
      await ctx.http.close();
      await server.close();
      await rm(tmpDir, { recursive: true, force: true });
    });

    /** What the pipeline does: fetch the landing page (writing nothing), find the platform, ask it. */
    async function resolve(
      url: string,
    ): Promise<{ platform: PlatformHelper | undefined; item: () => Promise<PlatformItem> }> {
      const capture = { writer: null, index: null, tmpDir, now: () => new Date() };
      const landing = await fetchLanding(url, { config: ctx.config, http: ctx.http, capture, dryRun: true });
      const platform = findPlatform(request(url), landing);
      return { platform, item: () => platform!.processRequest(request(url), landing.error ? null : landing, ctx) };
    }

    it('claims its URLs from the URL alone, and the registry gives them to it', () => {
      for (const url of site.claims) {
        expect(helper.matchRequest(request(url), null), url).toBe(true);
        expect(findPlatform(request(url), null)?.name, url).toBe(site.platform);
      }
    });

    it("refuses its rejects and every other site's claims", () => {
      const others = sites.filter((s) => s !== site).flatMap((s) => s.claims);
      for (const url of [...site.rejects, ...others]) expect(helper.matchRequest(request(url), null), url).toBe(false);
    });

    it('never throws on hostile URLs, with or without a landing page', () => {
      for (const url of HOSTILE) {
        expect(() => helper.matchRequest(request(url), null), url).not.toThrow();
        expect(
          () =>
            helper.matchRequest(request(url), {
              url,
              hops: [url],
              html: '<html>',
              headers: [['Link', '<:::>; rel=describedby']],
            }),
          url,
        ).not.toThrow();
      }
    });

    it('describes its recorded dataset: item, names and a well-formed manifest', async () => {
      const dataset = site.serveDataset(server);
      const { platform, item: getItem } = await resolve(dataset.url);
      expect(platform?.name).toBe(site.platform);
      const item = await getItem();
      expect(item.platformName).toBe(site.platform);
      expect(item.platformId).toBe(dataset.platformId);
      expect(item.archiveorgItemName).toBe(dataset.itemName);
      // archive.org identifiers: letters, digits, '.', '-', '_', at most 100 characters.
      expect(item.archiveorgItemName).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/);
      expect(item.platformDomain).toMatch(/^[a-z0-9.-]+$/);
      for (const url of [item.platformBaseUrl, item.platformBundleUrl].filter((u) => u !== null))
        expect(url).toMatch(/^https?:\/\/[^/]/);
      expect(item.manifest.map((f) => f.path)).toEqual(dataset.paths);
      expect(new Set(item.manifest.map((f) => f.path)).size).toBe(item.manifest.length);
      for (const file of item.manifest) {
        expect(ManifestEntrySchema.safeParse(file).success, file.path).toBe(true);
        expect(file.path, 'relative path without dot segments').not.toMatch(/^\/|(^|\/)\.\.?(\/|$)/);
        if (file.size !== null && file.size !== undefined)
          expect(Number.isSafeInteger(file.size) && file.size >= 0).toBe(true);
        for (const [alg, length] of Object.entries(HEX)) {
          const value = file[alg as keyof typeof HEX];
          if (value !== null && value !== undefined)
            expect(value, `${file.path} ${alg}`).toMatch(new RegExp(`^[0-9a-f]{${length}}$`));
        }
        expect(file.platform_url, file.path).toMatch(/^https?:\/\/[^/]/);
      }
    });

    it('says platform-404 when the platform does not know the dataset', async () => {
      const url = site.serveNotFound(server);
      const { platform, item } = await resolve(url);
      expect(platform?.name).toBe(site.platform);
      await expect(item()).rejects.toThrow(PlatformNotFoundError);
    });

    it('says platform-error, naming the field, when the JSON changed shape', async () => {
      const { url, field } = site.serveChangedShape(server);
      const { item } = await resolve(url);
      const error = await item().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PlatformError);
      expect((error as IngestError).status).toBe('platform-error');
      expect((error as Error).message).toContain(`"${field}"`);
    });
  },
);
