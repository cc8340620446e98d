// archiveorg-fileset-bundled against a local server: the platform's zip fetched once into the
// working directory, verified entry by entry, and stored in the fs item store with its interior
// manifest; a rerun answers from the item alone.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PlatformItem } from '../../src/platforms/types.js';
import { type ItemStore } from '../../src/stores/items/types.js';
import { archiveorgFilesetBundled } from '../../src/strategies/archiveorg-fileset-bundled.js';
import { FixtureServer } from '../support/fixture-server.js';
import { workPaths } from '../../src/strategies/work-dir.js';
import {
  filesUnder,
  itemHarness,
  overrideStore,
  servedFile,
  sizeReached,
  zenodoItem,
  type ItemHarness,
} from '../support/archiveorg-items.js';
import { FIXTURES } from '../support/zenodo-site.js';
import { ItemUploadError } from '../../src/errors.js';

const BUNDLES = join(FIXTURES, 'bundles');
const BUNDLE_URL = 'https://zenodo.org/api/records/7078760/files-archive';
const ITEM = 'zenodo.org-7078760';
const zip = (name: string) => readFileSync(join(BUNDLES, name));

let server: FixtureServer;
let h: ItemHarness;
let item: PlatformItem;

async function setup(bundle: Buffer, wrap?: (store: ItemStore) => ItemStore) {
  h = await itemHarness(server.origin, wrap ? { wrap } : {});
  ({ item } = await zenodoItem(server, h.config));
  item = { ...item, platformBundleUrl: BUNDLE_URL };
  const served = servedFile(bundle, { contentType: 'application/zip' });
  server.route('/api/records/7078760/files-archive', served);
  return served;
}

beforeEach(async () => {
  server = await FixtureServer.start();
});

afterEach(async () => {
  await h.dispose();
  await server.close();
});

describe('archiveorg-fileset-bundled', () => {
  it('stores the zip and its interior manifest in the item; a rerun answers from the item without fetching', async () => {
    const bytes = zip('zenodo-7078760.zip');
    const served = await setup(bytes);
    const result = await archiveorgFilesetBundled.process(item, h.ctx);
    expect(result.status).toBe('success');
    expect(result.manifest.map((e) => [e.path, e.status, e.sha256])).toEqual([
      ['data2.csv', 'success', 'c58f34fe7961113baf24fb45f4b9fcfff9ceae6274373fd9d3c84be540075406'],
      ['data.csv', 'success', '08b4645fd105c74fbb752c4cf6a1a995452178953bb874697830002474f9538f'],
      ['datapackage.json', 'success', 'f0cd0a7417e1b18b00d7d786ef2c4d8d941a7211209636b9a9fd84d3a7183f56'],
    ]);
    const sha1 = createHash('sha1').update(bytes).digest('hex');
    expect(result.filesetBundle).toMatchObject({
      file_meta: { size_bytes: bytes.length, sha1hex: sha1 },
      // relative to the item, never a local path (archive.org serves it at /download/<item>/<path>)
      archiveorg_bundle_path: `_bundle/${ITEM}.zip`,
    });
    const listed = await h.items.listFiles(ITEM);
    expect(listed.map((f) => [f.path, f.size])).toEqual([
      [`_bundle/${ITEM}.zip`, bytes.length],
      [`_bundle/${ITEM}.zip.manifest.json`, expect.any(Number)],
    ]);
    expect(listed[0]!.sha1).toBe(sha1);
    expect(await filesUnder(h.workDir)).toEqual([]);
    expect(served.ranges).toHaveLength(1);

    const again = await archiveorgFilesetBundled.checkExisting(item, h.ctx);
    expect(again?.status).toBe('success-existing');
    expect(again?.manifest.map((e) => e.status)).toEqual(['exists', 'exists', 'exists']);
    expect(again?.filesetBundle?.file_meta?.sha1hex).toBe(sha1);
    expect(served.ranges).toHaveLength(1);
  });

  it('a zip whose entry differs gives mismatch-md5 and stores nothing', async () => {
    await setup(zip('zenodo-7078760-altered.zip'));
    const result = await archiveorgFilesetBundled.process(item, h.ctx);
    expect(result.status).toBe('mismatch-md5');
    expect(result.manifest.find((e) => e.path === 'data.csv')?.status).toBe('mismatch-md5');
    expect(await h.items.listFiles(ITEM)).toEqual([]);
    expect(await filesUnder(h.workDir)).toEqual([]);
    expect(await archiveorgFilesetBundled.checkExisting(item, h.ctx)).toBeNull();
  });

  it.each([
    ['slip-parent.zip', 'unsafe-path'],
    ['bomb-ratio.zip', 'bundle-zip-bomb'],
    ['encrypted.zip', 'bundle-encrypted'],
    ['crc-mismatch.zip', 'bundle-corrupt'],
  ])('%s gives %s, with every file not processed and nothing stored', async (name, status) => {
    await setup(zip(name));
    const result = await archiveorgFilesetBundled.process(item, h.ctx);
    expect(result.status).toBe(status);
    expect(result.manifest.map((e) => e.status)).toEqual(['not-processed', 'not-processed', 'not-processed']);
    expect(await h.items.listFiles(ITEM)).toEqual([]);
    expect(await filesUnder(h.workDir)).toEqual([]);
  });

  it('a truncated download is resumed with Range', async () => {
    const bytes = zip('zenodo-7078760.zip');
    h = await itemHarness(server.origin);
    ({ item } = await zenodoItem(server, h.config));
    item = { ...item, platformBundleUrl: BUNDLE_URL };
    // The server cuts the connection once the first 500 bytes are on our disk, as a real drop would find them.
    const part = workPaths(h.workDir, ITEM, `_bundle/${ITEM}.zip`).part;
    const served = servedFile(bytes, {
      dropAfter: 500,
      beforeDrop: () => sizeReached(part, 500),
      contentType: 'application/zip',
    });
    server.route('/api/records/7078760/files-archive', served);
    const result = await archiveorgFilesetBundled.process(item, h.ctx);
    expect(result.status).toBe('success');
    expect(served.ranges[0]).toBeUndefined();
    expect(served.ranges.slice(1)).toEqual(['bytes=500-']);
  });

  it('a store that refuses the upload gives error-archiveorg-upload', async () => {
    await setup(zip('zenodo-7078760.zip'), (store) =>
      overrideStore(store, {
        putFile: () => Promise.reject(new ItemUploadError('403 AccessDenied')),
      }),
    );
    const result = await archiveorgFilesetBundled.process(item, h.ctx);
    expect(result.status).toBe('error-archiveorg-upload');
    expect(result.errorMessage).toContain('403 AccessDenied');
    expect(await filesUnder(h.workDir)).toEqual([]);
  });

  it('a 404 bundle is error-platform-download', async () => {
    h = await itemHarness(server.origin);
    ({ item } = await zenodoItem(server, h.config));
    item = { ...item, platformBundleUrl: 'https://zenodo.org/api/records/7078760/no-such-archive' };
    const result = await archiveorgFilesetBundled.process(item, h.ctx);
    expect(result.status).toBe('error-platform-download');
    expect(result.errorMessage).toMatch(/404/);
  });
});
