import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PlatformError,
  PlatformHttpError,
  PlatformNotFoundError,
  PlatformRestrictedError,
  PlatformScopeError,
} from '../../src/errors.js';
import { figshare, figshareTarget } from '../../src/platforms/figshare.js';
import type { LandingPage } from '../../src/platforms/types.js';
import type { CapturedResponse } from '../../src/capture/web-capture.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { figshareJson, site, testBody } from '../support/sites/figshare.js';

const json = { 'Content-Type': 'application/json' };
const SMITHSONIAN = 'figshare_article_10042703_smithsonian_v5.json';
const DATASET = 'waterbutler_account_project_article_8263811_dataset_public.json';
const FIGURE = 'waterbutler_account_project_article_8263730_figure_public.json';
const SMITHSONIAN_HTML =
  'https://smithsonian.figshare.com/articles/dataset/Bay_of_Panama_Water_Quality_Monitoring_Project_Site_1_of_7/10042703';

/** A recorded article with some fields changed (see test/fixtures/figshare/README.md). */
function mutated(
  name: string,
  change: (article: Record<string, unknown> & { files: Array<Record<string, unknown>> }) => void,
): string {
  const article = JSON.parse(figshareJson(name)) as Record<string, unknown> & { files: Array<Record<string, unknown>> };
  change(article);
  return JSON.stringify(article);
}

let server: FixtureServer;
let ctx: ReturnType<typeof platformContext>;

beforeAll(async () => {
  server = await FixtureServer.start({
    // The public article endpoint as recorded; the versions endpoint serves the same article body.
    '/v2/articles/10042703': { body: figshareJson(SMITHSONIAN), headers: json },
    '/v2/articles/10042703/versions/5': { body: figshareJson(SMITHSONIAN), headers: json },
    '/v2/articles/10042703/versions/4': { body: figshareJson(SMITHSONIAN), headers: json },
    // Account-endpoint responses served at the public endpoint path.
    '/v2/articles/8263811/versions/3': { body: figshareJson(DATASET), headers: json },
    '/v2/articles/8263730': { body: figshareJson(FIGURE), headers: json },
    '/v2/articles/8269766': {
      body: figshareJson('waterbutler_account_project_article_8269766_dataset_private.json'),
      headers: json,
    },
    '/v2/articles/8305859': {
      body: figshareJson('waterbutler_account_project_article_8305859_figure_private.json'),
      headers: json,
    },
    '/v2/articles/6455465': {
      body: figshareJson('figshare_account_article_6455465_draft_2018-07-16.json'),
      headers: json,
    },
    '/v2/articles/1': {
      body: mutated(SMITHSONIAN, (a) => {
        a.id = 1;
        a.is_embargoed = true;
        a.embargo_date = '2030-01-01T00:00:00Z';
        a.embargo_reason = 'awaiting publication';
      }),
      headers: json,
    },
    '/v2/articles/2': {
      body: mutated(DATASET, (a) => {
        a.id = 2;
        a.files[1]!.is_link_only = true;
        a.files[2]!.computed_md5 = '';
      }),
      headers: json,
    },
    '/v2/articles/3': { body: mutated(DATASET, (a) => ((a.id = 3), (a.download_disabled = true))), headers: json },
    '/v2/articles/4': { body: mutated(SMITHSONIAN, (a) => ((a.id = 4), (a.version = '5'))), headers: json },
    '/v2/articles/404': {
      status: 404,
      body: '{"message": "written by the test: no recorded figshare 404 body"}',
      headers: json,
    },
    '/v2/articles/500': { status: 500, body: 'oops' },
  });
  ctx = platformContext(
    testConfig(server.origin, {}, [
      'https://api.figshare.com',
      'https://figshare.com',
      'https://ndownloader.figshare.com',
      'https://doi.org',
    ]),
  );
});

afterAll(async () => {
  await ctx.http.close();
  await server.close();
});

const process = (url: string, landing: LandingPage | null = null) =>
  figshare.processRequest({ base_url: url, url }, landing, ctx);
const reached = (requestUrl: string, terminalUrl: string): LandingPage => ({
  url: requestUrl,
  hops: [requestUrl, terminalUrl],
  capture: { url: terminalUrl } as CapturedResponse,
});

describe('figshare URL forms', () => {
  it.each([
    ['https://figshare.com/articles/dataset/Dataset/8263811', { domain: 'figshare.com', id: '8263811' }],
    [
      'https://figshare.com/articles/dataset/Dataset/8263811/3',
      { domain: 'figshare.com', id: '8263811', version: '3' },
    ],
    ['https://figshare.com/articles/figure/Figure/8263730/2/', { domain: 'figshare.com', id: '8263730', version: '2' }],
    [
      'https://www.figshare.com/articles/journal_contribution/x/8263730?file=15451592',
      { domain: 'figshare.com', id: '8263730' },
    ],
    ['https://figshare.com/articles/dataset/2019/8263811', { domain: 'figshare.com', id: '8263811' }],
    ['https://figshare.com/articles/Dataset01_txt/8263811', { domain: 'figshare.com', id: '8263811' }],
    ['https://figshare.com/articles/Dataset01_txt/8263811/3', { domain: 'figshare.com', id: '8263811', version: '3' }],
    ['https://figshare.com/articles/_/6455465', { domain: 'figshare.com', id: '6455465' }],
    ['https://figshare.com/articles/8263811', { domain: 'figshare.com', id: '8263811' }],
    [SMITHSONIAN_HTML, { domain: 'smithsonian.figshare.com', id: '10042703' }],
    [`${SMITHSONIAN_HTML}/5`, { domain: 'smithsonian.figshare.com', id: '10042703', version: '5' }],
    ['http://SMITHSONIAN.figshare.com/articles/10042703', { domain: 'smithsonian.figshare.com', id: '10042703' }],
    ['https://api.figshare.com/v2/articles/10042703', { domain: 'figshare.com', id: '10042703' }],
    [
      'https://api.figshare.com/v2/articles/10042703/versions/5',
      { domain: 'figshare.com', id: '10042703', version: '5' },
    ],
    ['https://doi.org/10.6084/m9.figshare.8263811', { domain: 'figshare.com', id: '8263811', fromDoi: true }],
    [
      'https://doi.org/10.6084/M9.FIGSHARE.8263811.V3',
      { domain: 'figshare.com', id: '8263811', version: '3', fromDoi: true },
    ],
    [
      'https://dx.doi.org/10.6084%2Fm9.figshare.8263730.v2',
      { domain: 'figshare.com', id: '8263730', version: '2', fromDoi: true },
    ],
  ])('%s', (url, target) => {
    expect(figshareTarget(url)).toEqual(target);
    expect(figshare.matchRequest({ base_url: url, url }, null)).toBe(true);
  });

  it.each([
    ['https://figshare.com/account/articles/8269766', 'account (private, login-only) page'],
    ['https://smithsonian.figshare.com/account/home', 'account (private, login-only) page'],
    ['https://figshare.com/s/865e2c0fd7e8d0e2c4b6', 'private share link'],
    ['https://figshare.com/collections/Bay_of_Panama/4567', 'collection of articles'],
    ['https://figshare.com/projects/Chen/64916', 'project of articles'],
  ])('%s is claimed but out of scope (%s)', (url, what) => {
    expect(figshareTarget(url)).toEqual({
      domain: url.includes('smithsonian') ? 'smithsonian.figshare.com' : 'figshare.com',
      outOfScope: what,
    });
    expect(figshare.matchRequest({ base_url: url, url }, null)).toBe(true);
  });

  it.each(site.rejects)('does not claim %s from the URL alone', (url) => {
    expect(figshare.matchRequest({ base_url: url, url }, null)).toBe(false);
  });

  it.each(site.claims)('the shared site claim %s is claimed', (url) => {
    expect(figshare.matchRequest({ base_url: url, url }, null)).toBe(true);
  });
});

describe('figshare articles', () => {
  it('reads the smithsonian portal article (versionless: the latest, version 5)', async () => {
    const item = await process(SMITHSONIAN_HTML);
    expect(item).toEqual({
      platformName: 'figshare',
      platformDomain: 'smithsonian.figshare.com',
      platformId: '10042703',
      manifest: [
        {
          path: 'BayofPanama_Site1.zip',
          size: 19891019,
          md5: '36fbce3d5c4ddd63c91a69801b6d15d2',
          mimetype: 'application/zip',
          platform_url: 'https://ndownloader.figshare.com/files/44937931',
          extra: { figshare_file_id: 44937931 },
        },
      ],
      archiveorgItemName: 'smithsonian.figshare.com-10042703-v5',
      archiveorgItemMeta: {
        title: 'Bay of Panama Water Quality Monitoring Project, Site 1 of 7',
        creator: ['Steven Paton'],
        doi: '10.25573/data.10042703.v5',
        date: '2024-03-08T14:44:22Z',
        license: 'CC BY 4.0',
        version: 5,
        source: SMITHSONIAN_HTML,
      },
      platformBaseUrl: SMITHSONIAN_HTML,
      platformBundleUrl: 'https://ndownloader.figshare.com/articles/10042703/versions/5',
    });
    expect(server.requests).toContain('/v2/articles/10042703');
  });

  it('matches an institutional DOI by the portal page it resolved to, and asks for that version', async () => {
    const doi = 'https://doi.org/10.25573/data.10042703.v5';
    const landing = reached(doi, `${SMITHSONIAN_HTML}/5`);
    expect(figshare.matchRequest({ base_url: doi, url: doi }, null)).toBe(false);
    expect(figshare.matchRequest({ base_url: doi, url: doi }, landing)).toBe(true);
    const before = server.requests.length;
    const item = await process(doi, landing);
    expect(server.requests.slice(before)).toEqual(['/v2/articles/10042703/versions/5']);
    expect([item.platformDomain, item.platformId, item.archiveorgItemName]).toEqual([
      'smithsonian.figshare.com',
      '10042703',
      'smithsonian.figshare.com-10042703-v5',
    ]);
  });

  it('takes the portal host from the page a figshare DOI resolved to', async () => {
    const doi = 'https://doi.org/10.6084/m9.figshare.10042703.v5';
    const item = await process(doi, reached(doi, SMITHSONIAN_HTML));
    expect([item.platformDomain, item.archiveorgItemName]).toEqual([
      'smithsonian.figshare.com',
      'smithsonian.figshare.com-10042703-v5',
    ]);
  });

  it('reads a dataset article at its version (8263811 v3, account response)', async () => {
    const item = await process('https://doi.org/10.6084/m9.figshare.8263811.v3');
    expect(item.manifest).toEqual(
      [
        ['Dataset02.txt', 'a9b178098c990ebd37833eb3a555bbef', 15460985],
        ['Dataset01.txt', '63af72b6287856019456d183842a543c', 15460988],
        ['Dataset04.txt', 'd4ffc4d71ddb2027f1f44c5305d5a006', 15525491],
        ['Dataset03.txt', 'b0abfd2a4d171b38de3e63d3036d9e8c', 15525488],
      ].map(([path, md5, id]) => ({
        path,
        size: 20,
        md5,
        platform_url: `https://ndownloader.figshare.com/files/${id}`,
        extra: { figshare_file_id: id },
      })),
    );
    expect(item).toMatchObject({
      platformDomain: 'figshare.com',
      platformId: '8263811',
      archiveorgItemName: 'figshare.com-8263811-v3',
      platformBaseUrl: 'https://figshare.com/articles/Dataset01_txt/8263811',
      platformBundleUrl: 'https://ndownloader.figshare.com/articles/8263811/versions/3',
    });
    expect(item.archiveorgItemMeta).toEqual({
      title: 'Dataset',
      creator: ['Longze Chen'],
      doi: '10.6084/m9.figshare.8263811',
      date: '2019-06-18T14:45:32Z',
      license: 'CC BY 4.0',
      version: 3,
      source: 'https://figshare.com/articles/Dataset01_txt/8263811',
    });
  });

  it('resolves a versionless figure URL to the latest version for item name and bundle (8263730)', async () => {
    const before = server.requests.length;
    const item = await process('https://figshare.com/articles/figure/Figure/8263730');
    expect(server.requests.slice(before)).toEqual(['/v2/articles/8263730']);
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.platform_url])).toEqual([
      ['Figure01.png', 89281, 'cae3869aa4b144a3aa5cffe979359836', 'https://ndownloader.figshare.com/files/15451592'],
      ['Figure02.png', 106291, '507b58e2f7dfb23811441e6f2d64e0d6', 'https://ndownloader.figshare.com/files/15461024'],
      ['Figure03.png', 40995, '5697bb03e20c3a841e7331ee51362c8d', 'https://ndownloader.figshare.com/files/15461030'],
      ['Figure04.png', 101435, '154d71b2cd8a657caadd18641918ce4f', 'https://ndownloader.figshare.com/files/15461033'],
    ]);
    expect([item.archiveorgItemName, item.platformBundleUrl]).toEqual([
      'figshare.com-8263730-v3',
      'https://ndownloader.figshare.com/articles/8263730/versions/3',
    ]);
  });

  it('marks a link-only file restricted and falls back to supplied_md5 when computed_md5 is empty', async () => {
    const item = await process('https://figshare.com/articles/2');
    expect(item.manifest.map((f) => [f.path, f.md5, f.restricted, f.extra])).toEqual([
      ['Dataset02.txt', 'a9b178098c990ebd37833eb3a555bbef', undefined, { figshare_file_id: 15460985 }],
      ['Dataset01.txt', '63af72b6287856019456d183842a543c', true, { figshare_file_id: 15460988, link_only: true }],
      ['Dataset04.txt', 'd4ffc4d71ddb2027f1f44c5305d5a006', undefined, { figshare_file_id: 15525491 }],
      ['Dataset03.txt', 'b0abfd2a4d171b38de3e63d3036d9e8c', undefined, { figshare_file_id: 15525488 }],
    ]);
  });

  it('marks every file restricted when the article disables downloads', async () => {
    const item = await process('https://figshare.com/articles/3');
    expect(item.manifest.map((f) => [f.restricted, f.extra?.download_disabled])).toEqual(Array(4).fill([true, true]));
  });
});

describe('figshare refusals and errors', () => {
  it.each([
    ['https://figshare.com/articles/_/8269766', 'Figshare article 8269766 is not public (status "draft")'],
    ['https://figshare.com/articles/_/8305859', 'Figshare article 8305859 is not public (status "draft")'],
    ['https://figshare.com/articles/_/6455465', 'Figshare article 6455465 is not public (status "draft")'],
  ])('refuses the draft %s as platform-restricted', async (url, message) => {
    const error = await process(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect((error as Error).message).toBe(message);
  });

  it('refuses an embargoed article as platform-restricted, naming the embargo', async () => {
    const error = await process('https://figshare.com/articles/1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect((error as Error).message).toBe(
      'Figshare article 1 is embargoed (embargo_type "file", until 2030-01-01T00:00:00Z, reason "awaiting publication")',
    );
  });

  it.each(['https://figshare.com/account/articles/8269766', 'https://figshare.com/collections/x/4567'])(
    'refuses %s as platform-scope without asking the API',
    async (url) => {
      const before = server.requests.length;
      await expect(process(url)).rejects.toThrow(PlatformScopeError);
      await expect(process(url)).rejects.toThrow(`${url} is a figshare`);
      expect(server.requests.length).toBe(before);
    },
  );

  it('refuses an API answer for another version than the one asked for', async () => {
    const error = await process(`${SMITHSONIAN_HTML}/4`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toBe(
      'Figshare article 10042703/versions/4: the API described article 10042703 version 5 instead',
    );
  });

  it('maps 404 to platform-404 and other errors to platform-http-error', async () => {
    await expect(process('https://figshare.com/articles/dataset/x/404')).rejects.toThrow(PlatformNotFoundError);
    await expect(process('https://figshare.com/articles/dataset/x/404')).rejects.toThrow(
      'Figshare article 404 not found (HTTP 404',
    );
    await expect(process('https://figshare.com/articles/dataset/x/500')).rejects.toThrow(PlatformHttpError);
  });

  it('names the field when the JSON changed shape', async () => {
    const error = await process('https://figshare.com/articles/4').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toContain('"version"');
  });
});

describe('figshare site (shared suites)', () => {
  it('serves a dataset whose file bodies match the manifest', async () => {
    const local = await FixtureServer.start();
    const localCtx = platformContext(testConfig(local.origin, {}, site.origins));
    try {
      const served = site.serveDataset(local);
      const item = await figshare.processRequest({ base_url: served.url, url: served.url }, null, localCtx);
      expect([item.platformId, item.archiveorgItemName, item.manifest.map((f) => f.path)]).toEqual([
        served.platformId,
        served.itemName,
        served.paths,
      ]);
      for (const file of item.manifest) {
        const body = testBody(file.path);
        expect([body.length, createHash('md5').update(body).digest('hex')]).toEqual([file.size, file.md5]);
        const response = await fetch(`${local.origin}${new URL(file.platform_url!).pathname}`);
        expect(Buffer.from(await response.arrayBuffer())).toEqual(body);
      }
    } finally {
      await localCtx.http.close();
      await local.close();
    }
  });

  it('serves a 404 and a changed shape that the helper reports', async () => {
    const local = await FixtureServer.start();
    const localCtx = platformContext(testConfig(local.origin, {}, site.origins));
    try {
      const missing = site.serveNotFound(local);
      await expect(figshare.processRequest({ base_url: missing, url: missing }, null, localCtx)).rejects.toThrow(
        PlatformNotFoundError,
      );
      const changed = site.serveChangedShape(local);
      const error = await figshare
        .processRequest({ base_url: changed.url, url: changed.url }, null, localCtx)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PlatformError);
      expect((error as Error).message).toContain(`"${changed.field}"`);
    } finally {
      await localCtx.http.close();
      await local.close();
    }
  });
});
