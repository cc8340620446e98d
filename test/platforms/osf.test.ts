import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PlatformError,
  PlatformHttpError,
  PlatformNotFoundError,
  PlatformRestrictedError,
  PlatformScopeError,
} from '../../src/errors.js';
import { listOsfStorage, osf, osfTarget } from '../../src/platforms/osf.js';
import type { LandingPage } from '../../src/platforms/types.js';
import type { CapturedResponse } from '../../src/capture/web-capture.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer, type Route } from '../support/fixture-server.js';
import {
  EMPTY_LISTING,
  FILE_69967C90,
  MANY_FILES_PAGE1,
  MANY_FILES_PAGE1_STANDIN,
  MANY_FILES_PAGE2,
  mutate,
  NODE_Y8T6R,
  osfFileBytes,
  osfFixture,
  PAGE2_URL,
  PAGE3_URL,
  PATHS,
  ROOT_Y8T6R,
  ROOT_Y8T6R_STANDIN,
  site,
  standInBytes,
} from '../support/sites/osf.js';

const json = { 'Content-Type': 'application/vnd.api+json; charset=utf-8' };
const ORIGINS = [...site.origins, 'https://osf.io', 'https://api.osf.io', 'https://doi.org'];
const open: Array<{ server: FixtureServer; ctx: ReturnType<typeof platformContext> }> = [];

/** A fixture server standing in for every OSF origin, closed after the test. */
async function serve(routes: Record<string, Route> = {}, env: Record<string, string> = {}) {
  const server = await FixtureServer.start(routes);
  const ctx = platformContext(testConfig(server.origin, env, ORIGINS));
  open.push({ server, ctx });
  return { server, ctx };
}

afterEach(async () => {
  for (const { server, ctx } of open.splice(0)) {
    await ctx.http.close();
    await server.close();
  }
});

const route = (body: string, status = 200): Route => ({ status, body, headers: json });
const request = (url: string) => ({ base_url: url, url });
const run = (ctx: ReturnType<typeof platformContext>, url: string, landing: LandingPage | null = null) =>
  osf.processRequest(request(url), landing, ctx);
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (e: unknown) => e as Error,
  );

/** The recorded y8t6r tree, every listing verbatim except page 2's `links.next` (page 3 was never recorded). */
function recordedTree(
  page2 = mutate(osfFixture(MANY_FILES_PAGE2), `"next":"${PAGE3_URL}"`, '"next":null'),
): Record<string, Route> {
  return {
    [PATHS.node]: route(osfFixture(NODE_Y8T6R)),
    [PATHS.root]: route(osfFixture(ROOT_Y8T6R)),
    [PATHS.manyFiles]: route(osfFixture(MANY_FILES_PAGE1)),
    [PATHS.manyFilesPage2]: route(page2),
    [PATHS.nestedDir]: route(osfFixture(EMPTY_LISTING)),
  };
}

const DL = 'https://test.osf.io/download/';
/** [path, size, md5, sha256, download URL, OSF file id] as the recorded listings give them. */
const RECORDED_MANIFEST = [
  [
    'many-files/text-file-02.txt',
    1800,
    '10de77f80b5a03defbeac880c6f06b40',
    'c43ae879b050122b1b4c65e3b95ff6c7d6f80f2c198af2bee6da6351e5116290',
    '5d4ef2744e90e100146f7e5d',
  ],
  [
    'many-files/text-file-03.txt',
    1803,
    'bbbe9aa07dcd0e06a138263318bd95da',
    '14455eec92912a50a9dcf152c82255d9dab15901a6785a7a26eb0ef3da58b18f',
    '5d4ef27b4fb5130014d67416',
  ],
  [
    'many-files/text-file-04.txt',
    1797,
    'cbf153d89b690d365102bcf8643b0ef1',
    'f61f1d674b0eabbd4d4a7b49e97ec53a1a11febc1de9873ce35285b256ef3e6a',
    '5d4ef2804e90e100146f7e62',
  ],
  [
    'many-files/text-file-05.txt',
    1803,
    '5563808e436443daab2cda30490ae8d6',
    'a3c6150e4c8184f860e0891713d05621212961d52fc45fc4b2805b22494e626d',
    '5d4ef2864e90e100146f7e69',
  ],
  [
    'many-files/text-file-06.txt',
    1799,
    'b2cc57aa82a81d3ec69d3c9a0bac7894',
    '20674a19fc1339f4eadd3972cc9c31255b888020b102ea7940c81db4194cd319',
    '5d4ef28c4fb5130014d67423',
  ],
  [
    'many-files/text-file-07.txt',
    1793,
    '37bbaa5f355373e47f518d87ad3aeb39',
    '7164de82520856692f13a45f79b0a4e83b2d8f8b9380d5ac96ed75c41deb4e19',
    '5d4ef2924e90e100146f7e74',
  ],
  [
    'many-files/text-file-08.txt',
    1798,
    '1cc58df2171c91cce5bcfd15e91e3dd3',
    '4be7b2e24e23f0afc9e509db18a717ae6b0f4eeb2239f8017af52f76e717cde4',
    '5d4ef2984e90e100146f7e7a',
  ],
  [
    'many-files/text-file-09.txt',
    1805,
    'c28f831f8f648cef859c30ac2141e14b',
    '466592c28d55c9ffcaa0ef42b20e0cb5033cd75518adb1ce9d0bdb33557a00d9',
    '5d4ef29c4e90e100146f7e80',
  ],
  [
    'many-files/text-file-10.txt',
    1804,
    '99371234eca2d1d852763d67b82876a6',
    'b3371f4a86282d1e49bc41b1d455ba408ba40ccc3b325d957eaf989cb639bbc3',
    '5d4ef2a24e90e100146f7e87',
  ],
  [
    'many-files/text-file-01.txt',
    1803,
    '6201d75a13fffa186621245ddd6936f3',
    'e861a0c9fe81e081e028008214f1f1b228dbfbc82fd683fbe4977b04cdf484b3',
    '5d4ef26f4e90e100146f7e55',
  ],
  [
    'many-files/text-file-11.txt',
    1802,
    '0429e80056c046f8487645a96002873d',
    '53c474bda3e908a6d8e7adc4058b3671fbdca548c0c38fe2cf6162b831e56d4f',
    '5d4ef2a74e90e100146f7e8e',
  ],
  [
    'many-files/text-file-12.txt',
    1798,
    '57e226f238bbbf15c74aec1526882f1b',
    '80155970b850b928aaf0132032f23af5001e0be65bcc160024c0b9dcb9825dba',
    '5d4ef2ad4e90e100146f7e95',
  ],
  [
    'many-files/text-file-13.txt',
    1798,
    '18dc3d3bc9dce26bcdbb269f59471410',
    'bdcd251c5df7144776bd74fae79367e24c11dae03478aaef779625cc5645184e',
    '5d4ef2b24fb5130014d67437',
  ],
  [
    'many-files/text-file-14.txt',
    1788,
    'adaaf8b861f821bde128fe5b694a91b8',
    '9d866d614050f73062e0d6ea2be7879cec651eb4aa21c6c66fdb515a27ef77b9',
    '5d4ef2b74e90e100146f7e9e',
  ],
  [
    'many-files/text-file-15.txt',
    1797,
    '32bc8238f8d028969cb0f865dd2665eb',
    '3bfc3f9aeef0bf7341673adb15f16c11ad81cd905a7ecf210bd6b766feba058e',
    '5d4ef2bd4e90e100146f7ea4',
  ],
  [
    'many-files/text-file-16.txt',
    1802,
    '677eaad82b89138fbd3c17150e744bfb',
    'e1370fd94e5a4d8ee0b536454f30575fc5b6aa8bdb654e2c14de64b7c0f7b6ac',
    '5d4ef2c14fb5130014d67445',
  ],
  [
    'many-files/text-file-17.txt',
    1799,
    '667ab7e3c0908a27a0038da0519fe0fd',
    'e14d0366a415a8eb40d58073ea10bd02236e58502820e1b7bbd6e550c680a5b4',
    '5d4ef2c64fb5130014d6744b',
  ],
  [
    'many-files/text-file-18.txt',
    1797,
    '0e99e25c5cb4386cd257bb39d24a5c13',
    '5bd36b09585148058f39fbefeae2894a934bb55f399d606babcc8f322823f392',
    '5d4ef2cc4e90e100146f7eac',
  ],
  [
    'many-files/text-file-19.txt',
    1811,
    '958179e180450e412754c769cff4bed7',
    'f66b768fa5787a67ecc9d2a3da9d5a4fbd4a0b320950edda4fcfa5cfffa18c98',
    '5d4ef2d24e90e100146f7eb3',
  ],
  [
    'many-files/text-file-20.txt',
    1797,
    'f3f1b8262301c38edb7a5fdbb798b99b',
    '829bc93ac935d4245f71b1b71666fa0e6246c2d00597542626bf1ff403151a0f',
    '5d4ef2d84e90e100146f7eb9',
  ],
  [
    'image-file-01.pdf',
    7709,
    'b2b8554427811f3d67cd91e1b4e6631b',
    '09de58bd85494bf792e8838b1f77afd11ca43b4746362c8128fcbcdeea80cc49',
    '5d4ef38e4e90e100146f7f41',
  ],
] as const;

describe('osf URL forms', () => {
  it.each([
    ['https://osf.io/y8t6r/', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://osf.io/y8t6r', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://www.osf.io/y8t6r/?view=1', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://osf.io/y8t6r/files/osfstorage', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://osf.io/y8t6r/files/', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://osf.io/y8t6r/wiki/home/', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://osf.io/project/y8t6r/', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://test.osf.io/y8t6r/', 'test.osf.io', 'https://api.test.osf.io', 'y8t6r'],
    ['https://api.osf.io/v2/nodes/y8t6r/', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://api.test.osf.io/v2/nodes/y8t6r/files/osfstorage/', 'test.osf.io', 'https://api.test.osf.io', 'y8t6r'],
    ['https://doi.org/10.17605/OSF.IO/Y8T6R', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://dx.doi.org/10.17605/osf.io/y8t6r', 'osf.io', 'https://api.osf.io', 'y8t6r'],
    ['https://doi.org/10.17605%2FOSF.IO%2FABC12', 'osf.io', 'https://api.osf.io', 'abc12'],
  ])('%s names %s node %s', (url, siteHost, apiOrigin, guid) => {
    expect(osfTarget(url)).toEqual({ siteHost, apiOrigin, guid });
    expect(osf.matchRequest(request(url), null)).toBe(true);
  });

  it.each(site.claims)('the site claim %s is matched', (url) =>
    expect(osf.matchRequest(request(url), null)).toBe(true),
  );

  it.each(site.rejects)('does not claim %s', (url) => {
    expect(osfTarget(url)).toBeNull();
    expect(osf.matchRequest(request(url), null)).toBe(false);
  });

  it.each([
    [
      'https://osf.io/y8t6r/files/osfstorage/5d4ef38e4e90e100146f7f41',
      'one file or folder (5d4ef38e4e90e100146f7f41) of node y8t6r',
    ],
    ['https://osf.io/y8t6r/files/github/', 'the "github" storage add-on (only osfstorage is archived)'],
  ])('claims %s but marks it out of scope', (url, outOfScope) => {
    expect(osfTarget(url)).toEqual({ siteHost: 'osf.io', apiOrigin: 'https://api.osf.io', guid: 'y8t6r', outOfScope });
  });

  it('matches through the landing page a DOI redirected to', () => {
    const capture = 'https://osf.io/y8t6r/';
    const landing: LandingPage = {
      url: 'https://example.org/x',
      hops: [capture],
      capture: { url: capture, statusCode: 200 } as CapturedResponse,
    };
    expect(osf.matchRequest(request('https://example.org/x'), landing)).toBe(true);
  });
});

describe('osf node y8t6r (recorded on test.osf.io)', () => {
  it('walks the osfstorage tree: folder prefixes, sizes, md5/sha256, download URLs, in listing order', async () => {
    const { ctx } = await serve(recordedTree());
    const item = await run(ctx, 'https://test.osf.io/y8t6r/');
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.sha256, f.platform_url, f.extra?.osf_file_id])).toEqual(
      RECORDED_MANIFEST.map(([path, size, md5, sha256, id]) => [
        path,
        size,
        md5,
        sha256,
        `${DL}${path === 'image-file-01.pdf' ? 'bexrz' : id}/`,
        id,
      ]),
    );
    expect(item.manifest.at(-1)).toEqual({
      path: 'image-file-01.pdf',
      size: 7709,
      md5: 'b2b8554427811f3d67cd91e1b4e6631b',
      sha256: '09de58bd85494bf792e8838b1f77afd11ca43b4746362c8128fcbcdeea80cc49',
      platform_url: 'https://test.osf.io/download/bexrz/',
      extra: { osf_file_id: '5d4ef38e4e90e100146f7f41', osf_guid: 'bexrz', version: 1 },
    });
  });

  it('gives the item its name, domain, base URL, WaterButler zip bundle and metadata', async () => {
    const { ctx } = await serve(recordedTree());
    const item = await run(ctx, 'https://test.osf.io/y8t6r/files/osfstorage');
    expect(item).toMatchObject({
      platformName: 'osf',
      platformDomain: 'test.osf.io',
      platformId: 'y8t6r',
      archiveorgItemName: 'test.osf.io-y8t6r',
      platformBaseUrl: 'https://test.osf.io/y8t6r/',
      platformBundleUrl: 'https://files.us.test.osf.io/v1/resources/y8t6r/providers/osfstorage/?zip=',
    });
    expect(item.archiveorgItemMeta).toEqual({
      title: 'osfr-testthat-project',
      date: '2019-08-10',
      date_modified: '2019-08-10T17:44:39.327936',
      description: "This project is for osfr's unit tests and should not be deleted.",
      category: 'project',
      license: undefined,
      node_license: undefined,
      source: 'https://test.osf.io/y8t6r/',
    });
  });

  it('asks the node, then each listing page once, depth-first (folder pages 1 and 2, then the next folder)', async () => {
    const { server, ctx } = await serve(recordedTree());
    await run(ctx, 'https://api.test.osf.io/v2/nodes/y8t6r/');
    expect(server.requests).toEqual([PATHS.node, PATHS.root, PATHS.manyFiles, PATHS.manyFilesPage2, PATHS.nestedDir]);
  });

  it('resolves an OSF DOI to the production node on osf.io', async () => {
    const { server, ctx } = await serve(recordedTree());
    const item = await run(ctx, 'https://doi.org/10.17605/OSF.IO/Y8T6R');
    expect(server.requests[0]).toBe('/v2/nodes/y8t6r/');
    expect([item.platformDomain, item.archiveorgItemName, item.platformBaseUrl]).toEqual([
      'osf.io',
      'osf.io-y8t6r',
      'https://osf.io/y8t6r/',
    ]);
    expect(item.manifest).toHaveLength(21);
  });

  it('stops listing once the manifest passes the max file count, so the pipeline limit fires', async () => {
    const { server, ctx } = await serve(recordedTree(), { FILESET_MAX_FILE_COUNT: '5' });
    const item = await run(ctx, 'https://test.osf.io/y8t6r/');
    expect(item.manifest.map((f) => f.path)).toEqual(RECORDED_MANIFEST.slice(0, 6).map(([path]) => path));
    expect(server.requests).toEqual([PATHS.node, PATHS.root, PATHS.manyFiles]);
  });
});

describe('osf listing pages', () => {
  it('refuses a links.next loop (page 2 pointing back at page 1)', async () => {
    const loop = mutate(
      osfFixture(MANY_FILES_PAGE2),
      `"next":"${PAGE3_URL}"`,
      `"next":"https://api.test.osf.io${PATHS.manyFiles}"`,
    );
    const { ctx } = await serve(recordedTree(loop));
    const error = await errorOf(run(ctx, 'https://test.osf.io/y8t6r/'));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error?.message).toBe(
      'OSF files listing: https://api.test.osf.io/v2/nodes/y8t6r/files/osfstorage/5d4ef2104e90e100146f7e53/ comes back (a links.next or folder loop)',
    );
  });

  it('caps the pages of one walk', async () => {
    const { ctx } = await serve(recordedTree());
    const error = await errorOf(
      listOsfStorage(ctx, `https://api.test.osf.io${PATHS.root}`, { stopAfter: 100, maxPages: 3 }),
    );
    expect(error).toBeInstanceOf(PlatformError);
    expect(error?.message).toBe(
      `OSF files listing: more than 3 pages (stopped before https://api.test.osf.io${PATHS.nestedDir})`,
    );
  });

  it('reports a listing page that is not there (the unrecorded page 3) as platform-http-error', async () => {
    // Routed explicitly: the fixture server would otherwise answer `?page=3` with the page-1 route.
    const { ctx } = await serve({
      ...recordedTree(osfFixture(MANY_FILES_PAGE2)),
      [`${PATHS.manyFiles}?page=3`]: route('{"errors":[{"detail":"Not found."}]}', 404),
    });
    const error = await errorOf(run(ctx, 'https://test.osf.io/y8t6r/'));
    expect(error).toBeInstanceOf(PlatformHttpError);
    expect(error?.message).toBe(`HTTP 404 from ${PAGE3_URL} for OSF files listing ${PAGE3_URL}`);
  });

  it('lists a folder page on its own: paths relative to it (materialized_path disagrees), links.next to page 3 not followed past stopAfter', async () => {
    const { server, ctx } = await serve({ [PATHS.manyFilesPage2]: route(osfFixture(MANY_FILES_PAGE2)) });
    const tree = await listOsfStorage(ctx, PAGE2_URL, { stopAfter: 9 });
    expect(tree.files.map((f) => f.path)).toEqual(
      RECORDED_MANIFEST.slice(10, 20).map(([path]) => path.replace('many-files/', '')),
    );
    expect(tree.waterbutler).toBe(
      'https://files.us.test.osf.io/v1/resources/y8t6r/providers/osfstorage/5d4ef2a74e90e100146f7e8e',
    );
    expect(server.requests).toEqual([PATHS.manyFilesPage2]);
  });
});

describe('osf statuses', () => {
  it.each([401, 403])('a private node (HTTP %i) is platform-restricted', async (status) => {
    const { ctx } = await serve({
      [PATHS.node]: route('{"errors":[{"detail":"Authentication credentials were not provided."}]}', status),
    });
    const error = await errorOf(run(ctx, 'https://test.osf.io/y8t6r/'));
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect(error?.message).toBe(
      `OSF node y8t6r is private (HTTP ${status} from https://api.test.osf.io/v2/nodes/y8t6r/)`,
    );
  });

  it('a node the API marks public: false is platform-restricted', async () => {
    const routes = recordedTree();
    routes[PATHS.node] = route(mutate(osfFixture(NODE_Y8T6R), '"public":true', '"public":false'));
    const { ctx } = await serve(routes);
    await expect(run(ctx, 'https://test.osf.io/y8t6r/')).rejects.toThrow(PlatformRestrictedError);
  });

  it('a private folder inside a public node is platform-restricted', async () => {
    const routes = recordedTree();
    routes[PATHS.manyFiles] = route(
      '{"errors":[{"detail":"You do not have permission to perform this action."}]}',
      403,
    );
    const { ctx } = await serve(routes);
    await expect(run(ctx, 'https://test.osf.io/y8t6r/')).rejects.toThrow(PlatformRestrictedError);
  });

  it('a guid neither node nor file is platform-404, after asking the files endpoint', async () => {
    const { server, ctx } = await serve();
    site.serveNotFound(server);
    const error = await errorOf(run(ctx, 'https://test.osf.io/zzzzz/'));
    expect(error).toBeInstanceOf(PlatformNotFoundError);
    expect(error?.message).toBe('OSF node zzzzz not found (HTTP 404 from https://api.test.osf.io/v2/nodes/zzzzz/)');
    expect(server.requests).toEqual(['/v2/nodes/zzzzz/', '/v2/files/zzzzz/']);
  });

  it('a deleted node (HTTP 410) is platform-404', async () => {
    const { ctx } = await serve({
      [PATHS.node]: route('{"errors":[{"detail":"The requested node is no longer available."}]}', 410),
    });
    await expect(run(ctx, 'https://test.osf.io/y8t6r/')).rejects.toThrow(/deleted \(HTTP 410/);
  });

  it("a file's guid is platform-scope, named after the file and its node", async () => {
    const { ctx } = await serve({
      '/v2/nodes/bexrz/': route('{"errors":[{"detail":"Not found."}]}', 404),
      '/v2/files/bexrz/': route(osfFixture(FILE_69967C90)),
    });
    const error = await errorOf(run(ctx, 'https://test.osf.io/bexrz/'));
    expect(error).toBeInstanceOf(PlatformScopeError);
    expect(error?.message).toBe(
      'OSF guid bexrz names a file ("osfr-local-file.txt" of node vpnmr), not a project or component',
    );
  });

  it('a URL naming one file of a node is platform-scope without asking the API', async () => {
    const { server, ctx } = await serve(recordedTree());
    const error = await errorOf(run(ctx, 'https://test.osf.io/y8t6r/files/osfstorage/5d4ef38e4e90e100146f7f41'));
    expect(error).toBeInstanceOf(PlatformScopeError);
    expect(server.requests).toEqual([]);
  });

  it.each([
    ['node', PATHS.node, NODE_Y8T6R, '"public":true', '"public":"true"', 'data.attributes.public'],
    ['root listing', PATHS.root, ROOT_Y8T6R, '"size":7709', '"size":"7709"', 'data.1.attributes.size'],
    ['root listing', PATHS.root, ROOT_Y8T6R, '"kind":"file"', '"kind":"symlink"', 'data.1.attributes.kind'],
    [
      'folder page',
      PATHS.manyFiles,
      MANY_FILES_PAGE1,
      '"download":"https://test.osf.io/download/5d4ef2744e90e100146f7e5d/",',
      '',
      'data.0.links.download',
    ],
    ['folder page', PATHS.manyFiles, MANY_FILES_PAGE1, '"size":1800', '"size":null', 'data.0.attributes.size'],
  ])('a changed %s shape is platform-error naming %s', async (_what, path, fixture, from, to, field) => {
    const routes = recordedTree();
    routes[path] = route(mutate(osfFixture(fixture), from, to));
    const { ctx } = await serve(routes);
    const error = await errorOf(run(ctx, 'https://test.osf.io/y8t6r/'));
    expect(error).toBeInstanceOf(PlatformError);
    expect(error?.message).toContain(`"${field}"`);
  });
});

describe('osf fixtures', () => {
  const digest = (algorithm: string, bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');

  it('holds the real bytes of osfr-local-file.txt: size, md5 and sha256 of the recorded file entity', () => {
    const { attributes } = (
      JSON.parse(osfFixture(FILE_69967C90)) as {
        data: { attributes: { size: number; extra: { hashes: { md5: string; sha256: string } } } };
      }
    ).data;
    const bytes = osfFileBytes('vpnmr', 'osfr-local-file.txt');
    expect([bytes.length, digest('md5', bytes), digest('sha256', bytes)]).toEqual([
      attributes.size,
      attributes.extra.hashes.md5,
      attributes.extra.hashes.sha256,
    ]);
    expect(bytes.toString('utf8')).toBe('Lorem ipsum dolor sit amet, consectetur\n');
  });

  it('serves the site dataset with stand-in bytes matching every manifest size and hash', async () => {
    const { server, ctx } = await serve();
    const served = site.serveDataset(server);
    const item = await run(ctx, served.url);
    expect(item.manifest.map((f) => f.path)).toEqual(served.paths);
    expect(served.paths).toEqual([...RECORDED_MANIFEST.slice(0, 10).map(([path]) => path), 'image-file-01.pdf']);
    expect([item.platformId, item.archiveorgItemName]).toEqual([served.platformId, served.itemName]);
    for (const file of item.manifest) {
      const bytes = standInBytes(file.path, file.size!);
      expect([file.path, digest('md5', bytes), digest('sha256', bytes)]).toEqual([file.path, file.md5, file.sha256]);
    }
  });

  it('the stand-in copies differ from the recordings only in the served files’ hashes', () => {
    for (const [recorded, standIn] of [
      [ROOT_Y8T6R, ROOT_Y8T6R_STANDIN],
      [MANY_FILES_PAGE1, MANY_FILES_PAGE1_STANDIN],
    ] as const) {
      const blank = (text: string) => text.replace(/"(md5|sha256)":"[0-9a-f]+"/g, '"$1":"#"');
      expect(blank(osfFixture(standIn))).toBe(blank(osfFixture(recorded)));
      expect(osfFixture(standIn)).not.toBe(osfFixture(recorded));
    }
  });

  it('changed shape from the site names its field', async () => {
    const { server, ctx } = await serve();
    const { url, field } = site.serveChangedShape(server);
    await expect(run(ctx, url)).rejects.toThrow(`"${field}"`);
  });
});
