import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IngestError, InfrastructureError } from '../../src/errors.js';
import type { PlatformFile } from '../../src/platforms/types.js';
import { matchBundle, readBundle, type BundleEntry, type BundleLimits } from '../../src/strategies/bundle.js';
import { FIXTURES } from '../support/zenodo-site.js';

const BUNDLES = join(FIXTURES, 'bundles');
const ZENODO = join(FIXTURES, 'zenodo-files');
const LIMITS: BundleLimits = { maxExpandedSize: 8 * 2 ** 30, maxRatio: 1000 };

// Expected values computed independently with python3 zipfile + hashlib (see fixtures/bundles/README.md).
const DATA_CSV = {
  size: 114,
  crc32: 0x9c176680,
  md5: 'c028f525f314c49ea48ed09e82292ed2',
  sha1: '18a54c31b92182185ab5d745e50617a732df4267',
  sha256: '08b4645fd105c74fbb752c4cf6a1a995452178953bb874697830002474f9538f',
};
const DATA2_CSV = {
  size: 60,
  crc32: 0xc4f465c4,
  md5: 'cb4a683d8eecb72c9ac9beea91fd592e',
  sha1: 'f543844c3a25ad36bbebdf1d05716008ad8ae093',
  sha256: 'c58f34fe7961113baf24fb45f4b9fcfff9ceae6274373fd9d3c84be540075406',
};
const DATAPACKAGE = {
  size: 1594,
  crc32: 0x9eece763,
  md5: '127f3943c9a2fa7fe892c7159b6fbded',
  sha1: '11cd6c6e9c3d3a0e0595d96f430b3d5cd423b118',
  sha256: 'f0cd0a7417e1b18b00d7d786ef2c4d8d941a7211209636b9a9fd84d3a7183f56',
};
const ADDRESS_CSV = {
  size: 74,
  compressedSize: 74,
  crc32: 0xd587982e,
  md5: 'fd4e45e871b18d160e320254d885a8df',
  sha1: '76bcc611da7a71cc9cef98c1f31ce3d0b0f4c5cf',
  sha256: '0ec7e36c43ffbe6841c76d4732b7adcb1507dc23e03ea7e6ef443dd94b0e12bc',
};

const openFds = () => readdirSync('/proc/self/fd').length;

/** The status and message readBundle fails with. */
async function failure(
  zipPath: string,
  limits = LIMITS,
  signal?: AbortSignal,
): Promise<{ status: string; message: string }> {
  const err: unknown = await readBundle(zipPath, limits, signal).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof IngestError)) throw new Error(`expected an IngestError, got ${String(err)}`);
  return { status: err.status, message: err.message };
}

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bundle-test-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('readBundle on real platform zips', () => {
  it('lists Zenodo record 7077932 files.zip: three deflated files at the top', async () => {
    expect(await readBundle(join(ZENODO, '7077932', 'files.zip'), LIMITS)).toEqual([
      { path: 'data.csv', compressedSize: 87, ...DATA_CSV },
      { path: 'data2.csv', compressedSize: 36, ...DATA2_CSV },
      { path: 'datapackage.json', compressedSize: 281, ...DATAPACKAGE },
    ]);
  });

  it('lists Zenodo record 7247979 folder1.zip and folder2.zip, skipping their directory entries', async () => {
    expect(await readBundle(join(ZENODO, '7247979', 'folder1.zip'), LIMITS)).toEqual([
      { path: 'folder1/address3.csv', ...ADDRESS_CSV },
    ]);
    expect(await readBundle(join(ZENODO, '7247979', 'folder2.zip'), LIMITS)).toEqual([
      { path: 'folder2/address2.csv', ...ADDRESS_CSV },
    ]);
  });

  it('lists nested folders three deep with their full paths', async () => {
    expect(await readBundle(join(BUNDLES, 'nested.zip'), LIMITS)).toEqual([
      { path: 'dataset/data.csv', compressedSize: 87, ...DATA_CSV },
      { path: 'dataset/tables/data2.csv', compressedSize: 36, ...DATA2_CSV },
      { path: 'dataset/tables/meta/datapackage.json', compressedSize: 280, ...DATAPACKAGE },
    ]);
  });
});

describe('readBundle on hostile zips', () => {
  it.each([
    ['slip-parent.zip', 'the bundle: unsafe entry name (invalid relative path: ../evil.txt)'],
    ['slip-absolute.zip', 'the bundle: unsafe entry name (absolute path: /bs.txt)'],
    ['slip-backslash.zip', 'the bundle: unsafe entry name (invalid relative path: a/../b)'],
    ['slip-drive.zip', 'the bundle: unsafe entry name (absolute path: C:/evil.txt)'],
    ['slip-nul.zip', `the bundle's entry "evil\\u0000NUL.txt" is not a safe relative path`],
  ])('%s is unsafe-path and writes nothing anywhere', async (name, message) => {
    const inner = join(work, 'inner');
    await mkdir(inner);
    await copyFile(join(BUNDLES, name), join(inner, name));
    expect(await failure(join(inner, name))).toEqual({ status: 'unsafe-path', message });
    expect(await readdir(work, { recursive: true })).toEqual(['inner', join('inner', name)]);
  });

  it('checks every name before hashing any entry: a broken entry ahead of an unsafe name still gives unsafe-path', async () => {
    // The same broken first entry alone fails its CRC check, so hashing it first would have said bundle-corrupt.
    const broken = await readFile(join(BUNDLES, 'slip-parent.zip'));
    expect(broken.includes('THIS entry fails its CRC check')).toBe(true);
    expect((await failure(join(BUNDLES, 'slip-parent.zip'))).status).toBe('unsafe-path');
    expect((await failure(join(BUNDLES, 'slip-nul.zip'))).status).toBe('unsafe-path');
  });

  it('refuses 100 MiB of zeros deflated 1029 times as a zip bomb, from the central directory alone', async () => {
    expect(await failure(join(BUNDLES, 'bomb-ratio.zip'))).toEqual({
      status: 'bundle-zip-bomb',
      message: "the bundle's entry zeros.bin expands 101923 bytes to 104857600 (more than 1000 times)",
    });
  });

  it('refuses a bundle whose entries declare more than the expanded-size limit', async () => {
    expect(
      await failure(join(BUNDLES, 'bomb-ratio.zip'), { maxExpandedSize: 100 * 2 ** 20 - 1, maxRatio: 10_000 }),
    ).toEqual({
      status: 'bundle-zip-bomb',
      message: "the bundle's entries declare more than 104857599 bytes in all",
    });
  });

  it('stops an entry that inflates past the size its central directory declares', async () => {
    expect(await failure(join(BUNDLES, 'bomb-underdeclared.zip'))).toEqual({
      status: 'bundle-zip-bomb',
      message: "the bundle's entry zeros.bin: inflates to more than the 1000 bytes it declares",
    });
  });

  it('refuses more entries than maxEntries', async () => {
    expect(await failure(join(BUNDLES, 'nested.zip'), { ...LIMITS, maxEntries: 5 })).toEqual({
      status: 'bundle-zip-bomb',
      message: 'the bundle lists 6 entries, more than 5',
    });
  });

  it('refuses traditional PKWARE encryption (zip -P)', async () => {
    expect(await failure(join(BUNDLES, 'encrypted.zip'))).toEqual({
      status: 'bundle-encrypted',
      message: "the bundle's entry data.csv is encrypted",
    });
  });

  it('reports a zip cut in half as bundle-corrupt', async () => {
    const whole = await readFile(join(BUNDLES, 'zenodo-7078760.zip'));
    await writeFile(join(work, 'half.zip'), whole.subarray(0, whole.length >> 1));
    expect(await failure(join(work, 'half.zip'))).toEqual({
      status: 'bundle-corrupt',
      message:
        'the bundle: End of central directory record signature not found. Either not a zip file, or file is truncated.',
    });
  });

  it('reports file data overwritten under an intact central directory as bundle-corrupt', async () => {
    const zip = await readFile(join(BUNDLES, 'zenodo-7078760.zip'));
    // data.csv's local header is 38 bytes (30 + its 8-byte name); its 87 deflated bytes follow.
    zip.fill(0xff, 38, 38 + 87);
    await writeFile(join(work, 'overwritten.zip'), zip);
    const { status, message } = await failure(join(work, 'overwritten.zip'));
    expect(status).toBe('bundle-corrupt');
    expect(message).toMatch(/^the bundle's entry data\.csv: /);
  });

  it('reports a CRC mismatch as bundle-corrupt', async () => {
    expect(await failure(join(BUNDLES, 'crc-mismatch.zip'))).toEqual({
      status: 'bundle-corrupt',
      message: "the bundle's entry data.csv fails its CRC check",
    });
  });

  it('reports a file that is not a zip, and an empty file, as bundle-corrupt', async () => {
    const notZip = await failure(join(ZENODO, '7078760', 'data.csv'));
    expect(notZip.status).toBe('bundle-corrupt');
    await writeFile(join(work, 'empty.zip'), '');
    expect((await failure(join(work, 'empty.zip'))).status).toBe('bundle-corrupt');
  });

  it('reports an entry in a compression method we cannot read (bzip2) as bundle-corrupt', async () => {
    expect(await failure(join(BUNDLES, 'bzip2.zip'))).toEqual({
      status: 'bundle-corrupt',
      message: "the bundle's entry datapackage.json uses compression method 12, which we cannot read",
    });
  });

  it('reports the same name twice as bundle-corrupt', async () => {
    expect(await failure(join(BUNDLES, 'duplicate.zip'))).toEqual({
      status: 'bundle-corrupt',
      message: 'the bundle holds data.csv twice',
    });
  });

  it('treats a bundle it cannot open on our own disk as infrastructure trouble, not a status', async () => {
    await expect(readBundle(join(work, 'absent.zip'), LIMITS)).rejects.toBeInstanceOf(InfrastructureError);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(readBundle(join(BUNDLES, 'zenodo-7078760.zip'), LIMITS, controller.signal)).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('leaves no file descriptor open, whatever the outcome', async () => {
    const before = openFds();
    const names = (await readdir(BUNDLES)).filter((n) => n.endsWith('.zip'));
    expect(names.length).toBe(15);
    for (const name of names) await readBundle(join(BUNDLES, name), LIMITS).catch(() => null);
    await readBundle(join(ZENODO, '7078760', 'data.csv'), LIMITS).catch(() => null);
    const aborted = new AbortController();
    aborted.abort();
    await readBundle(join(BUNDLES, 'nested.zip'), LIMITS, aborted.signal).catch(() => null);
    expect(openFds()).toBe(before);
  });
});

// Memory: no RSS assertion. The bomb fixtures are refused from the central directory, or after at
// most one inflated chunk past the declared size, so there is nothing large to measure; RSS of a
// forked test worker moves by more than that on its own.

describe('matchBundle', () => {
  const entries: BundleEntry[] = [
    { path: 'data.csv', compressedSize: 87, ...DATA_CSV },
    { path: 'data2.csv', compressedSize: 36, ...DATA2_CSV },
    { path: 'datapackage.json', compressedSize: 280, ...DATAPACKAGE },
  ];
  // Record 7078760's manifest as the Zenodo helper gives it: path, size, md5, URL.
  const url = (key: string) => `https://zenodo.org/api/files/bc520c46-ee9e-4245-8c57-2a7203062e14/${key}`;
  const platform: PlatformFile[] = [
    { path: 'data2.csv', size: 60, md5: DATA2_CSV.md5, mimetype: 'text/csv', platform_url: url('data2.csv') },
    { path: 'data.csv', size: 114, md5: DATA_CSV.md5, platform_url: url('data.csv') },
    { path: 'datapackage.json', size: 1594, md5: DATAPACKAGE.md5, platform_url: url('datapackage.json') },
  ];
  const success = (file: PlatformFile, hashes: typeof DATA_CSV, mimetype: string) => ({
    entry: { ...file, sha1: hashes.sha1, sha256: hashes.sha256, mimetype, status: 'success' },
  });

  it('matches exact paths, in the platform order, filling hashes and the mimetype', () => {
    expect(matchBundle(platform, entries)).toEqual([
      success(platform[0]!, DATA2_CSV, 'text/csv'),
      success(platform[1]!, DATA_CSV, 'application/octet-stream'),
      success(platform[2]!, DATAPACKAGE, 'application/octet-stream'),
    ]);
  });

  it('strips one top-level folder that wraps every entry when no path matches as is', () => {
    const nested = [
      { path: 'dataset/data.csv', compressedSize: 87, ...DATA_CSV },
      { path: 'dataset/tables/data2.csv', compressedSize: 36, ...DATA2_CSV },
      { path: 'dataset/tables/meta/datapackage.json', compressedSize: 280, ...DATAPACKAGE },
    ];
    const files: PlatformFile[] = [
      { path: 'data.csv', md5: DATA_CSV.md5 },
      { path: 'tables/data2.csv', sha1: DATA2_CSV.sha1 },
      { path: 'tables/meta/datapackage.json', sha256: DATAPACKAGE.sha256 },
    ];
    expect(matchBundle(files, nested).map((o) => [o.entry.path, o.entry.status, o.entry.md5])).toEqual([
      ['data.csv', 'success', DATA_CSV.md5],
      ['tables/data2.csv', 'success', DATA2_CSV.md5],
      ['tables/meta/datapackage.json', 'success', DATAPACKAGE.md5],
    ]);
  });

  it('strips no folder when entries sit in different folders, or when some path already matches', () => {
    const split = [
      { ...entries[0]!, path: 'a/data.csv' },
      { ...entries[1]!, path: 'b/data2.csv' },
    ];
    expect(matchBundle(platform.slice(0, 2), split).map((o) => o.entry.status)).toEqual([
      'error-platform-download',
      'error-platform-download',
    ]);
    const wrapped = [
      { ...entries[0]!, path: 'dataset/data.csv' },
      { ...entries[1]!, path: 'dataset/data2.csv' },
    ];
    const files: PlatformFile[] = [{ path: 'dataset/data.csv' }, { path: 'data2.csv' }];
    expect(matchBundle(files, wrapped).map((o) => o.entry.status)).toEqual(['success', 'error-platform-download']);
  });

  it('ignores entries the platform does not list (Dataverse adds MANIFEST.TXT)', () => {
    const extra = {
      path: 'MANIFEST.TXT',
      compressedSize: 20,
      size: 20,
      crc32: 1,
      md5: 'e'.repeat(32),
      sha1: 'e'.repeat(40),
      sha256: 'e'.repeat(64),
    };
    expect(matchBundle(platform, [extra, ...entries]).map((o) => [o.entry.path, o.entry.status])).toEqual([
      ['data2.csv', 'success'],
      ['data.csv', 'success'],
      ['datapackage.json', 'success'],
    ]);
  });

  it('reports a platform file missing from the bundle as error-platform-download', () => {
    const [first, ...rest] = matchBundle(platform, entries.slice(0, 1).concat(entries.slice(2)));
    expect(first).toEqual({
      entry: { ...platform[0], status: 'error-platform-download' },
      message: "data2.csv: not in the platform's bundle",
    });
    expect(rest.map((o) => o.entry.status)).toEqual(['success', 'success']);
  });

  it('reports mismatches, size first, without filling hashes from the wrong bytes', () => {
    const wrongSize = { ...entries[0]!, size: 113 };
    expect(matchBundle([platform[1]!], [wrongSize])).toEqual([
      { entry: { ...platform[1], status: 'mismatch-size' }, message: 'data.csv: size is 113, platform says 114' },
    ]);
    const altered = { ...entries[0]!, md5: '6e687ac5274f6fa5f5b28ff1d3e3f25a' };
    expect(matchBundle([platform[1]!], [altered])).toEqual([
      {
        entry: { ...platform[1], status: 'mismatch-md5' },
        message: `data.csv: md5 is 6e687ac5274f6fa5f5b28ff1d3e3f25a, platform says ${DATA_CSV.md5}`,
      },
    ]);
    expect(matchBundle([{ path: 'data.csv', sha256: 'f'.repeat(64) }], entries)[0]!.entry.status).toBe(
      'mismatch-sha256',
    );
  });

  it('reports restricted platform files as platform-restricted, even when the bundle holds them', () => {
    expect(matchBundle([{ ...platform[1]!, restricted: true }], entries)).toEqual([
      { entry: { ...platform[1], status: 'platform-restricted' }, message: 'data.csv: restricted by the platform' },
    ]);
  });
});
