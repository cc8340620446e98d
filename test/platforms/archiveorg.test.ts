import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PlatformError,
  PlatformHttpError,
  PlatformNotFoundError,
  PlatformRestrictedError,
  PlatformScopeError,
} from '../../src/errors.js';
import { formatMimetype } from '../../src/archiveorg-rules.js';
import { archiveorg, archiveorgIdentifier, downloadUrl } from '../../src/platforms/archiveorg.js';
import type { LandingPage } from '../../src/platforms/types.js';
import type { CapturedResponse } from '../../src/capture/web-capture.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { archiveorgFixture, json, mutate, NAWARIAN_PATHS, site } from '../support/sites/archiveorg.js';

const nawarian = archiveorgFixture('nawarian-test.json');
const nasa = archiveorgFixture('nasa.json');
const nasa2025 = archiveorgFixture('nasa_2025_variant.json');
/** A recorded collection turned into a plain item (mediatype image, not a collection) to read its files. */
const asItem = (body: string, space: string) =>
  mutate(
    mutate(body, `"mediatype":${space}"collection"`, `"mediatype":${space}"image"`),
    `"is_collection":${space}true`,
    `"is_collection":${space}false`,
  );

let server: FixtureServer;
let ctx: ReturnType<typeof platformContext>;

beforeAll(async () => {
  server = await FixtureServer.start({
    '/metadata/nawarian-test': { body: nawarian, headers: json },
    '/metadata/Fafnir_2342-2009': { body: archiveorgFixture('Fafnir_2342-2009.comma_repaired.json'), headers: json },
    '/metadata/fafnir-as-in-source': { body: archiveorgFixture('Fafnir_2342-2009.as_in_source.txt'), headers: json },
    '/metadata/nasa': { body: nasa, headers: json },
    '/metadata/nasa-2025': { body: nasa2025, headers: json },
    '/metadata/ote': { body: archiveorgFixture('ote.json'), headers: json },
    '/metadata/nasa-as-item': { body: asItem(nasa, ' '), headers: json },
    '/metadata/nasa-2025-as-item': { body: asItem(nasa2025, ' '), headers: json },
    '/metadata/nawarian-web': { body: mutate(nawarian, '"mediatype":"data"', '"mediatype":"web"'), headers: json },
    '/metadata/nawarian-dark': { body: mutate(nawarian, '{"created":', '{"is_dark":true,"created":'), headers: json },
    '/metadata/nawarian-variants': {
      body: [
        [
          '"mtime":"1561019500","size":"118","md5":"52abf60e8ab177a7caea2fd812f94742","crc32":"393d4f8b","sha1":"eafb0d3239d3ad0b84441622942dd8f22b69b94b","format":"GZIP"',
          '"mtime":"1561019500","size":"118","md5":"52abf60e8ab177a7caea2fd812f94742","crc32":"393d4f8b","sha1":"eafb0d3239d3ad0b84441622942dd8f22b69b94b","format":"Unknown"',
        ],
        ['"mtime":"1561019761","size":"118",', '"mtime":"1561019761",'],
        ['"name":"archive_422_data.tar.gz"', '"name":"run 1/archive_422_data.tar.gz"'],
        [
          '"sha1":"e17b3f5684ada9d18a39e06a61ad883d819d74f6","format":"GZIP"',
          '"sha1":"e17b3f5684ada9d18a39e06a61ad883d819d74f6"',
        ],
      ].reduce((body, [from, to]) => mutate(body, from!, to!), nawarian),
      headers: json,
    },
    '/metadata/nawarian-files-object': {
      body: mutate(mutate(nawarian, '"files":[', '"files":{"list":['), '],"files_count"', ']},"files_count"'),
      headers: json,
    },
    '/metadata/nawarian-name-number': {
      body: mutate(nawarian, '"name":"archive_388_data.tar.gz"', '"name":388'),
      headers: json,
    },
    '/metadata/no-such-item': { body: '{}', headers: json },
    '/metadata/gone-item': { status: 404, body: '{"error":"not found"}', headers: json },
    '/metadata/broken-item': { status: 500, body: 'Internal Server Error' },
  });
  ctx = platformContext(testConfig(server.origin, {}, ['https://archive.org']));
});

afterAll(async () => {
  await ctx.http.close();
  await server.close();
});

const process = (url: string) => archiveorg.processRequest({ base_url: url, url }, null, ctx);
/** The error a request fails with (a resolved item fails the test). */
async function failure(url: string): Promise<Error> {
  const outcome: unknown = await process(url).catch((e: unknown) => e);
  if (!(outcome instanceof Error)) throw new Error(`${url} was expected to fail`);
  return outcome;
}

describe('archive.org URL forms', () => {
  it.each([
    ['https://archive.org/details/nawarian-test', 'nawarian-test'],
    ['https://archive.org/details/nawarian-test/', 'nawarian-test'],
    ['https://archive.org/details/nawarian-test/archive_388_data.tar.gz', 'nawarian-test'],
    ['https://archive.org/details/nawarian-test?tab=about', 'nawarian-test'],
    ['https://www.archive.org/details/nawarian-test', 'nawarian-test'],
    ['https://archive.org/download/nawarian-test', 'nawarian-test'],
    ['https://archive.org/download/nawarian-test/archive_388_data.tar.gz', 'nawarian-test'],
    ['https://archive.org/metadata/nawarian-test', 'nawarian-test'],
    ['https://archive.org/metadata/nawarian-test/files', 'nawarian-test'],
    ['http://archive.org/details/Fafnir_2342-2009', 'Fafnir_2342-2009'],
    ['https://archive.org/details/dn2015-0220_vid', 'dn2015-0220_vid'],
  ])('%s names item %s', (url, id) => {
    expect(archiveorgIdentifier(url)).toBe(id);
    expect(archiveorg.matchRequest({ base_url: url, url }, null)).toBe(true);
  });

  it.each([
    'https://web.archive.org/web/20190101000000/https://archive.org/details/nawarian-test',
    'https://archive.org/search?query=nawarian',
    'https://archive.org/details/@nawarian',
    'https://archive.org/details/',
    'https://archive.org/',
    'https://archive.org/about/faqs.php',
    'https://scholar.archive.org/work/abc',
    'https://example.org/details/nawarian-test',
    'ftp://archive.org/details/nawarian-test',
    'https://zenodo.org/records/7078725',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
  ])('does not claim %s', (url) => {
    expect(archiveorgIdentifier(url)).toBeNull();
    expect(archiveorg.matchRequest({ base_url: url, url }, null)).toBe(false);
  });

  it('claims a request whose landing page ended on archive.org (a DOI resolving to an item)', () => {
    const url = 'https://doi.org/10.1234/example';
    const landing: LandingPage = {
      url,
      hops: [url],
      capture: { url: 'https://archive.org/details/nawarian-test' } as CapturedResponse,
    };
    expect(archiveorg.matchRequest({ base_url: url, url }, landing)).toBe(true);
    expect(archiveorg.matchRequest({ base_url: url, url }, null)).toBe(false);
  });

  it('the site lists claims and rejects the helper agrees with', () => {
    for (const url of site.claims) expect(archiveorg.matchRequest({ base_url: url, url }, null)).toBe(true);
    for (const url of site.rejects) expect(archiveorg.matchRequest({ base_url: url, url }, null)).toBe(false);
  });

  it('percent-encodes each path segment of a download URL and asks for cnt=0', () => {
    expect(downloadUrl('nawarian-test', 'run 1/a#b?.tar.gz')).toBe(
      'https://archive.org/download/nawarian-test/run%201/a%23b%3F.tar.gz?cnt=0',
    );
  });
});

describe('archive.org formats', () => {
  it.each([
    ['GZIP', 'application/gzip'],
    ['JPEG', 'image/jpeg'],
    ['Text', 'text/plain'],
    ['JSON', 'application/json'],
    ['ZIP', 'application/zip'],
    ['Comma-Separated Values', 'text/csv'],
    ['PNG', 'image/png'],
    ['PDF', 'application/pdf'],
    ['MPEG4', 'video/mp4'],
    ['Tar', 'application/x-tar'],
    ['Unknown', null],
    ['Some Format From 2031', null],
    [undefined, null],
  ])('%s → %s', (format, mimetype) => expect(formatMimetype(format)).toBe(mimetype));
});

describe('archive.org items', () => {
  it('reads the data item nawarian-test: original data files only, system files left out', async () => {
    const item = await process('https://archive.org/details/nawarian-test');
    expect(server.requests).toContain('/metadata/nawarian-test');
    expect(item).toMatchObject({
      platformName: 'archiveorg',
      platformDomain: 'archive.org',
      platformId: 'nawarian-test',
      archiveorgItemName: 'nawarian-test',
      platformBaseUrl: 'https://archive.org/details/nawarian-test',
      platformBundleUrl: 'https://archive.org/compress/nawarian-test',
      alreadyArchived: true,
    });
    expect(item.archiveorgItemMeta).toEqual({ title: 'nawarian-test', mediatype: 'data', collection: 'opensource' });
    expect(item.manifest.map((f) => f.path)).toEqual(NAWARIAN_PATHS);
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.sha1])).toEqual([
      [
        'archive_388_data.tar.gz',
        35380676,
        '29e3cea56f0b26df41d2e28fce15b7a7',
        'd3d6b5d8241e083f49b38b2b879a2ea29e46d872',
      ],
      [
        'archive_389_data.tar.gz',
        35380645,
        'b7436d47b26e2937cfadccd2c13812bd',
        '422c34a5f262396d4de1a5b630dfe78822e50c5e',
      ],
      ['archive_394_data.tar.gz', 118, '52abf60e8ab177a7caea2fd812f94742', 'eafb0d3239d3ad0b84441622942dd8f22b69b94b'],
      ['archive_397_data.tar.gz', 118, 'ec294a560b5f646a77c3e8f1c1b9a89c', 'd671e84cb2bc14f57b9636f5de7a2995baee0a35'],
      ['archive_422_data.tar.gz', 274, 'db748bb55302314495ac5752c6e7ac69', '63ac7a827fc75fda59f220406ad4cd59da9011bb'],
      ['archive_423_data.tar.gz', 274, '0173d3fa323029a3b8aed793e69b6646', 'e17b3f5684ada9d18a39e06a61ad883d819d74f6'],
      [
        'archive_484_data.tar.gz',
        6844308,
        'b3aef702a233c6de10ab6dcb9fcb8e2f',
        '9d3683a83572bfe8c3906aba81d2f6a09d642818',
      ],
    ]);
    expect(item.manifest[0]).toEqual({
      path: 'archive_388_data.tar.gz',
      size: 35380676,
      md5: '29e3cea56f0b26df41d2e28fce15b7a7',
      sha1: 'd3d6b5d8241e083f49b38b2b879a2ea29e46d872',
      mimetype: 'application/gzip',
      platform_url: 'https://archive.org/download/nawarian-test/archive_388_data.tar.gz?cnt=0',
      extra: { format: 'GZIP', crc32: 'b5d19656', mtime: 1561016986 },
    });
    expect(item.manifest.every((f) => f.restricted === undefined)).toBe(true);
    expect(archiveorg.chooseStrategy!(item)).toBe('archiveorg-fileset');
  });

  it('takes a /download/<item>/<file> URL as the whole item', async () => {
    const item = await process('https://archive.org/download/nawarian-test/archive_394_data.tar.gz');
    expect(item.platformId).toBe('nawarian-test');
    expect(item.manifest.map((f) => f.path)).toEqual(NAWARIAN_PATHS);
  });

  it('marks private files of the access-restricted Fafnir item as restricted', async () => {
    const item = await process('https://archive.org/details/Fafnir_2342-2009');
    expect(item.platformId).toBe('Fafnir_2342-2009');
    expect(item.archiveorgItemMeta).toEqual({
      title: 'Fafnir 2342-2009',
      creator: 'vault_uploader',
      mediatype: 'data',
      collection: ['ProjectJasperTransfers', 'ia_biblio_metadata', 'theinternetarchive'],
    });
    expect(item.manifest).toEqual([
      {
        path: '23422009-2021-11-03-12-16-05.tar.gz',
        size: 1140513,
        md5: 'cb74b8bb30eb27b18d0e5849a6a307be',
        sha1: '2f81cf87f90bf9b1b0c22ba759bff12a66c1b1fc',
        mimetype: 'application/gzip',
        platform_url: 'https://archive.org/download/Fafnir_2342-2009/23422009-2021-11-03-12-16-05.tar.gz?cnt=0',
        extra: { format: 'GZIP', crc32: 'fdb516c6', mtime: 1636066696 },
        restricted: true,
      },
      {
        path: '23422009-2021-11-03-12-16-13.tar.gz',
        size: 25344772,
        md5: '8599ddafc9bdfe9afa917c169baac970',
        sha1: '4e4d52971243332e4c8cf16c6aba52af4ffb7570',
        mimetype: 'application/gzip',
        platform_url: 'https://archive.org/download/Fafnir_2342-2009/23422009-2021-11-03-12-16-13.tar.gz?cnt=0',
        extra: { format: 'GZIP', crc32: '1971d3a8', mtime: 1636066709 },
        restricted: true,
      },
    ]);
  });

  it('reads the nasa files (as a plain item): the Collection Header and system files left out', async () => {
    const item = await process('https://archive.org/details/nasa-as-item');
    expect(item.platformId).toBe('nasa');
    expect(item.manifest).toEqual([
      {
        path: 'globe_west_540.jpg',
        size: 66065,
        md5: '9366a4b09386bf673c447e33d806d904',
        sha1: '3e20a009994405f535cdf07cdc2974cef2fce8f2',
        mimetype: 'image/jpeg',
        platform_url: 'https://archive.org/download/nasa/globe_west_540.jpg?cnt=0',
        extra: { format: 'JPEG', crc32: '2283b5fd', mtime: 1245274910 },
      },
    ]);
    expect(archiveorg.chooseStrategy!(item)).toBe('archiveorg-file');
  });

  it('reads the 2025 nasa shape (as a plain item): thumbs, item image, sqlite and derivatives left out; files_count ignored', async () => {
    const item = await process('https://archive.org/details/nasa-2025-as-item');
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.mimetype, f.platform_url])).toEqual([
      [
        'globe_west_540.jpg',
        66065,
        '9366a4b09386bf673c447e33d806d904',
        'image/jpeg',
        'https://archive.org/download/nasa/globe_west_540.jpg?cnt=0',
      ],
    ]);
  });

  it('never crashes on an unknown or missing format or a missing size; keeps nested paths', async () => {
    const item = await process('https://archive.org/details/nawarian-variants');
    const byPath = new Map(item.manifest.map((f) => [f.path, f]));
    expect(byPath.get('archive_394_data.tar.gz')).toMatchObject({
      mimetype: null,
      size: 118,
      extra: { format: 'Unknown' },
    });
    expect(byPath.get('archive_397_data.tar.gz')).toMatchObject({
      size: null,
      mimetype: 'application/gzip',
      md5: 'ec294a560b5f646a77c3e8f1c1b9a89c',
    });
    expect(byPath.get('run 1/archive_422_data.tar.gz')).toMatchObject({
      size: 274,
      platform_url: 'https://archive.org/download/nawarian-test/run%201/archive_422_data.tar.gz?cnt=0',
    });
    expect(byPath.get('archive_423_data.tar.gz')).toEqual({
      path: 'archive_423_data.tar.gz',
      size: 274,
      md5: '0173d3fa323029a3b8aed793e69b6646',
      sha1: 'e17b3f5684ada9d18a39e06a61ad883d819d74f6',
      mimetype: null,
      platform_url: 'https://archive.org/download/nawarian-test/archive_423_data.tar.gz?cnt=0',
      extra: { crc32: '0a0466b6', mtime: 1562429781 },
    });
  });
});

describe('archive.org statuses', () => {
  it.each([
    ['https://archive.org/details/nasa', /archive\.org nasa is a collection of items/],
    ['https://archive.org/details/nasa-2025', /archive\.org nasa is a collection of items/],
    ['https://archive.org/details/ote', /archive\.org ote is a collection of items/],
    ['https://archive.org/details/nawarian-web', /nawarian-test is a web crawl item \(mediatype "web"\)/],
  ])('refuses %s as platform-scope', async (url, message) => {
    const error = await failure(url);
    expect(error).toBeInstanceOf(PlatformScopeError);
    expect(error.message).toMatch(message);
  });

  it('answers platform-404 for the `{}` archive.org gives an unknown identifier, and for HTTP 404', async () => {
    const empty = await failure('https://archive.org/details/no-such-item');
    expect(empty).toBeInstanceOf(PlatformNotFoundError);
    expect(empty.message).toContain('archive.org item no-such-item does not exist');
    expect(await failure('https://archive.org/details/gone-item')).toBeInstanceOf(PlatformNotFoundError);
  });

  it('answers platform-http-error for a 5xx', async () => {
    const error = await failure('https://archive.org/details/broken-item');
    expect(error).toBeInstanceOf(PlatformHttpError);
    expect(error.message).toContain('HTTP 500');
  });

  it('answers platform-restricted for a dark item', async () => {
    const error = await failure('https://archive.org/details/nawarian-dark');
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect(error.message).toContain('is dark');
  });

  it('answers platform-error for a body that is not JSON (the Fafnir recording as found)', async () => {
    const error = await failure('https://archive.org/details/fafnir-as-in-source');
    expect(error).toBeInstanceOf(PlatformError);
    expect(error.message).toContain('archive.org item: response from');
    expect(error.message).toContain('is not JSON');
  });

  it.each([
    ['nawarian-files-object', '"files"'],
    ['nawarian-name-number', '"files.0.name"'],
  ])('names the field when the JSON changed shape (%s)', async (id, field) => {
    const error = await failure(`https://archive.org/details/${id}`);
    expect(error).toBeInstanceOf(PlatformError);
    expect(error.message).toContain(field);
  });
});

describe('archive.org site (shared suites)', () => {
  it('serves a dataset the helper reads, a not-found and a changed shape', async () => {
    const own = await FixtureServer.start();
    const ownCtx = platformContext(testConfig(own.origin, {}, site.origins));
    try {
      const served = site.serveDataset(own);
      const item = await archiveorg.processRequest({ base_url: served.url, url: served.url }, null, ownCtx);
      expect([item.platformId, item.archiveorgItemName, item.manifest.map((f) => f.path)]).toEqual([
        served.platformId,
        served.itemName,
        served.paths,
      ]);
      const landing = await ownCtx.http.request(served.url);
      expect([landing.statusCode, landing.header('content-type')]).toEqual([200, 'text/html; charset=UTF-8']);
      landing.body.resume();

      const missing = site.serveNotFound(own);
      await expect(archiveorg.processRequest({ base_url: missing, url: missing }, null, ownCtx)).rejects.toThrow(
        PlatformNotFoundError,
      );

      const changed = site.serveChangedShape(own);
      const error: unknown = await archiveorg
        .processRequest({ base_url: changed.url, url: changed.url }, null, ownCtx)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PlatformError);
      expect((error as Error).message).toContain(`"${changed.field}"`);
    } finally {
      await ownCtx.http.close();
      await own.close();
    }
  });
});
