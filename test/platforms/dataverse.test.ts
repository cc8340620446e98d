import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  PlatformError,
  PlatformHttpError,
  PlatformNotFoundError,
  PlatformRestrictedError,
  PlatformScopeError,
} from '../../src/errors.js';
import { dataverse, dataverseTarget, fileHashes } from '../../src/platforms/dataverse.js';
import type { LandingPage } from '../../src/platforms/types.js';
import type { CapturedResponse } from '../../src/capture/web-capture.js';
import { platformContext, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import {
  INFO_VERSION,
  datasetPath,
  dataverseJson,
  json,
  nativeFromExport,
  serveCars,
  site,
  versionFromDataset,
  versionPath,
} from '../support/sites/dataverse.js';

const HOLVXA = 'harvard_dataset_doi_10.7910_DVN_HOLVXA_2021-07-08.json';
const Q5PV4U = 'harvard_dataset_doi_10.7910_DVN_Q5PV4U_2022-02-09.json';
const TJCLKP = 'harvard_dataset_doi_10.7910_DVN_TJCLKP_2022-03-04.json';
const TJCLKP_2019 = 'harvard_dataset_doi_10.7910_DVN_TJCLKP_2019-09-25.json';
const HUMBOLDT = 'humboldt_biocultural_export_dataverse_json_doi_10.21068_CTQ20N.json';
const HARVARD = 'https://dataverse.harvard.edu';
const ORIGINS = [HARVARD, 'https://doi.org', 'https://dataverse.example.org', 'https://biocultural.humboldt.org.co'];

/** A digest of the text "<name>": a well-formed stand-in where the file's bytes are not available. */
const digest = (algorithm: string, name: string) => createHash(algorithm).update(name).digest('hex');
type Files = Array<{ restricted?: boolean; dataFile: Record<string, unknown> }>;

/** The Humboldt export's version with its one open file restricted too, as the per-version endpoint serves it. */
function allRestricted(): string {
  const native = nativeFromExport(HUMBOLDT, (v) =>
    (v.files as Files).forEach((f) => {
      f.restricted = true;
    }),
  );
  return JSON.stringify({
    status: 'OK',
    data: (JSON.parse(native) as { data: { latestVersion: unknown } }).data.latestVersion,
  });
}

let server: FixtureServer;
let notDataverse: FixtureServer;
let probe: { status: number; body: string; type: string };
let ctx: ReturnType<typeof platformContext>;
let otherCtx: ReturnType<typeof platformContext>;

beforeAll(async () => {
  server = await FixtureServer.start({
    [datasetPath('doi:10.7910/DVN/HOLVXA')]: { body: dataverseJson(HOLVXA), headers: json },
    [datasetPath('doi:10.7910/DVN/Q5PV4U')]: { body: dataverseJson(Q5PV4U), headers: json },
    [versionPath('doi:10.7910/DVN/Q5PV4U', '1.1')]: { body: versionFromDataset(Q5PV4U), headers: json },
    [datasetPath('doi:10.7910/DVN/TJCLKP')]: { body: dataverseJson(TJCLKP), headers: json },
    [versionPath('doi:10.7910/DVN/TJCLKP', '3.0')]: { body: versionFromDataset(TJCLKP_2019), headers: json },
    // HOLVXA 4.1 with each file's checksum rewritten to another algorithm (see the fixtures README).
    [versionPath('doi:10.7910/DVN/HOLVXA', '4.1')]: {
      body: versionFromDataset(HOLVXA, (v) => {
        const [a, b, c] = (v.files as Files).map((f) => f.dataFile);
        a!.checksum = { type: 'SHA-1', value: digest('sha1', 'requirements.txt') };
        b!.checksum = { type: 'SHA-256', value: digest('sha256', 'rnr-report-wordcloud.ipynb').toUpperCase() };
        c!.checksum = { type: 'SHA-512', value: digest('sha512', 'rnr.txt') };
        delete c!.md5;
      }),
      headers: json,
    },
    [versionPath('doi:10.7910/DVN/HOLVXA', '5.0')]: {
      body: versionFromDataset(HOLVXA, (v) => {
        v.versionState = 'DRAFT';
      }),
      headers: json,
    },
    [versionPath('doi:10.7910/DVN/HOLVXA', '2.0')]: {
      body: versionFromDataset(HOLVXA, (v) => {
        v.versionState = 'DEACCESSIONED';
      }),
      headers: json,
    },
    [datasetPath('doi:10.21068/CTQ20N')]: { body: nativeFromExport(HUMBOLDT), headers: json },
    [versionPath('doi:10.21068/CTQ20N', '1.0')]: { body: allRestricted(), headers: json },
    '/api/search?q=filePersistentId:3VSTKY': {
      body: dataverseJson('harvard_search_filePersistentId_3VSTKY_2019-09-25.json'),
      headers: json,
    },
    '/api/search?q=filePersistentId:WNKD3W': {
      body: dataverseJson('harvard_search_filePersistentId_WNKD3W_2022-02-11.json'),
      headers: json,
    },
    [datasetPath('doi:10.7910/DVN/ZZZZZZ')]: {
      status: 404,
      body: '{"status":"ERROR","message":"Dataset with Persistent ID doi:10.7910/DVN/ZZZZZZ not found."}',
      headers: json,
    },
  });
  serveCars(server);
  probe = { status: 200, body: INFO_VERSION, type: 'application/json' };
  notDataverse = await FixtureServer.start({
    '/api/info/version': {
      handler: (_req, res) => res.writeHead(probe.status, { 'Content-Type': probe.type }).end(probe.body),
    },
  });
  ctx = platformContext(testConfig(server.origin, {}, ORIGINS));
  otherCtx = platformContext(testConfig(notDataverse.origin, {}, ['https://repository.example.net']));
});

afterAll(async () => {
  await Promise.all([ctx.http.close(), otherCtx.http.close()]);
  await Promise.all([server.close(), notDataverse.close()]);
});

beforeEach(() => {
  server.requests.length = 0;
});

const process = (url: string, landing: LandingPage | null = null, context = ctx) =>
  dataverse.processRequest({ base_url: url, url }, landing, context);
const landingAt = (url: string, extra: Partial<LandingPage> = {}): LandingPage => ({ url, hops: [], ...extra });
const resolvedTo = (url: string, terminal: string) =>
  landingAt(url, { capture: { url: terminal, statusCode: 200 } as CapturedResponse });

describe('dataverse URL forms', () => {
  it.each([
    [
      'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/TJCLKP',
      HARVARD,
      'doi:10.7910/DVN/TJCLKP',
      undefined,
    ],
    [
      'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/Q5PV4U&version=1.1',
      HARVARD,
      'doi:10.7910/DVN/Q5PV4U',
      '1.1',
    ],
    [
      'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi%3A10.7910%2FDVN%2FHOLVXA&version=DRAFT',
      HARVARD,
      'doi:10.7910/DVN/HOLVXA',
      'DRAFT',
    ],
    [
      'https://borealisdata.ca/citation?persistentId=doi:10.5683/SP3/JJ2YZZ',
      'https://borealisdata.ca',
      'doi:10.5683/SP3/JJ2YZZ',
      undefined,
    ],
    [
      'https://data.example.edu/api/datasets/:persistentId/?persistentId=hdl:1902.1/12345',
      'https://data.example.edu',
      'hdl:1902.1/12345',
      undefined,
    ],
    [
      'https://data.example.edu:8443/api/datasets/:persistentId?persistentId=doi:10.1234/X&version=4.1',
      'https://data.example.edu:8443',
      'doi:10.1234/X',
      '4.1',
    ],
    ['https://doi.org/10.7910/DVN/HOLVXA', HARVARD, 'doi:10.7910/DVN/HOLVXA', undefined],
    ['https://dx.doi.org/10.34894/CMJXAK', 'https://dataverse.nl', 'doi:10.34894/CMJXAK', undefined],
    ['https://doi.org/10.18710/FKXFKO', 'https://dataverse.no', 'doi:10.18710/FKXFKO', undefined],
    ['https://doi.org/10.57745/MZSH2Y', 'https://entrepot.recherche.data.gouv.fr', 'doi:10.57745/MZSH2Y', undefined],
    ['https://doi.org/10.5064%2FF6JWVCH6', 'https://data.qdr.syr.edu', 'doi:10.5064/F6JWVCH6', undefined],
  ])('%s names %s %s version %s', (url, origin, pid, version) => {
    expect(dataverseTarget(url)).toEqual({
      origin,
      host: new URL(origin).hostname,
      pid,
      ...(version ? { version } : {}),
    });
    expect(dataverse.matchRequest({ base_url: url, url }, null)).toBe(true);
  });

  it.each([
    [
      'https://dataverse.harvard.edu/file.xhtml?persistentId=doi:10.7910/DVN/TJCLKP/3VSTKY&version=3.0',
      'doi:10.7910/DVN/TJCLKP/3VSTKY',
    ],
    [
      'https://dataverse.harvard.edu/api/access/datafile/:persistentId?persistentId=doi:10.7910/DVN/TJCLKP/3VSTKY',
      'doi:10.7910/DVN/TJCLKP/3VSTKY',
    ],
    ['https://dataverse.harvard.edu/file.xhtml?fileId=3371438', undefined],
  ])('%s names a file', (url, pid) => {
    expect(dataverseTarget(url)).toEqual({
      origin: HARVARD,
      host: 'dataverse.harvard.edu',
      ...(pid ? { pid } : {}),
      file: true,
    });
  });

  it.each(
    site.rejects.concat([
      'https://doi.org/10.1234/unknown.prefix',
      'https://dataverse.harvard.edu/dataset.xhtml?persistentId=12345',
    ]),
  )('does not claim %s', (url) => expect(dataverse.matchRequest({ base_url: url, url }, null)).toBe(false));
});

describe('dataverse landing pages', () => {
  const url = 'https://doi.org/10.5072/FK2/CY7BWA';

  it('follows a DOI of an unknown installation to where it resolved, and probes the host', async () => {
    const landing = resolvedTo(url, 'https://dataverse.example.org/dataset.xhtml?persistentId=doi:10.5072/FK2/CY7BWA');
    expect(dataverse.matchRequest({ base_url: url, url }, landing)).toBe(true);
    const item = await process(url, landing);
    expect([item.platformDomain, item.platformId, item.archiveorgItemName]).toEqual([
      'dataverse.example.org',
      'doi:10.5072/FK2/CY7BWA',
      'dataverse.example.org-CY7BWA-v1.0',
    ]);
    expect(server.requests).toEqual(['/api/info/version', datasetPath('doi:10.5072/FK2/CY7BWA')]);
  });

  it('recognises a page whose signposting points at the dataset export API', async () => {
    const link =
      '<https://dataverse.example.org/api/datasets/export?exporter=schema.org&persistentId=doi:10.5072/FK2/CY7BWA>; rel="describedby"; type="application/ld+json"';
    const landing = landingAt('https://dataverse.example.org/landing/cars', {
      headers: [['Link', link]],
      html: '<html></html>',
    });
    expect(dataverse.matchRequest({ base_url: landing.url, url: landing.url }, landing)).toBe(true);
    const item = await process(landing.url, landing);
    expect(item.platformId).toBe('doi:10.5072/FK2/CY7BWA');
  });

  it('recognises a page whose generator is Dataverse (DOI from citation_doi)', () => {
    const html =
      '<html><head><meta name="generator" content="Dataverse 6.2"><meta name="citation_doi" content="10.1234/ABC"></head></html>';
    const landing = landingAt('https://data.example.edu/landing', { html });
    expect(dataverse.matchRequest({ base_url: landing.url, url: landing.url }, landing)).toBe(true);
  });

  it('ignores pages without signals and pages that could not be fetched', () => {
    const plain = landingAt('https://data.example.edu/landing', {
      html: '<html><head><meta name="generator" content="WordPress"></head></html>',
    });
    expect(dataverse.matchRequest({ base_url: plain.url, url: plain.url }, plain)).toBe(false);
    const failed = {
      ...resolvedTo(url, 'https://dataverse.example.org/dataset.xhtml?persistentId=doi:10.5072/FK2/CY7BWA'),
      error: new Error('403'),
    };
    expect(dataverse.matchRequest({ base_url: url, url }, failed)).toBe(false);
  });
});

describe('dataverse datasets', () => {
  it('reads the latest version of HOLVXA (4.1) from a DOI of a known installation, without probing', async () => {
    const item = await process('https://doi.org/10.7910/DVN/HOLVXA');
    expect(item).toMatchObject({
      platformName: 'dataverse',
      platformDomain: 'dataverse.harvard.edu',
      platformId: 'doi:10.7910/DVN/HOLVXA',
      archiveorgItemName: 'dataverse.harvard.edu-HOLVXA-v4.1',
      platformBaseUrl: 'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=4.1',
      platformBundleUrl:
        'https://dataverse.harvard.edu/api/access/dataset/:persistentId/versions/4.1?persistentId=doi:10.7910/DVN/HOLVXA&format=original',
    });
    expect(item.manifest).toEqual([
      {
        path: 'requirements.txt',
        size: 204,
        md5: '22cb07702f4554112612e6eebbe78419',
        mimetype: 'text/plain',
        platform_url: `${HARVARD}/api/access/datafile/4194425?gbrecs=true`,
        extra: { dataverse_file_id: 4194425 },
      },
      {
        path: 'rnr-report-wordcloud.ipynb',
        size: 539870,
        md5: '80e32c68bcf9c8e0dc39a637e4451b12',
        mimetype: 'application/x-ipynb+json',
        platform_url: `${HARVARD}/api/access/datafile/4195827?gbrecs=true`,
        extra: { dataverse_file_id: 4195827 },
      },
      {
        path: 'rnr.txt',
        size: 11226,
        md5: '9fdbcae9c9aec3b7d3e93a61e44f6930',
        mimetype: 'text/plain',
        platform_url: `${HARVARD}/api/access/datafile/4195828?gbrecs=true`,
        extra: { dataverse_file_id: 4195828 },
      },
    ]);
    expect(item.archiveorgItemMeta).toEqual({
      title: 'Word cloud of Reproducibility and Replicability in Science',
      creator: ['Trisovic, Ana'],
      date: '2020-11-26',
      license: 'CC0',
      licenseurl: undefined,
      version: '4.1',
      doi: '10.7910/DVN/HOLVXA',
      publisher: 'Harvard Dataverse',
      source: 'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=4.1',
    });
    expect(server.requests).toEqual([datasetPath('doi:10.7910/DVN/HOLVXA')]);
  });

  it('reads all of Q5PV4U with directoryLabel folders in the paths', async () => {
    const item = await process('https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/Q5PV4U');
    expect(item.archiveorgItemName).toBe('dataverse.harvard.edu-Q5PV4U-v1.1');
    expect(
      item.manifest.map((f) => [
        f.path,
        f.size,
        f.md5,
        f.mimetype,
        f.platform_url,
        f.extra!.dataverse_file_id,
        f.extra!.dataverse_file_pid,
      ]),
    ).toEqual([
      [
        '00_SloughFariss_AJPS_README.txt',
        3969,
        '1d7bf3fbdbb3652e9e26ce01c4c97707',
        'text/plain',
        `${HARVARD}/api/access/datafile/3724634?gbrecs=true`,
        3724634,
        'doi:10.7910/DVN/Q5PV4U/5G6EWI',
      ],
      [
        '01_Codebook.pdf',
        87397,
        'f25e810d60cd31a83009ca31ef416975',
        'application/pdf',
        `${HARVARD}/api/access/datafile/3725043?gbrecs=true`,
        3725043,
        'doi:10.7910/DVN/Q5PV4U/IQSUTA',
      ],
      [
        '02_Data_Cleaning.R',
        6930,
        '363e1a5f8a811fb28f7e0071050a5862',
        'type/x-r-syntax',
        `${HARVARD}/api/access/datafile/3657613?gbrecs=true`,
        3657613,
        'doi:10.7910/DVN/Q5PV4U/BVPRZW',
      ],
      [
        '03_Analysis_Code.R',
        57133,
        'd22e2975d3a39b5bf5b3b737119ac3c0',
        'type/x-r-syntax',
        `${HARVARD}/api/access/datafile/3657617?gbrecs=true`,
        3657617,
        'doi:10.7910/DVN/Q5PV4U/NXAQNH',
      ],
      [
        '04_Theory_Graphs.R',
        5329,
        '4fb6f8750d9f5903a56a89df982fb9bc',
        'type/x-r-syntax',
        `${HARVARD}/api/access/datafile/3657616?gbrecs=true`,
        3657616,
        'doi:10.7910/DVN/Q5PV4U/MRWBAX',
      ],
      [
        '05_cleaned_data.Rdata',
        102255,
        'd94d464637ef3e57f8bccd026d48a878',
        'application/gzip',
        `${HARVARD}/api/access/datafile/3657615?gbrecs=true`,
        3657615,
        'doi:10.7910/DVN/Q5PV4U/WIQVAC',
      ],
      [
        'Outputs/Outputs.zip',
        1583729,
        '17d95bd64b072c0ada552f085352ab83',
        'application/zip',
        `${HARVARD}/api/access/datafile/3724635?gbrecs=true`,
        3724635,
        'doi:10.7910/DVN/Q5PV4U/QM3EJE',
      ],
      [
        'Source Data/Source Data.zip',
        4479770,
        'e063f960799f111e67d9e0a21b9af462',
        'application/zip',
        `${HARVARD}/api/access/datafile/3657619?gbrecs=true`,
        3657619,
        'doi:10.7910/DVN/Q5PV4U/OMAOMF',
      ],
    ]);
    expect(item.manifest[6]!.extra!.description).toBe('Unzip this folder for the outputs of tables and figures.');
    expect(item.archiveorgItemMeta).toMatchObject({
      creator: ['Slough, Tara', 'Fariss, Christopher'],
      date: '2021-12-06',
      license: 'NONE',
      version: '1.1',
    });
  });

  it('reads TJCLKP (111 files): the ingested tabular file is fetched, sized and named as its original upload', async () => {
    const item = await process('https://dataverse.harvard.edu/citation?persistentId=doi:10.7910/DVN/TJCLKP');
    expect(item.archiveorgItemName).toBe('dataverse.harvard.edu-TJCLKP-v3.0');
    expect(item.manifest).toHaveLength(111);
    expect(item.manifest.reduce((sum, f) => sum + f.size!, 0)).toBe(760273);
    expect(item.manifest[0]).toEqual({
      path: '2019-02-25.tsv',
      size: 16651,
      md5: '9bd94d028049c9a53bca9bb19d4fb57e',
      mimetype: 'text/tsv',
      platform_url: `${HARVARD}/api/access/datafile/3371438?format=original&gbrecs=true`,
      extra: {
        dataverse_file_id: 3371438,
        dataverse_file_pid: 'doi:10.7910/DVN/TJCLKP/3VSTKY',
        tabular: { label: '2019-02-25.tab', size: 17232, mimetype: 'text/tab-separated-values' },
      },
    });
    expect(item.manifest.slice(1, 3).map((f) => [f.path, f.size, f.md5, f.platform_url])).toEqual([
      [
        'berkmancenter-amber_apache.json',
        6435,
        '28d3c41038b177fc827bfc51ef5a3afe',
        `${HARVARD}/api/access/datafile/3371487?gbrecs=true`,
      ],
      [
        'berkmancenter-amber_common.json',
        6467,
        '1e52971d19b78f09ddebd2d5d09eafb7',
        `${HARVARD}/api/access/datafile/3371445?gbrecs=true`,
      ],
    ]);
    expect(item.manifest.at(-1)).toMatchObject({
      path: 'refinery-platform-refinery-platform.json',
      size: 7286,
      md5: '89121c7da6b00bf9942fc46fd4511e61',
    });
    expect(item.archiveorgItemMeta).toMatchObject({
      title: 'Open Source at Harvard',
      creator: ['Durbin, Philip'],
      date: '2019-02-26',
    });
  });

  it('names the original of a tabular file from its format when the server (2019) gives no originalFileName', async () => {
    const item = await process(
      'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/TJCLKP&version=3.0',
    );
    expect(item.manifest[0]).toMatchObject({ path: '2019-02-25.tsv', size: 16651, mimetype: 'text/tsv' });
    expect(item.platformId).toBe('doi:10.7910/DVN/TJCLKP');
  });
});

describe('dataverse versions', () => {
  it('asks for the requested minor version (1.1) and never for the latest', async () => {
    const item = await process(
      'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/Q5PV4U&version=1.1',
    );
    expect(server.requests).toEqual([versionPath('doi:10.7910/DVN/Q5PV4U', '1.1')]);
    expect(item.archiveorgItemName).toBe('dataverse.harvard.edu-Q5PV4U-v1.1');
    expect(item.platformBundleUrl).toBe(
      `${HARVARD}/api/access/dataset/:persistentId/versions/1.1?persistentId=doi:10.7910/DVN/Q5PV4U&format=original`,
    );
    expect(item.manifest.map((f) => f.path)).toContain('Source Data/Source Data.zip');
  });

  it.each(['DRAFT', ':draft'])('refuses version=%s as platform-scope without asking the API', async (version) => {
    const error = await process(
      `${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=${version}`,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformScopeError);
    expect((error as Error).message).toMatch(/draft versions are not published/);
    expect(server.requests).toEqual([]);
  });

  it('refuses a draft the API answers with (platform-scope) and a deaccessioned version (platform-404)', async () => {
    await expect(process(`${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=5.0`)).rejects.toThrow(
      PlatformScopeError,
    );
    await expect(process(`${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=2.0`)).rejects.toThrow(
      /version is DEACCESSIONED/,
    );
    await expect(process(`${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=2.0`)).rejects.toThrow(
      PlatformNotFoundError,
    );
  });

  it('refuses an unrecognised version string', async () => {
    await expect(
      process(`${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=latest-ish`),
    ).rejects.toThrow(/unrecognised Dataverse dataset version "latest-ish"/);
  });
});

describe('dataverse hashes', () => {
  it('takes SHA-1, SHA-256 and SHA-512 checksums (SHA-512 into extra) and the legacy md5', async () => {
    const item = await process(`${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/HOLVXA&version=4.1`);
    expect(item.manifest.map((f) => [f.path, f.md5, f.sha1, f.sha256, f.extra!.sha512])).toEqual([
      [
        'requirements.txt',
        '22cb07702f4554112612e6eebbe78419',
        digest('sha1', 'requirements.txt'),
        undefined,
        undefined,
      ],
      [
        'rnr-report-wordcloud.ipynb',
        '80e32c68bcf9c8e0dc39a637e4451b12',
        undefined,
        digest('sha256', 'rnr-report-wordcloud.ipynb'),
        undefined,
      ],
      ['rnr.txt', undefined, undefined, undefined, digest('sha512', 'rnr.txt')],
    ]);
  });

  it.each([
    [
      { type: 'MD5', value: 'ABCDEF0123456789ABCDEF0123456789' },
      undefined,
      { md5: 'abcdef0123456789abcdef0123456789' },
    ],
    [undefined, '22cb07702f4554112612e6eebbe78419', { md5: '22cb07702f4554112612e6eebbe78419' }],
    [{ type: 'SHA-1', value: 'not-hex' }, undefined, {}],
    [{ type: 'SHA-256', value: digest('sha1', 'x') }, undefined, {}],
    [
      { type: 'CRC32', value: '1234abcd' },
      '22cb07702f4554112612e6eebbe78419',
      { md5: '22cb07702f4554112612e6eebbe78419' },
    ],
  ])('checksum %j with md5 %s gives %j', (checksum, md5, expected) => {
    expect(fileHashes({ id: 1, filesize: 1, ...(checksum ? { checksum } : {}), ...(md5 ? { md5 } : {}) })).toEqual(
      expected,
    );
  });
});

describe('dataverse restricted files and unknown hosts', () => {
  it('marks the restricted file of a dataset on an unknown host (confirmed by /api/info/version)', async () => {
    const item = await process('https://biocultural.humboldt.org.co/dataset.xhtml?persistentId=doi:10.21068/CTQ20N');
    expect(server.requests[0]).toBe('/api/info/version');
    expect(item.archiveorgItemName).toBe('biocultural.humboldt.org.co-CTQ20N-v1.0');
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.restricted])).toEqual([
      [
        'Plantilla de Actores Estratégicos ZAP1 Anonimizado.xlsx',
        380309,
        '591b7136bc1e65546212685e86c16d6d',
        undefined,
      ],
      ['Plantilla de Actores Estratégicos ZAP1.xlsx', 393573, '0f9d102b50b9e911171a62d4f434680c', true],
    ]);
    expect(item.manifest[1]!.platform_url).toBe(
      'https://biocultural.humboldt.org.co/api/access/datafile/571?gbrecs=true',
    );
  });

  it('describes a restricted ingested file as its original, and reads a license object', async () => {
    const item = await process('https://dataverse.example.org/dataset.xhtml?persistentId=doi:10.5072/FK2/CY7BWA');
    expect(item.manifest.map((f) => [f.path, f.size, f.md5, f.mimetype, f.restricted, f.platform_url])).toEqual([
      [
        'code/compute.py',
        15,
        'd84985e94dde671f318076bd7a137f15',
        'text/x-python',
        undefined,
        'https://dataverse.example.org/api/access/datafile/7?gbrecs=true',
      ],
      [
        'doc/README.md',
        28,
        'a2e484d07ee5590cc32182dc2c6ccc83',
        'text/markdown',
        undefined,
        'https://dataverse.example.org/api/access/datafile/8?gbrecs=true',
      ],
      [
        'data/stata13-auto.dta',
        6443,
        '7b1201ce6b469796837a835377338c5a',
        'application/x-stata-13',
        true,
        'https://dataverse.example.org/api/access/datafile/9?format=original&gbrecs=true',
      ],
    ]);
    expect(item.archiveorgItemMeta).toMatchObject({
      title: 'Cars',
      license: 'CC0 1.0',
      licenseurl: 'http://creativecommons.org/publicdomain/zero/1.0',
      doi: '10.5072/FK2/CY7BWA',
      date: '2025-05-16',
    });
  });

  it('refuses a dataset whose files are all restricted as platform-restricted', async () => {
    const error = await process(
      'https://biocultural.humboldt.org.co/dataset.xhtml?persistentId=doi:10.21068/CTQ20N&version=1.0',
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformRestrictedError);
    expect((error as Error).message).toBe('all 2 files of Dataverse doi:10.21068/CTQ20N v1.0 are restricted');
  });

  it.each([
    [404, '<html>Not Found</html>', 'text/html', 'HTTP 404'],
    [200, '<html>Welcome</html>', 'text/html', 'HTTP 200'],
    [200, '{"status":"OK","data":{}}', 'application/json', 'HTTP 200'],
  ])('refuses a host whose /api/info/version answers %i %s as platform-scope', async (status, body, type, said) => {
    probe = { status, body, type };
    const error = await process(
      'https://repository.example.net/dataset.xhtml?persistentId=doi:10.1234/ABC',
      null,
      otherCtx,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformScopeError);
    expect((error as Error).message).toBe(
      `repository.example.net is not a Dataverse installation (/api/info/version: ${said}, no Dataverse version)`,
    );
  });

  it('reports a failing probe as platform-http-error, not as "not a Dataverse"', async () => {
    probe = { status: 503, body: 'down', type: 'text/plain' };
    await expect(
      process('https://repository.example.net/dataset.xhtml?persistentId=doi:10.1234/ABC', null, otherCtx),
    ).rejects.toThrow(PlatformHttpError);
  });
});

describe('dataverse file PIDs, 404 and changed shapes', () => {
  it('refuses a file page as platform-scope, naming the parent dataset found by the search API', async () => {
    const error = await process(`${HARVARD}/file.xhtml?persistentId=doi:10.7910/DVN/TJCLKP/3VSTKY&version=3.0`).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PlatformScopeError);
    expect((error as Error).message).toBe(
      'Dataverse doi:10.7910/DVN/TJCLKP/3VSTKY is a file, not a dataset; request its dataset doi:10.7910/DVN/TJCLKP',
    );
    expect(server.requests).toEqual(['/api/search?q=filePersistentId:3VSTKY']);
  });

  it('refuses a file DOI that resolved to file.xhtml', async () => {
    const url = 'https://doi.org/10.7910/DVN/RLMYMR/WNKD3W';
    const landing = resolvedTo(url, `${HARVARD}/file.xhtml?persistentId=doi:10.7910/DVN/RLMYMR/WNKD3W`);
    await expect(process(url, landing)).rejects.toThrow(
      'Dataverse doi:10.7910/DVN/RLMYMR/WNKD3W is a file, not a dataset; request its dataset doi:10.7910/DVN/RLMYMR',
    );
  });

  it('refuses a file DOI given without a landing page once the dataset API does not know it', async () => {
    await expect(process('https://doi.org/10.7910/DVN/TJCLKP/3VSTKY')).rejects.toThrow(
      /is a file, not a dataset; request its dataset doi:10.7910\/DVN\/TJCLKP$/,
    );
    expect(server.requests).toEqual([
      datasetPath('doi:10.7910/DVN/TJCLKP/3VSTKY'),
      '/api/search?q=filePersistentId:3VSTKY',
    ]);
  });

  it('refuses a file id URL as platform-scope', async () => {
    await expect(process(`${HARVARD}/file.xhtml?fileId=3371438`)).rejects.toThrow(
      `Dataverse ${HARVARD}/file.xhtml?fileId=3371438 is a file, not a dataset`,
    );
  });

  it('maps a dataset the API does not know to platform-404', async () => {
    const error = await process(`${HARVARD}/dataset.xhtml?persistentId=doi:10.7910/DVN/ZZZZZZ`).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PlatformNotFoundError);
    expect((error as Error).message).toMatch(/^Dataverse dataset doi:10.7910\/DVN\/ZZZZZZ not found \(HTTP 404/);
  });
});

describe('the dataverse site of the shared platform suites', () => {
  let siteServer: FixtureServer;
  let siteCtx: ReturnType<typeof platformContext>;

  beforeAll(async () => {
    siteServer = await FixtureServer.start();
    siteCtx = platformContext(testConfig(siteServer.origin, {}, site.origins.concat('https://doi.org')));
  });

  afterAll(async () => {
    await siteCtx.http.close();
    await siteServer.close();
  });

  it('serves a dataset the helper reads as the site says', async () => {
    const served = site.serveDataset(siteServer);
    const item = await process(served.url, null, siteCtx);
    expect([item.platformId, item.archiveorgItemName, item.manifest.map((f) => f.path)]).toEqual([
      served.platformId,
      served.itemName,
      served.paths,
    ]);
    expect(item.manifest.map((f) => f.restricted ?? false)).toEqual([false, false, true]);
  });

  it('serves a 404 and a changed shape', async () => {
    await expect(process(site.serveNotFound(siteServer), null, siteCtx)).rejects.toThrow(PlatformNotFoundError);
    const { url, field } = site.serveChangedShape(siteServer);
    const error = await process(url, null, siteCtx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as Error).message).toContain(`"${field}"`);
  });

  it.each(site.claims)('claims %s', (url) => expect(dataverse.matchRequest({ base_url: url, url }, null)).toBe(true));
});
