// The shared item-strategy support: matching a manifest against an item, and
// download details (unknown sizes, Content-Encoding, HTTP errors, duplicate paths).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlatformFile, PlatformItem } from '../../src/platforms/types.js';
import type { ItemFile, ItemStore } from '../../src/stores/items/types.js';
import { archiveItemFiles, checkExistingInItem } from '../../src/strategies/item-archiving.js';
import { WorkBudget } from '../../src/strategies/work-budget.js';
import { filesUnder, itemHarness, overrideStore, zenodoItem, type ItemHarness } from '../support/archiveorg-items.js';
import { FixtureServer } from '../support/fixture-server.js';

const ITEM = 'zenodo.org-7078760';
const DATA_CSV = {
  path: 'data.csv',
  size: 114,
  md5: 'c028f525f314c49ea48ed09e82292ed2',
  sha1: '18a54c31b92182185ab5d745e50617a732df4267',
  sha256: '08b4645fd105c74fbb752c4cf6a1a995452178953bb874697830002474f9538f',
  mimetype: 'text/csv',
};

let server: FixtureServer | undefined;
let h: ItemHarness | undefined;
afterEach(async () => {
  await h?.dispose();
  await server?.close();
  h = undefined;
  server = undefined;
});

async function setup(env: Record<string, string> = {}) {
  server = await FixtureServer.start();
  h = await itemHarness(server.origin, { env });
  return { ...(await zenodoItem(server, h.config)), h, server };
}

describe('archiveItemFiles and the work budget', () => {
  it('never reserves more than the budget with downloads running concurrently', async () => {
    // 60 + 114 bytes fit beside each other; the 1594-byte file fits beside neither, so it waits for both to leave.
    const { item } = await setup({ FILESET_DOWNLOAD_CONCURRENCY: '3' });
    const budget = new WorkBudget(1650);
    const outcomes = await archiveItemFiles(item, h!.ctx, { budget });
    expect(outcomes.map((o) => o.entry.status)).toEqual(['success', 'success', 'success']);
    expect(budget.peak).toBe(1594);
  });

  it('marks a file larger than the whole budget too-large-size without fetching it', async () => {
    const { item, files } = await setup();
    const outcomes = await archiveItemFiles(item, h!.ctx, { budget: new WorkBudget(1000) });
    expect(outcomes.map((o) => o.entry.status)).toEqual(['success', 'success', 'too-large-size']);
    expect(outcomes[2]!.message).toBe(
      'datapackage.json: 1594 bytes is more than the working-directory budget of 1000 bytes (FILESET_WORK_DIR_BUDGET)',
    );
    expect(files['datapackage.json'].ranges).toEqual([]);
  });

  it('lets a file of unknown size take the whole budget, and cuts it off beyond', async () => {
    const { item } = await setup();
    const unknown: PlatformItem = { ...item, manifest: item.manifest.map((f) => ({ ...f, size: null })) };
    const outcomes = await archiveItemFiles(unknown, h!.ctx, { budget: new WorkBudget(1000) });
    expect(outcomes.map((o) => [o.entry.status, o.entry.size])).toEqual([
      ['success', 60],
      ['success', 114],
      ['too-large-size', null],
    ]);
    expect(outcomes[2]!.message).toBe('datapackage.json: larger than the working-directory budget of 1000 bytes');
    expect(await filesUnder(h!.workDir)).toEqual([]);
  });
});

describe('archiveItemFiles downloads', () => {
  it('stores the decoded bytes of a gzip-encoded response, with their hashes', async () => {
    const { item, downloads } = await setup();
    server!.route(downloads['data.csv'], {
      body: gzipSync(readFileSync(new URL('../fixtures/zenodo-files/7078760/data.csv', import.meta.url))),
      headers: { 'Content-Encoding': 'gzip', 'Content-Type': 'text/csv' },
    });
    const outcomes = await archiveItemFiles(item, h!.ctx);
    expect(outcomes[1]!.entry.status).toBe('success');
    expect((await h!.items.listFiles(ITEM)).find((f) => f.path === 'data.csv')).toEqual(DATA_CSV);
  });

  it('reports an HTTP error per entry as error-platform-download', async () => {
    const { item, downloads } = await setup();
    server!.route(downloads['data2.csv'], { status: 410, body: 'gone' });
    const outcomes = await archiveItemFiles(item, h!.ctx);
    expect(outcomes[0]!.entry.status).toBe('error-platform-download');
    expect(outcomes[0]!.message).toBe(`data2.csv: HTTP 410 from https://zenodo.org${downloads['data2.csv']}`);
    expect(outcomes.slice(1).map((o) => o.entry.status)).toEqual(['success', 'success']);
    expect(await filesUnder(h!.workDir)).toEqual([]);
  });

  it('marks the second entry of a path listed twice unsafe-path', async () => {
    const { item } = await setup();
    const twice: PlatformItem = { ...item, manifest: [item.manifest[0]!, item.manifest[0]!] };
    const outcomes = await archiveItemFiles(twice, h!.ctx);
    expect(outcomes.map((o) => o.entry.status)).toEqual(['success', 'unsafe-path']);
    expect(outcomes[1]!.message).toBe('data2.csv: the manifest lists this path twice');
  });

  it('refuses an item name that is not one plain folder name', async () => {
    const { item } = await setup();
    await expect(archiveItemFiles({ ...item, archiveorgItemName: '../elsewhere' }, h!.ctx)).rejects.toThrow(
      'no usable archive item name',
    );
    await expect(archiveItemFiles({ ...item, archiveorgItemName: null }, h!.ctx)).rejects.toThrow(
      'no usable archive item name',
    );
  });
});

describe('checkExistingInItem', () => {
  const stored: ItemFile = { ...DATA_CSV, sha256: null }; // as archive.org lists it: no sha256
  const file = (fields: Partial<PlatformFile>): PlatformFile => ({ path: 'data.csv', size: 114, ...fields });

  async function check(manifest: PlatformFile[], files: ItemFile[] = [stored]) {
    server ??= await FixtureServer.start();
    h ??= await itemHarness(server.origin);
    let listed = 0;
    const store = overrideStore(h.items, {
      listFiles: async () => (listed++, files),
      listNotes: async () => [],
      locate: (item: string, path?: string) => `https://archive.org/download/${item}/${path}`,
    });
    const item: PlatformItem = {
      platformName: 'zenodo',
      platformDomain: 'zenodo.org',
      platformId: '7078760',
      manifest,
      archiveorgItemName: ITEM,
      archiveorgItemMeta: {},
      platformBaseUrl: null,
      platformBundleUrl: null,
    };
    const result = await checkExistingInItem(item, { ...h.ctx, items: store as ItemStore }, 'archiveorg-fileset');
    return { result, listed };
  }

  it('matches by sha1 when both sides have it, else md5, filling in the full hashes and mimetype', async () => {
    const { result, listed } = await check([file({ sha1: DATA_CSV.sha1.toUpperCase(), sha256: DATA_CSV.sha256 })]);
    expect(listed).toBe(1);
    expect(result?.manifest).toEqual([
      {
        path: 'data.csv',
        size: 114,
        md5: DATA_CSV.md5,
        sha1: DATA_CSV.sha1,
        sha256: DATA_CSV.sha256,
        mimetype: 'text/csv',
        status: 'exists',
        terminal_url: null,
        terminal_dt: null,
      },
    ]);
    expect((await check([file({ md5: DATA_CSV.md5 })])).result?.status).toBe('success-existing');
  });

  it.each([
    ['another size', file({ size: 115, md5: DATA_CSV.md5 })],
    ['another md5', file({ md5: 'c028f525f314c49ea48ed09e82292ed3' })],
    ['no hash in common (sha256 only, the store has none)', file({ sha256: DATA_CSV.sha256 })],
    ['no hash at all', file({})],
    ['a restricted file', file({ md5: DATA_CSV.md5, restricted: true })],
    ['a path the item lacks', file({ path: 'other.csv', md5: DATA_CSV.md5 })],
  ])('is null for %s', async (_what, entry) => {
    expect((await check([entry])).result).toBeNull();
  });

  it('reads the item listing once for a large manifest (one Map, not a scan per file)', async () => {
    const files = Array.from({ length: 2000 }, (_, i) => ({ ...stored, path: `f/${i}.csv` }));
    const { result, listed } = await check(
      files.map((f) => file({ path: f.path, md5: f.md5 })),
      files,
    );
    expect(listed).toBe(1);
    expect(result?.manifest).toHaveLength(2000);
    expect(result?.note).toMatchObject({ unchanged: files.map((f) => f.path), added: [], changed: [], failed: [] });
  });
});
