import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PlatformError, PlatformHttpError, PlatformNotFoundError, PlatformRestrictedError } from '../../src/errors.js';
import { datasetStorageSize, digestFields, dryad, dryadDoi, listDryadFiles } from '../../src/platforms/dryad.js';
import type { LandingPage } from '../../src/platforms/types.js';
import type { CapturedResponse } from '../../src/capture/web-capture.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer, type Route } from '../support/fixture-server.js';
import {
  DATASET_2RBNZS7JP,
  DATASET_MKKWH70ZP,
  datasetApiPath,
  dryadFixture,
  FILES_355108,
  FILES_57535,
  serveDryad2rbnzs7jp,
  site,
} from '../support/sites/dryad.js';

const json = { 'Content-Type': 'application/json' };
const FILES_355108_PATH = '/api/v2/versions/355108/files';
const LANDING_6HDR7SR8Z = readFileSync(
  join(
    import.meta.dirname,
    '..',
    'fixtures',
    'landing_html',
    'dryad_landing_doi_10.5061_dryad.6hdr7sr8z_2026-07-24.html',
  ),
  'utf8',
);

const open: Array<{ server: FixtureServer; ctx: ReturnType<typeof platformContext> }> = [];

/** A fixture server standing in for datadryad.org and doi.org, closed after the test. */
async function serve(routes: Record<string, Route> = {}) {
  const server = await FixtureServer.start(routes);
  const ctx = platformContext(testConfig(server.origin, {}, site.origins));
  open.push({ server, ctx });
  return { server, ctx };
}

afterEach(async () => {
  for (const { server, ctx } of open.splice(0)) {
    await ctx.http.close();
    await server.close();
  }
});

/** A recorded body with one documented change; fails loudly when the text to change is not there. */
function mutate(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture does not contain ${from}`);
  return text.replace(from, to);
}

/** The recorded 355108 listing split into pages of `sizes` files, each linking the next (see the README). */
function splitListing(sizes: number[], nextOfLast?: string): Record<string, Route> {
  const recorded = JSON.parse(dryadFixture(FILES_355108)) as {
    _links: Record<string, unknown>;
    _embedded: { 'stash:files': unknown[] };
  };
  const files = recorded._embedded['stash:files'];
  const url = (page: number) => (page === 1 ? FILES_355108_PATH : `${FILES_355108_PATH}?page=${page}`);
  const routes: Record<string, Route> = {};
  let offset = 0;
  sizes.forEach((size, index) => {
    const page = index + 1;
    const next = page < sizes.length ? url(page + 1) : nextOfLast;
    const body = {
      ...recorded,
      _links: { ...recorded._links, self: { href: url(page) }, ...(next ? { next: { href: next } } : {}) },
      count: size,
      _embedded: { 'stash:files': files.slice(offset, offset + size) },
    };
    offset += size;
    routes[url(page)] = { body: JSON.stringify(body), headers: json };
  });
  return routes;
}

const request = (url: string) => ({ base_url: url, url });
const landingAt = (url: string, html?: string): LandingPage => ({
  url,
  hops: [url],
  capture: { url, statusCode: 200 } as CapturedResponse,
  ...(html ? { html } : {}),
});

describe('dryad URL forms', () => {
  it.each([
    ['https://datadryad.org/stash/dataset/doi:10.5061/dryad.2rbnzs7jp', '10.5061/dryad.2rbnzs7jp'],
    ['https://datadryad.org/dataset/doi:10.5061/dryad.6hdr7sr8z', '10.5061/dryad.6hdr7sr8z'],
    ['https://datadryad.org/api/v2/datasets/doi%3A10.5061%2Fdryad.2rbnzs7jp', '10.5061/dryad.2rbnzs7jp'],
    ['https://datadryad.org/api/v2/datasets/doi:10.5061%2Fdryad.6hdr7sr8z', '10.5061/dryad.6hdr7sr8z'],
    // The JSON-LD "url" of Dryad's own landing page is double-encoded.
    ['http://datadryad.org/dataset/doi%253A10.5061%252Fdryad.6hdr7sr8z', '10.5061/dryad.6hdr7sr8z'],
    ['https://www.datadryad.org/stash/dataset/doi:10.5061/dryad.7rh4625/?locale=en', '10.5061/dryad.7rh4625'],
    ['https://doi.org/10.5061/dryad.6hdr7sr8z', '10.5061/dryad.6hdr7sr8z'],
    ['https://doi.org/10.5061/DRYAD.6HDR7SR8Z', '10.5061/dryad.6hdr7sr8z'],
    ['http://dx.doi.org/10.5061/dryad.r8d4q', '10.5061/dryad.r8d4q'],
    ['https://doi.org/10.5061%2Fdryad.mkkwh70zp', '10.5061/dryad.mkkwh70zp'],
  ])('%s names %s', (url, doi) => {
    expect(dryadDoi(url)).toBe(doi);
    expect(dryad.matchRequest(request(url), null)).toBe(true);
  });

  it.each([
    ...site.rejects,
    'https://datadryad.org/api/v2/datasets/doi%3A10.5061%2Fdryad.2rbnzs7jp/versions',
    'https://doi.org/10.5281/zenodo.6hdr7sr8z',
    'not a url',
  ])('does not claim %s', (url) => {
    expect(dryadDoi(url)).toBeNull();
    expect(dryad.matchRequest(request(url), null)).toBe(false);
  });

  it('claims every URL the site lists', () => {
    expect(site.claims.filter((url) => !dryad.matchRequest(request(url), null))).toEqual([]);
  });

  it('claims a request whose landing page ended on a Dryad dataset page', () => {
    const landing = landingAt('https://datadryad.org/dataset/doi:10.5061/dryad.6hdr7sr8z');
    expect(dryad.matchRequest(request('https://example.org/go/traitam'), landing)).toBe(true);
  });

  it('reads the DOI from the JSON-LD of a datadryad.org page without one in its URL, and asks the API for it', async () => {
    const { server, ctx } = await serve();
    const landing = landingAt('https://datadryad.org/stash/share/x1', LANDING_6HDR7SR8Z);
    const req = request('https://example.org/go/traitam');
    expect(dryad.matchRequest(req, landing)).toBe(true);
    // The same page on another host says nothing about Dryad.
    expect(dryad.matchRequest(req, landingAt('https://example.org/copy', LANDING_6HDR7SR8Z))).toBe(false);
    // The fixture server does not know 6hdr7sr8z: the helper's one API call shows which dataset it asked for.
    await expect(dryad.processRequest(req, landing, ctx)).rejects.toThrow(PlatformNotFoundError);
    expect(server.requests).toEqual(['/api/v2/datasets/doi%3A10.5061%2Fdryad.6hdr7sr8z']);
  });
});

describe('dryad dataset 2rbnzs7jp (2022 API shapes)', () => {
  it('reads the dataset, its latest version 57535 and the files listing', async () => {
    const { server, ctx } = await serve();
    serveDryad2rbnzs7jp(server);
    const item = await dryad.processRequest(request('https://doi.org/10.5061/dryad.2rbnzs7jp'), null, ctx);
    expect(server.requests).toEqual([
      '/api/v2/datasets/doi%3A10.5061%2Fdryad.2rbnzs7jp',
      '/api/v2/versions/57535/files',
    ]);
    expect(item).toMatchObject({
      platformName: 'dryad',
      platformDomain: 'datadryad.org',
      platformId: '10.5061/dryad.2rbnzs7jp',
      archiveorgItemName: 'datadryad.org-2rbnzs7jp-v4',
      platformBaseUrl: 'https://datadryad.org/dataset/doi:10.5061/dryad.2rbnzs7jp',
      // The zip of exactly the listed version, not the dataset's latest.
      platformBundleUrl: 'https://datadryad.org/api/v2/versions/57535/download',
    });
    // The 2022 listing has no digests: sizes only, hashes come from the bytes.
    expect(item.manifest).toEqual([
      {
        path: 'GCB_ACG_Mortality_2020.zip',
        size: 23787587,
        mimetype: 'application/x-zip-compressed',
        platform_url: 'https://datadryad.org/api/v2/files/267417/download',
        extra: { dryad_file_id: 267417, status: 'copied' },
      },
      {
        path: 'Readme_ACG_Mortality.txt',
        size: 1350,
        mimetype: 'text/plain',
        platform_url: 'https://datadryad.org/api/v2/files/267418/download',
        extra: { dryad_file_id: 267418, status: 'copied' },
      },
    ]);
    expect(item.archiveorgItemMeta).toMatchObject({
      title: 'A catastrophic tropical drought kills hydraulically vulnerable tree species',
      date: '2020-03-17',
      doi: '10.5061/dryad.2rbnzs7jp',
      license: 'https://creativecommons.org/publicdomain/zero/1.0/',
      version: 4,
      storage_size: 23874866,
      source: 'https://datadryad.org/dataset/doi:10.5061/dryad.2rbnzs7jp',
    });
    const creators = item.archiveorgItemMeta.creator as string[];
    expect([creators.length, creators[0], creators[19]]).toEqual([20, 'Jennifer Powers', 'David Medvigy']);
  });

  it.each([
    'https://datadryad.org/stash/dataset/doi:10.5061/dryad.2rbnzs7jp',
    'https://datadryad.org/api/v2/datasets/doi%3A10.5061%2Fdryad.2rbnzs7jp',
  ])('gives the same item for %s', async (url) => {
    const { server, ctx } = await serve();
    serveDryad2rbnzs7jp(server);
    const item = await dryad.processRequest(request(url), null, ctx);
    expect([item.platformId, item.archiveorgItemName, item.manifest.length]).toEqual([
      '10.5061/dryad.2rbnzs7jp',
      'datadryad.org-2rbnzs7jp-v4',
      2,
    ]);
  });

  it("gives the listed version's zip as bundle even when the dataset links no download", async () => {
    const { server, ctx } = await serve();
    serveDryad2rbnzs7jp(server);
    const body = mutate(
      dryadFixture(DATASET_2RBNZS7JP),
      ', "stash:download": {"href": "/api/v2/datasets/doi%3A10.5061%2Fdryad.2rbnzs7jp/download"}',
      '',
    );
    server.route(datasetApiPath('10.5061/dryad.2rbnzs7jp'), { body, headers: json });
    const item = await dryad.processRequest(request('https://doi.org/10.5061/dryad.2rbnzs7jp'), null, ctx);
    expect(item.platformBundleUrl).toBe('https://datadryad.org/api/v2/versions/57535/download');
  });
});

describe('dryad files listing (version 355108 of 6hdr7sr8z, 2026 shapes)', () => {
  const expected = [
    [
      'DataRecord_1_CalculatedTraitMetrics_18Jun2024.csv',
      35689,
      'dff4a33ec5fe8ade65c2d157048a9a99b537c316dea6329eb4f23775d2e8f79e',
      'application/vnd.ms-excel',
      3985003,
    ],
    [
      'DataRecord_2_TraitAMraw_18Jun2024.csv.csv',
      43484,
      '5a4504cfdaa90e60db6ab0032af4198ae84d2f2c1fb82481d61ac786ce5fdfb0',
      'text/csv',
      3985013,
    ],
    [
      'DataRecord_3_TraitMetricsCode_18Jun2024.R',
      6084,
      '163d7d61947cf3d68836ad2af8f3f7cb8d24dff62cd5a7231633da2d6234059c',
      undefined,
      3985011,
    ],
    [
      'DataRecord_4_SpeciesDescriptions_18Jun2024.csv',
      66741,
      '7e4a5b92d12bef0a233afa5b0f877bf93e4f6bdea47f4f11e234b159d35ea7be',
      'text/csv',
      3985008,
    ],
    [
      'DataRecord_5_SpeciesListWithAccnNum_Oct2023.csv',
      7407,
      '313eaa20cf99ea1dcb5991cd6c3747734a1d68b85cc7f563df452a5cd70d384b',
      'text/csv',
      3985009,
    ],
    [
      'DataRecord_6_LSUseqsLROR-FLR2_28Oct2023.fasta',
      191075,
      'bf83fa7b986b72be199e6ab8d6d4d9ffa21b778aae56a0965b5b2f7424e6acc8',
      undefined,
      3985004,
    ],
    [
      'DataRecord_7_FinalTree_Oct2023.tre',
      81480,
      '1221316f6744ac9e00e1374c11a6edfe23032c7e39ab402bd3defca5be3e9013',
      undefined,
      3985005,
    ],
    [
      'DataRecord_8_PhyloanalysisCode_28Oct2023.txt',
      241707,
      'ea7fcc0f54c8026075442e26c105a7c28e5ca08df7e17cd70447df05a2a2f447',
      'text/plain',
      3985006,
    ],
    ['README.md', 5802, 'de75afb0a7222a5591e3e39869befa2c0fb5d7a2e4ade47d49380e1ccb8b39fb', 'text/markdown', 3985010],
  ] as const;
  const row = (f: {
    path: string;
    size?: number | null;
    sha256?: string | null;
    mimetype?: string | null;
    extra?: Record<string, unknown> | null;
  }) => [f.path, f.size, f.sha256, f.mimetype, f.extra?.dryad_file_id];

  it('maps sha-256 digests, sizes, mimetypes and download URLs (an empty mimeType is left out)', async () => {
    const { ctx } = await serve({ [FILES_355108_PATH]: { body: dryadFixture(FILES_355108), headers: json } });
    const files = await listDryadFiles(ctx, `https://datadryad.org${FILES_355108_PATH}`);
    expect(files.map(row)).toEqual(expected);
    expect(files.reduce((sum, f) => sum + f.size!, 0)).toBe(679469);
    expect(files[0]).toEqual({
      path: 'DataRecord_1_CalculatedTraitMetrics_18Jun2024.csv',
      size: 35689,
      sha256: 'dff4a33ec5fe8ade65c2d157048a9a99b537c316dea6329eb4f23775d2e8f79e',
      mimetype: 'application/vnd.ms-excel',
      platform_url: 'https://datadryad.org/api/v2/files/3985003/download',
      extra: { dryad_file_id: 3985003, status: 'copied' },
    });
    expect(files[1]!.extra).toEqual({ dryad_file_id: 3985013, status: 'created' });
    expect(files[2]).not.toHaveProperty('mimetype');
  });

  it('follows _links.next across pages', async () => {
    const { server, ctx } = await serve(splitListing([5, 4]));
    const files = await listDryadFiles(ctx, `https://datadryad.org${FILES_355108_PATH}`);
    expect(server.requests).toEqual([FILES_355108_PATH, `${FILES_355108_PATH}?page=2`]);
    expect(files.map(row)).toEqual(expected);
  });

  it('stops a _links.next loop with a platform-error', async () => {
    const { server, ctx } = await serve(splitListing([5, 4], FILES_355108_PATH));
    const error = await listDryadFiles(ctx, `https://datadryad.org${FILES_355108_PATH}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toBe(
      'Dryad files listing: page https://datadryad.org/api/v2/versions/355108/files comes back (a _links.next loop)',
    );
    expect(server.requests).toEqual([FILES_355108_PATH, `${FILES_355108_PATH}?page=2`]);
  });

  it('stops an endless listing after the page limit', async () => {
    const recorded = JSON.parse(dryadFixture(FILES_355108)) as { _links: object };
    const { server, ctx } = await serve({
      [FILES_355108_PATH]: {
        handler: (req, res) => {
          const page = Number(new URL(req.url!, 'http://x').searchParams.get('page') ?? '1');
          const body = {
            ...recorded,
            _links: { ...recorded._links, next: { href: `${FILES_355108_PATH}?page=${page + 1}` } },
          };
          res.writeHead(200, json).end(JSON.stringify(body));
        },
      },
    });
    const error = await listDryadFiles(ctx, `https://datadryad.org${FILES_355108_PATH}`, 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toMatch(/^Dryad files listing: more than 3 pages \(stopped before .*\?page=4\)$/);
    expect(server.requests).toHaveLength(3);
  });

  it('marks a file without a stash:download link as restricted', async () => {
    const body = mutate(dryadFixture(FILES_355108), '"stash:download":{"href":"/api/v2/files/3985010/download"},', '');
    const { ctx } = await serve({ [FILES_355108_PATH]: { body, headers: json } });
    const files = await listDryadFiles(ctx, `https://datadryad.org${FILES_355108_PATH}`);
    expect(files.filter((f) => f.restricted).map((f) => [f.path, f.platform_url, f.extra?.restriction])).toEqual([
      [
        'README.md',
        'https://datadryad.org/api/v2/files/3985010',
        'no stash:download link: not downloadable anonymously',
      ],
    ]);
    expect(files[0]).not.toHaveProperty('restricted');
  });
});

describe('dryad digests and sizes', () => {
  it.each([
    ['154d822b8c2aa259867067f01c0efee5', 'md5', { md5: '154d822b8c2aa259867067f01c0efee5' }],
    [
      'DE75AFB0A7222A5591E3E39869BEFA2C0FB5D7A2E4ADE47D49380E1CCB8B39FB',
      'sha-256',
      { sha256: 'de75afb0a7222a5591e3e39869befa2c0fb5d7a2e4ade47d49380e1ccb8b39fb' },
    ],
    ['2aae6c35c94fcfb415dbe95f408b9ce91ee846ed', 'sha-1', { sha1: '2aae6c35c94fcfb415dbe95f408b9ce91ee846ed' }],
    ['abc', 'sha-512', { extra: { digest: 'abc', digestType: 'sha-512' } }],
    [
      'de75afb0a7222a5591e3e39869befa2c0fb5d7a2e4ade47d49380e1ccb8b39fb',
      'md5',
      { extra: { digest: 'de75afb0a7222a5591e3e39869befa2c0fb5d7a2e4ade47d49380e1ccb8b39fb', digestType: 'md5' } },
    ],
    [
      '154d822b8c2aa259867067f01c0efee5',
      null,
      { extra: { digest: '154d822b8c2aa259867067f01c0efee5', digestType: null } },
    ],
    [null, 'sha-256', {}],
  ])('digest %s of type %s', (digest, type, fields) => {
    expect(digestFields(digest, type)).toEqual(fields);
  });

  it('reads the dataset size in both spellings: storage_size (2020) and storageSize (2021+)', () => {
    const list = JSON.parse(dryadFixture('dryad_datasets_list_page1.json')) as {
      _embedded: { 'stash:datasets': Array<{ storage_size?: number }> };
    };
    const listed = list._embedded['stash:datasets'][0]!;
    expect(datasetStorageSize(listed)).toBe(999901812);
    expect(datasetStorageSize(JSON.parse(dryadFixture(DATASET_2RBNZS7JP)) as { storageSize: number })).toBe(23874866);
    expect(datasetStorageSize(JSON.parse(dryadFixture(DATASET_MKKWH70ZP)) as { storageSize: number })).toBe(208757274);
  });
});

describe('dryad statuses', () => {
  const mkkwh70zp = 'https://datadryad.org/dataset/doi:10.5061/dryad.mkkwh70zp';
  const serveMkkwh70zp = (body: string) =>
    serve({ [datasetApiPath('10.5061/dryad.mkkwh70zp')]: { body, headers: json } });

  it('refuses a dataset that is not published (embargoed) as platform-restricted, before listing files', async () => {
    const { server, ctx } = await serveMkkwh70zp(
      mutate(dryadFixture(DATASET_MKKWH70ZP), '"curationStatus": "Published"', '"curationStatus": "Embargoed"'),
    );
    const error = await dryad.processRequest(request(mkkwh70zp), null, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect((error as Error).message).toBe(
      'Dryad dataset doi:10.5061/dryad.mkkwh70zp is not published: curationStatus "Embargoed" (publication date 2021-02-14)',
    );
    expect(server.requests).toEqual(['/api/v2/datasets/doi%3A10.5061%2Fdryad.mkkwh70zp']);
  });

  it('refuses a dataset whose visibility is restricted', async () => {
    const { ctx } = await serveMkkwh70zp(
      mutate(dryadFixture(DATASET_MKKWH70ZP), '"visibility": "public"', '"visibility": "restricted"'),
    );
    await expect(dryad.processRequest(request(mkkwh70zp), null, ctx)).rejects.toThrow(
      new PlatformRestrictedError('Dryad dataset doi:10.5061/dryad.mkkwh70zp visibility is "restricted"'),
    );
  });

  it('refuses a dataset Dryad will not show (HTTP 200 with a message, no links)', async () => {
    const hidden =
      '{"identifier":"doi:10.5061/dryad.mkkwh70zp","id":61618,"message":"Identifier cannot be viewed. Either you lack permission to view it, or it is missing required elements."}';
    const { ctx } = await serveMkkwh70zp(hidden);
    const error = await dryad.processRequest(request(mkkwh70zp), null, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect((error as Error).message).toBe(
      'Dryad dataset doi:10.5061/dryad.mkkwh70zp: Identifier cannot be viewed. Either you lack permission to view it, or it is missing required elements.',
    );
  });

  it('maps a 404 to platform-404 and other errors to platform-http-error', async () => {
    const { server, ctx } = await serve({ [datasetApiPath('10.5061/dryad.mkkwh70zp')]: { status: 500, body: 'oops' } });
    const notFound = site.serveNotFound(server);
    await expect(dryad.processRequest(request(notFound), null, ctx)).rejects.toThrow(PlatformNotFoundError);
    await expect(dryad.processRequest(request(notFound), null, ctx)).rejects.toThrow(/not found \(HTTP 404 from/);
    await expect(dryad.processRequest(request(mkkwh70zp), null, ctx)).rejects.toThrow(PlatformHttpError);
  });

  it('maps a files listing that vanished (404) to platform-404', async () => {
    const { ctx } = await serve({
      [datasetApiPath('10.5061/dryad.2rbnzs7jp')]: { body: dryadFixture(DATASET_2RBNZS7JP), headers: json },
    });
    await expect(dryad.processRequest(request('https://doi.org/10.5061/dryad.2rbnzs7jp'), null, ctx)).rejects.toThrow(
      /^Dryad files listing https:\/\/datadryad\.org\/api\/v2\/versions\/57535\/files not found \(HTTP 404/,
    );
  });

  it.each([
    ['dataset versionNumber as a string', 'dataset', '"versionNumber": 4,', '"versionNumber": "4",', 'versionNumber'],
    [
      'dataset without its latest version link',
      'dataset',
      '"stash:version": {"href": "/api/v2/versions/57535"}, ',
      '',
      '_links.stash:version',
    ],
    ['file size as a string', 'files', '"size": 23787587,', '"size": "23787587",', '_embedded.stash:files.0.size'],
    ['file without a path', 'files', '"path": "Readme_ACG_Mortality.txt", ', '', '_embedded.stash:files.1.path'],
  ])('names the field when the JSON changed shape: %s', async (_name, which, from, to, field) => {
    const { server, ctx } = await serve();
    serveDryad2rbnzs7jp(server);
    if (which === 'dataset') {
      server.route(datasetApiPath('10.5061/dryad.2rbnzs7jp'), {
        body: mutate(dryadFixture(DATASET_2RBNZS7JP), from, to),
        headers: json,
      });
    } else {
      server.route('/api/v2/versions/57535/files', {
        body: mutate(dryadFixture(FILES_57535), from, to),
        headers: json,
      });
    }
    const error = await dryad
      .processRequest(request('https://doi.org/10.5061/dryad.2rbnzs7jp'), null, ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toContain(`"${field}"`);
  });

  it("the shared suite's changed-shape route names its field", async () => {
    const { server, ctx } = await serve();
    const { url, field } = site.serveChangedShape(server);
    await expect(dryad.processRequest(request(url), null, ctx)).rejects.toThrow(`"${field}"`);
  });
});
