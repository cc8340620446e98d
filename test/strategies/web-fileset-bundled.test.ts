import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { zenodo } from '../../src/platforms/zenodo.js';
import type { PlatformItem } from '../../src/platforms/types.js';
import type { StrategyContext } from '../../src/strategies/types.js';
import { webFilesetBundled } from '../../src/strategies/web-fileset-bundled.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { FIXTURES, serveZenodoRecord } from '../support/zenodo-site.js';

const BUNDLES = join(FIXTURES, 'bundles');
// Zenodo's "download all" link (links.archive of current records); the recorded 2022 record has none.
const BUNDLE_URL = 'https://zenodo.org/api/records/7078760/files-archive';
const ARCHIVE_PATH = '/records/7078760/files-archive.zip';
const FILES = 'https://zenodo.org/api/files/bc520c46-ee9e-4245-8c57-2a7203062e14';

// The recorded record's files (path, size, md5 from the record JSON) with sha1 and sha256 computed
// with sha1sum/sha256sum from test/fixtures/zenodo-files/7078760/.
const DATA2 = {
  path: 'data2.csv',
  size: 60,
  md5: 'cb4a683d8eecb72c9ac9beea91fd592e',
  sha1: 'f543844c3a25ad36bbebdf1d05716008ad8ae093',
  sha256: 'c58f34fe7961113baf24fb45f4b9fcfff9ceae6274373fd9d3c84be540075406',
  platform_url: `${FILES}/data2.csv`,
  extra: { type: 'csv' },
};
const DATA = {
  path: 'data.csv',
  size: 114,
  md5: 'c028f525f314c49ea48ed09e82292ed2',
  sha1: '18a54c31b92182185ab5d745e50617a732df4267',
  sha256: '08b4645fd105c74fbb752c4cf6a1a995452178953bb874697830002474f9538f',
  platform_url: `${FILES}/data.csv`,
  extra: { type: 'csv' },
};
const DATAPACKAGE = {
  path: 'datapackage.json',
  size: 1594,
  md5: '127f3943c9a2fa7fe892c7159b6fbded',
  sha1: '11cd6c6e9c3d3a0e0595d96f430b3d5cd423b118',
  sha256: 'f0cd0a7417e1b18b00d7d786ef2c4d8d941a7211209636b9a9fd84d3a7183f56',
  platform_url: `${FILES}/datapackage.json`,
  extra: { type: 'json' },
};
const ok = (file: typeof DATA) => ({ ...file, mimetype: 'application/octet-stream', status: 'success' });
const platformOnly = ({ sha1: _sha1, sha256: _sha256, ...file }: typeof DATA) => file;
const notProcessed = [DATA2, DATA, DATAPACKAGE].map((f) => ({ ...platformOnly(f), status: 'not-processed' }));

let server: FixtureServer;
let rt: TestRuntime;
let item: PlatformItem;
let ctx: StrategyContext;

/** Runs the strategy; the spooled zip is gone afterwards, whatever happened. */
async function runBundled(target: PlatformItem = item) {
  const result = await webFilesetBundled.process(target, ctx);
  expect(await readdir(rt.deps.tmpDir)).toEqual([]);
  return result;
}

/** Serves a bundle fixture at the bundle URL, through one redirect as a files host would. */
function serveBundle(fixture: string | null, status = 200) {
  server.route('/api/records/7078760/files-archive', {
    status: 302,
    headers: { Location: `https://zenodo.org${ARCHIVE_PATH}` },
  });
  server.route(
    ARCHIVE_PATH,
    fixture
      ? { status, file: join(BUNDLES, fixture), headers: { 'Content-Type': 'application/zip' } }
      : { status, body: 'gone' },
  );
}

beforeEach(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json');
  rt = await testRuntime(server.origin);
  const { deps } = rt;
  const platformRequest = { base_url: 'https://zenodo.org/records/7078760', url: 'https://zenodo.org/records/7078760' };
  item = await zenodo.processRequest(platformRequest, null, {
    config: deps.config,
    logger: deps.logger,
    http: deps.http,
    budget: 'zenodo',
  });
  item = { ...item, platformBundleUrl: BUNDLE_URL };
  // As src/pipeline/ingest.ts builds it.
  ctx = {
    config: deps.config,
    logger: deps.logger,
    http: deps.http,
    capture: { writer: deps.writer, index: deps.index, tmpDir: deps.tmpDir, now: deps.now },
    index: deps.index,
    items: deps.items,
    workDir: deps.workDir,
    workBudget: deps.workBudget,
    now: deps.now,
    request: { base_url: platformRequest.base_url },
  };
});

afterEach(async () => {
  await rt.dispose();
  await server.close();
});

describe('web-fileset-bundled', () => {
  it('archives Zenodo 7078760 from one zip: verified manifest, fileset_bundle, valid WARC', async () => {
    serveBundle('zenodo-7078760.zip');
    const result = await runBundled();
    expect(result.status).toBe('success');
    expect(result.errorMessage).toBeUndefined();
    expect(result.manifest).toEqual([ok(DATA2), ok(DATA), ok(DATAPACKAGE)]);

    const bundle = result.filesetBundle!;
    const zipSha1 = '5d738343c9abf2a3a21457a484d6e94afaede890';
    expect(bundle.file_meta).toEqual({
      size_bytes: 719,
      md5hex: '4f49afe2eeef6a83805ae6d253594731',
      sha1hex: zipSha1,
      sha256hex: '72e20a50d42f7a7ebb677376b7c40d21e87a9cf424ee33cb6856fabf379198a9',
      mimetype: 'application/zip',
    });
    expect(bundle.terminal).toMatchObject({
      terminal_url: `https://zenodo.org${ARCHIVE_PATH}`,
      terminal_status_code: 200,
      terminal_sha1hex: zipSha1,
    });
    expect(bundle.cdx).toMatchObject({
      url: `https://zenodo.org${ARCHIVE_PATH}`,
      status_code: 200,
      mimetype: 'application/zip',
      sha1hex: zipSha1,
    });
    expect(bundle.revisit_cdx).toBeNull();
    expect(bundle.archiveorg_bundle_path).toBeNull();
    // Fetched once, redirect hop included; no file fetched on its own.
    expect(server.requests.filter((p) => p !== '/api/records/7078760')).toEqual([
      '/api/records/7078760/files-archive',
      ARCHIVE_PATH,
    ]);
    expect((await rt.deps.index.latestByUrl(`https://zenodo.org${ARCHIVE_PATH}`))?.sha1hex).toBe(zipSha1);
    expect(await rt.deps.index.latestByUrl(BUNDLE_URL, { anyStatus: true })).toMatchObject({ statusCode: 302 });
    expect(await rt.closeAndValidate()).toHaveLength(1);
  });

  it('finds no earlier copy in its bundle capture, and a second fetch of the same zip is a revisit', async () => {
    serveBundle('zenodo-7078760.zip');
    expect(await webFilesetBundled.checkExisting(item, ctx)).toBeNull();
    const first = await runBundled();
    expect(await webFilesetBundled.checkExisting(item, ctx)).toBeNull();
    const second = await runBundled();
    expect(second.status).toBe('success');
    expect(second.filesetBundle!.revisit_cdx).toEqual(first.filesetBundle!.cdx);
    expect(second.filesetBundle!.cdx!.mimetype).toBe('warc/revisit');
    await rt.closeAndValidate();
  });

  it('reports an entry whose bytes differ from the record as mismatch-md5', async () => {
    serveBundle('zenodo-7078760-altered.zip');
    const result = await runBundled();
    expect(result.status).toBe('mismatch-md5');
    expect(result.errorMessage).toBe(`data.csv: md5 is 6e687ac5274f6fa5f5b28ff1d3e3f25a, platform says ${DATA.md5}`);
    expect(result.manifest).toEqual([ok(DATA2), { ...platformOnly(DATA), status: 'mismatch-md5' }, ok(DATAPACKAGE)]);
    expect(result.filesetBundle!.file_meta!.sha1hex).toBe('81d3c0f53db2a5ce1abf6323f5793b8c4a9825b4');
    await rt.closeAndValidate();
  });

  it('reports a file missing from the zip as error-platform-download', async () => {
    serveBundle('zenodo-7078760-missing.zip');
    const result = await runBundled();
    expect(result.status).toBe('error-platform-download');
    expect(result.errorMessage).toBe("data2.csv: not in the platform's bundle");
    expect(result.manifest).toEqual([
      { ...platformOnly(DATA2), status: 'error-platform-download' },
      ok(DATA),
      ok(DATAPACKAGE),
    ]);
    await rt.closeAndValidate();
  });

  it('reports a 404 bundle as error-platform-download, its capture kept', async () => {
    serveBundle(null, 404);
    const result = await runBundled();
    expect(result).toMatchObject({
      status: 'error-platform-download',
      errorMessage: `the bundle: HTTP 404 from https://zenodo.org${ARCHIVE_PATH}`,
      manifest: notProcessed,
    });
    expect(result.filesetBundle!.terminal!.terminal_status_code).toBe(404);
    await rt.closeAndValidate();
  });

  it('reports a zip-slip bundle as unsafe-path', async () => {
    serveBundle('slip-parent.zip');
    const result = await runBundled();
    expect(result).toMatchObject({
      status: 'unsafe-path',
      errorMessage: 'the bundle: unsafe entry name (invalid relative path: ../evil.txt)',
      manifest: notProcessed,
    });
    expect(result.filesetBundle!.file_meta!.sha1hex).toBe('2ad64609542718ecaafed32e5b64dce2b0232dfd');
    await rt.closeAndValidate();
  });

  it('reports a zip bomb as bundle-zip-bomb', async () => {
    serveBundle('bomb-ratio.zip');
    const result = await runBundled();
    expect(result.status).toBe('bundle-zip-bomb');
    expect(result.manifest).toEqual(notProcessed);
    await rt.closeAndValidate();
  });

  it('cuts off a server that sends more than the files can explain', async () => {
    // 2 × 1768 declared bytes + 3 × 4 KiB + 1 MiB = 1064400 bytes at most.
    server.route('/api/records/7078760/files-archive', {
      handler: (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/zip' });
        const chunk = Buffer.alloc(64 * 1024);
        for (let i = 0; i < 32; i++) res.write(chunk);
        res.end();
      },
    });
    const result = await runBundled();
    expect(result).toMatchObject({
      status: 'error-platform-download',
      errorMessage: `the bundle ${BUNDLE_URL} is larger than the 1064400 bytes its files can explain`,
      manifest: notProcessed,
    });
    expect(result.filesetBundle).toBeUndefined();
    await rt.closeAndValidate();
  });

  it('says so when the platform gave no bundle URL', async () => {
    const result = await runBundled({ ...item, platformBundleUrl: null });
    expect(result).toEqual({
      status: 'error-platform-download',
      manifest: notProcessed,
      errorMessage: 'the platform gave no bundle URL',
    });
  });
});
