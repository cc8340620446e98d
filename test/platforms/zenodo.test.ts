import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PlatformError,
  PlatformHttpError,
  PlatformNotFoundError,
  PlatformRestrictedError,
  PlatformScopeError,
} from '../../src/errors.js';
import { zenodo, zenodoTarget } from '../../src/platforms/zenodo.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { recordJson } from '../support/zenodo-site.js';

const json = { 'Content-Type': 'application/json' };
/** A record inside a recorded search response, served as the record endpoint serves it. */
const searchHit = (name: string, index = 0) =>
  JSON.stringify((JSON.parse(recordJson(name)) as { hits: { hits: unknown[] } }).hits.hits[index]);

let server: FixtureServer;
let ctx: ReturnType<typeof platformContext>;

beforeAll(async () => {
  server = await FixtureServer.start({
    '/api/records/7078725': { body: recordJson('zenodo_record_7078725.json'), headers: json },
    '/api/records/5244404': { body: recordJson('zenodo_record_5244404_newapi_2026-07-24.json'), headers: json },
    '/api/records/3463499': { body: recordJson('zenodo_record_3463499_2019-09-27.json'), headers: json },
    '/api/records/4589980': {
      body: searchHit('preston_zenodo_search_all_versions_4589980_newapi_2023-10-20.json'),
      headers: json,
    },
    '/api/records/13505983': {
      body: searchHit('preston_zenodo_search_md5_record_13505983_restricted_newapi.json'),
      headers: json,
    },
    // Zenodo answers a concept id with the latest version's record (here: concept 7089245 → 7089246).
    '/api/records/7089245': { status: 301, headers: { Location: '/api/records/7089246' } },
    '/api/records/7089246': { body: searchHit('zenodo_search_all_versions_fdtester.json', 4), headers: json },
    '/api/records/68358988': { status: 404, body: recordJson('zenodo_record_68358988_404.json'), headers: json },
    '/api/records/410': { status: 410, body: '{"status": 410, "message": "PID has been deleted."}', headers: json },
    '/api/records/500': { status: 500, body: 'oops' },
    '/api/records/777': {
      body: recordJson('zenodo_record_7078725.json').replace('"size":76,', '"size":"76",'),
      headers: json,
    },
  });
  ctx = platformContext(testConfig(server.origin));
});

afterAll(async () => {
  await ctx.http.close();
  await server.close();
});

const process = (url: string) => zenodo.processRequest({ base_url: url, url }, null, ctx);

describe('zenodo URL forms', () => {
  it.each([
    ['https://zenodo.org/record/7078725', '7078725'],
    ['https://zenodo.org/records/7078725', '7078725'],
    ['https://zenodo.org/records/7078725?preview=1', '7078725'],
    ['https://zenodo.org/api/records/7078725', '7078725'],
    ['https://doi.org/10.5281/zenodo.7078725', '7078725'],
    ['https://doi.org/10.5281/ZENODO.7078725', '7078725'],
    ['https://sandbox.zenodo.org/records/12', '12'],
  ])('%s names record %s', (url, id) => {
    expect(zenodoTarget(url)?.id).toBe(id);
    expect(zenodo.matchRequest({ base_url: url, url }, null)).toBe(true);
  });

  it.each([
    'https://zenodo.org/communities/x',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
    'https://example.org/records/1',
  ])('does not claim %s', (url) => expect(zenodo.matchRequest({ base_url: url, url }, null)).toBe(false));
});

describe('zenodo records', () => {
  it('reads the legacy record shape (7078725)', async () => {
    const item = await process('https://doi.org/10.5281/zenodo.7078725');
    expect(item).toMatchObject({
      platformName: 'zenodo',
      platformDomain: 'zenodo.org',
      platformId: '7078725',
      archiveorgItemName: 'zenodo.org-7078725',
      platformBaseUrl: 'https://zenodo.org/records/7078725',
      // the 2022 recording lists no links.archive; Zenodo serves the same path for every record
      platformBundleUrl: 'https://zenodo.org/api/records/7078725/files-archive',
    });
    expect(item.manifest.map((f) => [f.path, f.size, f.md5])).toEqual([
      ['capitals.csv', 76, '154d822b8c2aa259867067f01c0efee5'],
      ['table.jsonl', 54, 'ede814f1c4be172cbee337596131924c'],
      ['table.ndjson', 54, 'ede814f1c4be172cbee337596131924c'],
      ['table.ods', 8339, '4b71478e8803c50468310d2cd002c146'],
      ['table.tsv', 35, '19b05b99484ca8a3ad3d1612fd178439'],
      ['table.xls', 6144, '3a980d1a559c48978c63c0c1d0d2a8f3'],
      ['table.xlsx', 6230, 'dddeae0cad9b46e8d7a2d157774dcf5b'],
    ]);
    expect(item.manifest[0]!.platform_url).toBe(
      'https://zenodo.org/api/files/86e806c9-baff-418d-9456-7720f23486d5/capitals.csv',
    );
    expect(item.archiveorgItemMeta).toMatchObject({
      doi: '10.5281/zenodo.7078725',
      license: 'CC-BY-4.0',
      date: '2022-09-14',
    });
  });

  it('reads the current record shape (5244404): /content links and the files-archive bundle', async () => {
    const item = await process('https://zenodo.org/records/5244404');
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.platform_url])).toEqual([
      [
        'Holmes_et_al_(2021)_Cell_Supplementary.pdf',
        197003,
        'bdb88fc94708d8fd7d87854031faa8ab',
        'https://zenodo.org/api/records/5244404/files/Holmes_et_al_(2021)_Cell_Supplementary.pdf/content',
      ],
      [
        'Holmes_et_al_(2021)_Cell.pdf',
        1174157,
        '28a4d8215374cda683d236c7ad932ffd',
        'https://zenodo.org/api/records/5244404/files/Holmes_et_al_(2021)_Cell.pdf/content',
      ],
      [
        'gisaid_acknowledgement_table.pdf',
        5335,
        'b1b5979db4d4755601b85f160ce664b9',
        'https://zenodo.org/api/records/5244404/files/gisaid_acknowledgement_table.pdf/content',
      ],
    ]);
    expect(item.platformBundleUrl).toBe('https://zenodo.org/api/records/5244404/files-archive');
  });

  it('reads the Oct-2023 transitional shape (filename, filesize, bare md5, links.download)', async () => {
    const item = await process('https://zenodo.org/records/4589980');
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.platform_url])).toEqual([
      [
        'figure.png',
        32594,
        'eb5e8f37583644943b86d1d9ebd4ded5',
        'https://zenodo.org/api/records/4589980/files/figure.png/content',
      ],
      [
        'figure.svg',
        33721,
        '75b362eb1058eff2dcf836cd4293c4ff',
        'https://zenodo.org/api/records/4589980/files/figure.svg/content',
      ],
    ]);
  });

  it('keeps a key with a slash as a nested path (3463499, GitHub release)', async () => {
    const item = await process('https://zenodo.org/record/3463499');
    expect(item.manifest.map((f) => [f.path, f.size])).toEqual([['jbferet/biodivMapR-v1.0.1.zip', 24692383]]);
  });

  it('refuses a concept (all versions) record as platform-scope, comparing ids as strings', async () => {
    await expect(process('https://zenodo.org/records/7089245')).rejects.toThrow(PlatformScopeError);
    await expect(process('https://zenodo.org/records/7089245')).rejects.toThrow(/concept.*latest is 7089246/);
  });

  it('reports a restricted record (13505983) as platform-restricted', async () => {
    await expect(process('https://zenodo.org/records/13505983')).rejects.toThrow(PlatformRestrictedError);
  });

  it('maps 404 and 410 to platform-404, other errors to platform-http-error', async () => {
    await expect(process('https://zenodo.org/records/68358988')).rejects.toThrow(PlatformNotFoundError);
    await expect(process('https://zenodo.org/records/410')).rejects.toThrow(/deleted \(HTTP 410/);
    await expect(process('https://zenodo.org/records/500')).rejects.toThrow(PlatformHttpError);
  });

  it('names the field when the JSON changed shape', async () => {
    const error = await process('https://zenodo.org/records/777').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toContain('"files.0.size"');
  });
});
