// archiveorg-fileset end to end: the recorded Zenodo record 7078760 and the real bytes of its files
// from a local server, into an fs item store through the working directory.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InfrastructureError, ItemUploadError } from '../../src/errors.js';
import type { PlatformItem } from '../../src/platforms/types.js';
import { type ItemStore } from '../../src/stores/items/types.js';
import { workPaths } from '../../src/strategies/work-dir.js';
import { archiveorgFileset } from '../../src/strategies/archiveorg-fileset.js';
import {
  filesUnder,
  itemHarness,
  overrideStore,
  sizeReached,
  zenodoItem,
  type ItemHarness,
  type Key,
} from '../support/archiveorg-items.js';
import { FixtureServer } from '../support/fixture-server.js';
import { readAllBytes } from '../stores/items/contract.js';

const ITEM = 'zenodo.org-7078760';
const BUCKET = 'https://zenodo.org/api/files/bc520c46-ee9e-4245-8c57-2a7203062e14';
/** The files as the item lists them: sizes and md5 from the record, sha1 and sha256 of the real bytes. */
const STORED = {
  'data.csv': {
    path: 'data.csv',
    size: 114,
    md5: 'c028f525f314c49ea48ed09e82292ed2',
    sha1: '18a54c31b92182185ab5d745e50617a732df4267',
    sha256: '08b4645fd105c74fbb752c4cf6a1a995452178953bb874697830002474f9538f',
    mimetype: 'text/plain',
  },
  'data2.csv': {
    path: 'data2.csv',
    size: 60,
    md5: 'cb4a683d8eecb72c9ac9beea91fd592e',
    sha1: 'f543844c3a25ad36bbebdf1d05716008ad8ae093',
    sha256: 'c58f34fe7961113baf24fb45f4b9fcfff9ceae6274373fd9d3c84be540075406',
    mimetype: 'text/plain',
  },
  'datapackage.json': {
    path: 'datapackage.json',
    size: 1594,
    md5: '127f3943c9a2fa7fe892c7159b6fbded',
    sha1: '11cd6c6e9c3d3a0e0595d96f430b3d5cd423b118',
    sha256: 'f0cd0a7417e1b18b00d7d786ef2c4d8d941a7211209636b9a9fd84d3a7183f56',
    mimetype: 'text/plain',
  },
};
const TYPES: Record<Key, string> = { 'data2.csv': 'csv', 'data.csv': 'csv', 'datapackage.json': 'json' };

/** A manifest entry after a successful upload. */
const uploaded = (key: Key, status = 'success') => ({
  ...STORED[key],
  extra: { type: TYPES[key] },
  status,
  platform_url: `${BUCKET}/${key}`,
  // In the item, not captured over the web: no terminal names a capture of it.
  terminal_url: null,
  terminal_dt: null,
});

let server: FixtureServer;
let h: ItemHarness;
afterEach(async () => {
  await h?.dispose();
  await server?.close();
});

async function setup(files: Parameters<typeof zenodoItem>[2] = {}, options: Parameters<typeof itemHarness>[1] = {}) {
  server = await FixtureServer.start();
  h = await itemHarness(server.origin, options);
  return zenodoItem(server, h.config, files);
}

const partOf = (path: string) => workPaths(h.workDir, ITEM, path).part;
const downloadRequests = () => server.requests.filter((r) => r.startsWith('/api/files/'));

describe('archiveorg-fileset', () => {
  it('puts every file into the item with exact hashes, sets the item metadata and leaves the work dir empty', async () => {
    const { item } = await setup();
    expect(await archiveorgFileset.checkExisting(item, h.ctx)).toBeNull();
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(result).toEqual({
      status: 'success',
      manifest: [uploaded('data2.csv'), uploaded('data.csv'), uploaded('datapackage.json')],
      note: {
        strategy: 'archiveorg-fileset',
        added: ['data2.csv', 'data.csv', 'datapackage.json'],
        changed: [],
        unchanged: [],
        failed: [],
      },
    });
    expect(await h.items.listFiles(ITEM)).toEqual([
      STORED['data.csv'],
      STORED['data2.csv'],
      STORED['datapackage.json'],
    ]);
    const bytes = await readAllBytes(await h.items.readFile(ITEM, 'datapackage.json'));
    expect(
      bytes.equals(await readFile(join(import.meta.dirname, '../fixtures/zenodo-files/7078760/datapackage.json'))),
    ).toBe(true);
    expect(await h.items.getMetadata(ITEM)).toEqual({
      title: 'Frictionless Data Test Dataset',
      creator: ['FD Tester'],
      date: '2022-09-14',
      doi: '10.5281/zenodo.7078760',
      license: 'CC-BY-4.0',
      source: 'https://zenodo.org/records/7078760',
      platform_name: 'zenodo',
      platform_domain: 'zenodo.org',
      platform_id: '7078760',
      platform_base_url: 'https://zenodo.org/records/7078760',
    });
    // Not even empty folders are left of the item's work.
    expect(await readdir(h.workDir)).toEqual([]);
  });

  it('says success-existing on a rerun without a single download request, with full hashes and the time of the note that added them', async () => {
    const { item } = await setup();
    const first = await archiveorgFileset.process(item, h.ctx);
    await h.items.writeNote(ITEM, { time: h.clock.now, ...first.note }); // as the pipeline does
    const before = downloadRequests().length;
    h.clock.now = new Date('2026-04-01T00:00:00Z');
    const again = await archiveorgFileset.checkExisting(item, h.ctx);
    expect(again).toEqual({
      status: 'success-existing',
      manifest: (['data2.csv', 'data.csv', 'datapackage.json'] as const).map((k) => uploaded(k, 'exists')),
      note: {
        strategy: 'archiveorg-fileset',
        added: [],
        changed: [],
        unchanged: ['data2.csv', 'data.csv', 'datapackage.json'],
        failed: [],
      },
    });
    expect(before).toBe(3);
    expect(downloadRequests()).toHaveLength(3);
  });

  it('renews a changed file: only it is fetched, the old version is kept beside it, the note says changed', async () => {
    const { item, files } = await setup();
    await archiveorgFileset.process(item, h.ctx);
    const newBytes = Buffer.from('id,name\nB1,changed upstream\n');
    files['data2.csv'].bytes = newBytes;
    const md5 = createHash('md5').update(newBytes).digest('hex');
    const renewed: PlatformItem = {
      ...item,
      manifest: item.manifest.map((f) => (f.path === 'data2.csv' ? { ...f, size: newBytes.length, md5 } : f)),
    };
    h.clock.now = new Date('2026-05-01T00:00:00Z');
    expect(await archiveorgFileset.checkExisting(renewed, h.ctx)).toBeNull();
    const result = await archiveorgFileset.process(renewed, h.ctx);
    expect(result.status).toBe('success');
    expect(result.manifest.map((e) => [e.path, e.status])).toEqual([
      ['data2.csv', 'success'],
      ['data.csv', 'exists'],
      ['datapackage.json', 'exists'],
    ]);
    expect(result.note).toEqual({
      strategy: 'archiveorg-fileset',
      added: [],
      changed: ['data2.csv'],
      unchanged: ['data.csv', 'datapackage.json'],
      failed: [],
    });
    expect(files['data2.csv'].ranges).toHaveLength(2);
    expect(files['data.csv'].ranges).toHaveLength(1);
    expect(files['datapackage.json'].ranges).toHaveLength(1);
    expect((await readAllBytes(await h.items.readFile(ITEM, 'data2.csv'))).toString()).toBe(newBytes.toString());
    const kept = join(
      h.items.locate(ITEM),
      '.fileset',
      'versions',
      String(Date.parse('2026-05-01T00:00:00Z') / 1000),
      'data2.csv',
    );
    expect(await readFile(kept)).toEqual(
      await readFile(join(import.meta.dirname, '../fixtures/zenodo-files/7078760/data2.csv')),
    );
  });

  it('reports mismatch-size and mismatch-md5 per entry and stores neither file', async () => {
    const { item } = await setup();
    const wrong: PlatformItem = {
      ...item,
      manifest: item.manifest.map((f) =>
        f.path === 'data.csv'
          ? { ...f, md5: 'ffffffffffffffffffffffffffffffff' }
          : f.path === 'datapackage.json'
            ? { ...f, size: 1000 }
            : f,
      ),
    };
    const result = await archiveorgFileset.process(wrong, h.ctx);
    expect(result.manifest.map((e) => [e.path, e.status])).toEqual([
      ['data2.csv', 'success'],
      ['data.csv', 'mismatch-md5'],
      ['datapackage.json', 'mismatch-size'],
    ]);
    expect(result.status).toBe('mismatch-md5');
    expect(result.errorMessage).toBe(
      'data.csv: md5 is c028f525f314c49ea48ed09e82292ed2, platform says ffffffffffffffffffffffffffffffff',
    );
    expect(result.note).toEqual({
      strategy: 'archiveorg-fileset',
      added: ['data2.csv'],
      changed: [],
      unchanged: [],
      failed: [
        { path: 'data.csv', status: 'mismatch-md5' },
        { path: 'datapackage.json', status: 'mismatch-size' },
      ],
    });
    expect((await h.items.listFiles(ITEM)).map((f) => f.path)).toEqual(['data2.csv']);
    expect(await filesUnder(h.workDir)).toEqual([]);
  });

  it('reports restricted entries and archives the rest (success-partial); checkExisting never claims a set with restricted files', async () => {
    const { item } = await setup();
    const partial: PlatformItem = {
      ...item,
      manifest: item.manifest.map((f) => (f.path === 'data.csv' ? { ...f, restricted: true } : f)),
    };
    expect(await archiveorgFileset.checkExisting(partial, h.ctx)).toBeNull();
    const result = await archiveorgFileset.process(partial, h.ctx);
    expect(result.status).toBe('success-partial');
    expect(result.manifest[1]).toEqual({
      path: 'data.csv',
      size: 114,
      md5: STORED['data.csv'].md5,
      extra: { type: 'csv' },
      platform_url: `${BUCKET}/data.csv`,
      status: 'platform-restricted',
    });
    expect(downloadRequests().some((r) => r.endsWith('/data.csv'))).toBe(false);
    expect(await archiveorgFileset.checkExisting(partial, h.ctx)).toBeNull();
  });

  it('marks traversal paths unsafe-path and never writes them anywhere', async () => {
    const { item } = await setup();
    const [first] = item.manifest;
    const evil: PlatformItem = {
      ...item,
      manifest: [{ ...first!, path: '../x' }, { ...first!, path: '/abs' }, { ...first!, path: 'a/../../b' }, first!],
    };
    const result = await archiveorgFileset.process(evil, h.ctx);
    expect(result.manifest.map((e) => e.status)).toEqual(['unsafe-path', 'unsafe-path', 'unsafe-path', 'success']);
    expect(result.status).toBe('unsafe-path');
    expect(result.errorMessage).toBe('unsafe path in the manifest: "../x"');
    expect(downloadRequests()).toHaveLength(1);
    const everything = await filesUnder(h.dir);
    expect(everything.filter((f) => !f.startsWith('items/.blobs/'))).toEqual([
      'items/zenodo.org-7078760/.fileset/files.json',
      'items/zenodo.org-7078760/.fileset/meta.json',
      'items/zenodo.org-7078760/data2.csv',
    ]);
  });

  it('resumes a download whose connection dropped mid-file: the second request carries Range and gets 206', async () => {
    const { item, files } = await setup({
      'datapackage.json': { dropAfter: 700, beforeDrop: () => sizeReached(partOf('datapackage.json'), 700) },
    });
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(files['datapackage.json'].ranges).toEqual([undefined, 'bytes=700-']);
    expect(result.status).toBe('success');
    expect(result.manifest[2]).toEqual(uploaded('datapackage.json'));
    expect(await h.items.listFiles(ITEM)).toContainEqual(STORED['datapackage.json']);
  });

  it('waits the client backoff before each retry of a dropped download (fails twice, then succeeds)', async () => {
    const waits: number[] = [];
    const { item, files } = await setup(
      {
        'datapackage.json': {
          dropAfter: 700,
          drops: 2,
          beforeDrop: () => sizeReached(partOf('datapackage.json'), 700),
        },
      },
      {
        env: { FILESET_HTTP_RETRIES: '2' },
        sleep: (ms) => {
          waits.push(ms);
          return Promise.resolve();
        },
      },
    );
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(files['datapackage.json'].ranges).toHaveLength(3);
    expect(files['datapackage.json'].ranges.slice(0, 2)).toEqual([undefined, 'bytes=700-']);
    expect(result.manifest[2]).toEqual(uploaded('datapackage.json'));
    // Two drops, two waits of the client's jittered doubling backoff (base 1 ms in tests): at most 1, then 2 ms.
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeLessThanOrEqual(1);
    expect(waits[1]).toBeLessThanOrEqual(2);
  });

  it('restarts cleanly when the server ignores Range and answers 200', async () => {
    const { item, files } = await setup({
      'datapackage.json': {
        dropAfter: 700,
        ignoreRange: true,
        beforeDrop: () => sizeReached(partOf('datapackage.json'), 700),
      },
    });
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(files['datapackage.json'].ranges).toEqual([undefined, 'bytes=700-']);
    expect(result.manifest[2]).toEqual(uploaded('datapackage.json'));
  });

  it('resumes a part an earlier run left (a crash) and re-fetches whole when those bytes were wrong', async () => {
    const { item, files } = await setup();
    const work = workPaths(h.workDir, ITEM, 'datapackage.json');
    await mkdir(join(work.part, '..'), { recursive: true });
    await writeFile(work.part, files['datapackage.json'].bytes.subarray(0, 500));
    const garbage = workPaths(h.workDir, ITEM, 'data.csv');
    await mkdir(join(garbage.part, '..'), { recursive: true });
    await writeFile(garbage.part, 'not the first bytes of data.csv');
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(files['datapackage.json'].ranges).toEqual(['bytes=500-']);
    expect(files['data.csv'].ranges).toEqual(['bytes=31-', undefined]);
    expect(result.manifest).toEqual([uploaded('data2.csv'), uploaded('data.csv'), uploaded('datapackage.json')]);
    expect(await filesUnder(h.workDir)).toEqual([]);
  });

  it('recovers a crash between download and upload: the next run uploads without downloading again', async () => {
    let storeDown = true;
    const { item, files } = await setup(
      {},
      {
        env: { FILESET_DOWNLOAD_CONCURRENCY: '1' },
        wrap: (store) => failing(store, () => (storeDown ? new InfrastructureError('store unreachable') : null)),
      },
    );
    await expect(archiveorgFileset.process(item, h.ctx)).rejects.toThrow('store unreachable');
    // What a killed process leaves: the completed file beside its sidecar; the other files never started.
    expect(await filesUnder(h.workDir)).toEqual([`${ITEM}/done/data2.csv`, `${ITEM}/hashes/data2.csv`]);
    expect(downloadRequests()).toHaveLength(1);
    storeDown = false;
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(result.manifest).toEqual([uploaded('data2.csv'), uploaded('data.csv'), uploaded('datapackage.json')]);
    expect(files['data2.csv'].ranges).toHaveLength(1);
    expect(downloadRequests()).toHaveLength(3);
    expect(await filesUnder(h.workDir)).toEqual([]);
  });

  it('downloads again a completed file whose bytes no longer match its sidecar', async () => {
    let storeDown = true;
    const { item, files } = await setup(
      {},
      {
        env: { FILESET_DOWNLOAD_CONCURRENCY: '1' },
        wrap: (store) => failing(store, () => (storeDown ? new InfrastructureError('store unreachable') : null)),
      },
    );
    await expect(archiveorgFileset.process(item, h.ctx)).rejects.toThrow(InfrastructureError);
    const bytes = Buffer.from(files['data2.csv'].bytes);
    bytes[10] = 0x21; // same size, other bytes
    await writeFile(workPaths(h.workDir, ITEM, 'data2.csv').done, bytes);
    storeDown = false;
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(files['data2.csv'].ranges).toEqual([undefined, undefined]);
    expect(result.manifest[0]).toEqual(uploaded('data2.csv'));
    expect(await h.items.listFiles(ITEM)).toContainEqual(STORED['data2.csv']);
  });

  it('reports error-archiveorg-upload for a file the store refuses, and keeps going', async () => {
    const { item } = await setup(
      {},
      {
        wrap: (store) =>
          failing(store, (path) => (path === 'data.csv' ? new ItemUploadError('403 Forbidden: item is dark') : null)),
      },
    );
    const result = await archiveorgFileset.process(item, h.ctx);
    expect(result.status).toBe('error-archiveorg-upload');
    expect(result.errorMessage).toBe('data.csv: the item store refused the file: 403 Forbidden: item is dark');
    expect(result.manifest[1]).toEqual(uploaded('data.csv', 'error-archiveorg-upload'));
    expect((await h.items.listFiles(ITEM)).map((f) => f.path)).toEqual(['data2.csv', 'datapackage.json']);
    expect(await filesUnder(h.workDir)).toEqual([]);
  });

  it('lets an unreachable store fail the request (InfrastructureError), in checkExisting and in process', async () => {
    const { item } = await setup({}, { wrap: (store) => unreachable(store) });
    await expect(archiveorgFileset.checkExisting(item, h.ctx)).rejects.toThrow(InfrastructureError);
    await expect(archiveorgFileset.process(item, h.ctx)).rejects.toThrow(InfrastructureError);
    expect(downloadRequests()).toEqual([]);
  });
});

/** The store, with putFile failing with whatever `failure` returns for a path. */
function failing(store: ItemStore, failure: (path: string) => Error | null): ItemStore {
  return overrideStore(store, {
    putFile: async (item, file, signal) => {
      const error = failure(file.path);
      if (error) throw error;
      return store.putFile(item, file, signal);
    },
  });
}

function unreachable(store: ItemStore): ItemStore {
  const down = () => Promise.reject(new InfrastructureError('connect ECONNREFUSED 127.0.0.1:9'));
  return overrideStore(store, { listFiles: down, putFile: down, setMetadata: down });
}
