// archiveorg-file end to end: one file of the recorded Zenodo record 7078760 into an fs item store.
import { afterEach, describe, expect, it } from 'vitest';
import type { PlatformItem } from '../../src/platforms/types.js';
import { CaptureResultSchema } from '../../src/schemas/index.js';
import { archiveorgFile } from '../../src/strategies/archiveorg-file.js';
import { itemHarness, zenodoItem, type ItemHarness } from '../support/archiveorg-items.js';
import { FixtureServer } from '../support/fixture-server.js';

const ITEM = 'zenodo.org-7078760';
const URL = 'https://zenodo.org/api/files/bc520c46-ee9e-4245-8c57-2a7203062e14/datapackage.json';
const FILE_META = {
  size_bytes: 1594,
  md5hex: '127f3943c9a2fa7fe892c7159b6fbded',
  sha1hex: '11cd6c6e9c3d3a0e0595d96f430b3d5cd423b118',
  sha256hex: 'f0cd0a7417e1b18b00d7d786ef2c4d8d941a7211209636b9a9fd84d3a7183f56',
  mimetype: 'text/plain',
};

let server: FixtureServer;
let h: ItemHarness;
afterEach(async () => {
  await h?.dispose();
  await server?.close();
});

/** The record cut down to its one JSON file: what the chooser gives archiveorg-file. */
async function oneFile(options: Parameters<typeof zenodoItem>[2] = {}): Promise<PlatformItem> {
  server = await FixtureServer.start();
  h = await itemHarness(server.origin);
  const { item } = await zenodoItem(server, h.config, options);
  return { ...item, manifest: item.manifest.filter((f) => f.path === 'datapackage.json') };
}

describe('archiveorg-file', () => {
  it('is named archiveorg-file (sandcrawler mislabelled it fileset)', () => {
    expect(archiveorgFile.name).toBe('archiveorg-file');
  });

  it('says success-file with a fileset_file describing the download', async () => {
    const item = await oneFile();
    expect(await archiveorgFile.checkExisting(item, h.ctx)).toBeNull();
    const result = await archiveorgFile.process(item, h.ctx);
    expect(result.status).toBe('success-file');
    // Downloaded into the item, not captured over the web: no terminal or cdx names a capture.
    expect(result.filesetFile).toEqual({
      file_meta: FILE_META,
      terminal: null,
      cdx: null,
      revisit_cdx: null,
    });
    expect(CaptureResultSchema.parse(result.filesetFile)).toEqual(result.filesetFile);
    expect(result.manifest).toEqual([
      {
        path: 'datapackage.json',
        size: 1594,
        md5: FILE_META.md5hex,
        sha1: FILE_META.sha1hex,
        sha256: FILE_META.sha256hex,
        mimetype: 'text/plain',
        extra: { type: 'json' },
        platform_url: URL,
        status: 'success',
        terminal_url: null,
        terminal_dt: null,
      },
    ]);
    expect(result.note).toEqual({
      strategy: 'archiveorg-file',
      added: ['datapackage.json'],
      changed: [],
      unchanged: [],
      failed: [],
    });
  });

  it('says success-existing on a rerun, its fileset_file naming no capture (the file is in the item)', async () => {
    const item = await oneFile();
    const first = await archiveorgFile.process(item, h.ctx);
    await h.items.writeNote(ITEM, { time: h.clock.now, ...first.note });
    h.clock.now = new Date('2026-06-01T00:00:00Z');
    const again = await archiveorgFile.checkExisting(item, h.ctx);
    expect(again?.status).toBe('success-existing');
    expect(again?.filesetFile).toEqual({
      file_meta: FILE_META,
      terminal: null,
      cdx: null,
      revisit_cdx: null,
    });
    expect(again?.manifest[0]?.status).toBe('exists');
    expect(server.requests.filter((r) => r.endsWith('/datapackage.json'))).toHaveLength(1);
  });

  it('gives no fileset_file for a file that failed verification', async () => {
    const item = await oneFile();
    const wrong = { ...item, manifest: [{ ...item.manifest[0]!, md5: '00000000000000000000000000000000' }] };
    const result = await archiveorgFile.process(wrong, h.ctx);
    expect(result.status).toBe('mismatch-md5');
    expect(result.filesetFile).toBeUndefined();
    expect(await h.items.listFiles(ITEM)).toEqual([]);
  });
});
