import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformError, PlatformRestrictedError, PlatformScopeError } from '../../src/errors.js';
import { inveniordm, inveniordmTarget } from '../../src/platforms/inveniordm.js';
import type { LandingPage } from '../../src/platforms/types.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { RDM_FILE, RDM_KEY, rdmListing, rdmRecord } from '../support/sites/inveniordm.js';
import { recordJson } from '../support/zenodo-site.js';

const json = { 'Content-Type': 'application/json' };
const ORIGIN = 'https://rogue-scholar.org';

/** A landing page as the pipeline hands it over: the final response's headers and HTML. */
function landingAt(url: string, link?: string, html = '<html><head></head></html>'): LandingPage {
  return { url, hops: [url], headers: link ? [['Link', link]] : [], html };
}
const describedBy = (id: string) =>
  `<${ORIGIN}/api/records/${id}> ; rel="describedby" ; type="application/vnd.inveniordm.v1+json"`;

let server: FixtureServer;
let ctx: ReturnType<typeof platformContext>;

beforeAll(async () => {
  server = await FixtureServer.start({
    '/api/records/pevm6-kx104': { body: rdmRecord(), headers: json },
    '/api/records/pevm6-kx104/files': { body: rdmListing('pevm6-kx104'), headers: json },
    '/api/records/metao-nly00': {
      body: recordJson('inveniordm_native_rogue-scholar_pevm6-kx104_2026-07-24.json'),
      headers: json,
    },
    '/api/records/restr-icted': {
      body: rdmRecord((r) => {
        r.access.files = 'restricted';
        r.access.embargo = { active: true, until: '2030-01-01', reason: 'publisher embargo' };
      }),
      headers: json,
    },
    '/api/records/sfw0f-2fe65': { body: rdmRecord(), headers: json },
  });
  ctx = platformContext(testConfig(server.origin, {}, [ORIGIN]));
});

afterAll(async () => {
  await ctx.http.close();
  await server.close();
});

const run = (id: string, landingId = id) => {
  const url = `${ORIGIN}/records/${landingId}`;
  return inveniordm.processRequest({ base_url: url, url }, landingAt(url, describedBy(id)), ctx);
};

describe('finding an InvenioRDM installation', () => {
  it('recognises a record page by its signposting describedby link (Link header or <link> element)', () => {
    const url = `${ORIGIN}/records/pevm6-kx104`;
    expect(inveniordmTarget(landingAt(url, describedBy('pevm6-kx104')))).toEqual({
      origin: ORIGIN,
      host: 'rogue-scholar.org',
      id: 'pevm6-kx104',
      apiUrl: `${ORIGIN}/api/records/pevm6-kx104`,
    });
    const html = `<html><head><link rel="alternate" type="application/vnd.inveniordm.v1+json" href="/api/records/pevm6-kx104"></head></html>`;
    expect(inveniordmTarget(landingAt(url, undefined, html))?.apiUrl).toBe(`${ORIGIN}/api/records/pevm6-kx104`);
    expect(inveniordm.matchRequest({ base_url: url, url }, landingAt(url, describedBy('pevm6-kx104')))).toBe(true);
  });

  it('claims nothing from a URL alone, other JSON types, failed landing pages, or Zenodo', () => {
    const url = `${ORIGIN}/records/pevm6-kx104`;
    expect(inveniordm.matchRequest({ base_url: url, url }, null)).toBe(false);
    const jsonLd = `<${ORIGIN}/api/records/pevm6-kx104> ; rel="describedby" ; type="application/ld+json"`;
    expect(inveniordm.matchRequest({ base_url: url, url }, landingAt(url, jsonLd))).toBe(false);
    const failed = { ...landingAt(url, describedBy('pevm6-kx104')), error: new Error('HTTP 503') };
    expect(inveniordm.matchRequest({ base_url: url, url }, failed)).toBe(false);
    const zenodo = 'https://zenodo.org/records/5244404';
    const zenodoLink =
      '<https://zenodo.org/api/records/5244404> ; rel="describedby" ; type="application/vnd.inveniordm.v1+json"';
    expect(inveniordm.matchRequest({ base_url: zenodo, url: zenodo }, landingAt(zenodo, zenodoLink))).toBe(false);
  });
});

describe('InvenioRDM records', () => {
  it('reads the native record and its file listing with the Zenodo file code', async () => {
    const item = await run('pevm6-kx104');
    expect(item).toMatchObject({
      platformName: 'inveniordm',
      platformDomain: 'rogue-scholar.org',
      platformId: 'pevm6-kx104',
      archiveorgItemName: 'rogue-scholar.org-pevm6-kx104',
      platformBaseUrl: `${ORIGIN}/records/pevm6-kx104`,
      platformBundleUrl: `${ORIGIN}/api/records/pevm6-kx104/files-archive`,
    });
    expect(item.archiveorgItemMeta).toMatchObject({
      doi: '10.59350/5cj54-ha154',
      license: 'cc-by-4.0',
      date: '2025-09-27',
      version: 'v1',
      creator: ['Tay, Aaron'],
    });
    expect(item.manifest).toEqual([
      {
        path: RDM_KEY,
        size: RDM_FILE.length,
        md5: createHash('md5').update(RDM_FILE).digest('hex'),
        mimetype: 'application/octet-stream',
        platform_url: `${ORIGIN}/api/records/pevm6-kx104/files/Thuiller%20et%20al.%20-%202006%20-%20INTERACTIONS%20BETWEEN%20ENVIRONMENT,%20SPECIES%20TRAITS,%20.]/content`,
        extra: { file_id: '9d0c815b-2e5a-4c14-ad53-59d879a22df2' },
      },
    ]);
  });

  it('a metadata-only record (as recorded) has an empty manifest and asks for no listing', async () => {
    server.requests.length = 0;
    const item = await run('metao-nly00');
    expect(item.manifest).toEqual([]);
    expect(item.platformBundleUrl).toBeNull();
    expect(server.requests).toEqual(['/api/records/metao-nly00']);
  });

  it('restricted files are platform-restricted, with the embargo', async () => {
    await expect(run('restr-icted')).rejects.toThrow(PlatformRestrictedError);
    await expect(run('restr-icted')).rejects.toThrow(
      /files access "restricted" \(embargoed until 2030-01-01: publisher embargo\)/,
    );
  });

  it('a parent (all versions) id is platform-scope', async () => {
    // The API answers the parent id with the latest version's record (id pevm6-kx104, parent sfw0f-2fe65).
    await expect(run('sfw0f-2fe65')).rejects.toThrow(PlatformScopeError);
  });

  it('names the field of a changed shape', async () => {
    server.route('/api/records/chang-ed000', { body: rdmRecord((r) => delete r.links.files), headers: json });
    const error = await run('chang-ed000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toContain('"links.files"');
  });
});
