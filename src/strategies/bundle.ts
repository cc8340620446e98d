// A platform's "download all" zip: its central directory read with yauzl, every file entry hashed
// by streaming it once (never extracted), and the interior manifest mapped onto the platform's.
import { createHash } from 'node:crypto';
import { close, open } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import {
  BundleCorruptError,
  BundleEncryptedError,
  BundleZipBombError,
  InfrastructureError,
  IngestError,
  UnsafePathError,
} from '../errors.js';
import type { Config } from '../config.js';
import type { PlatformFile, PlatformItem } from '../platforms/types.js';
import type { FileMeta } from '../schemas/result.js';
import type { ManifestEntry } from '../schemas/manifest.js';
import { isSafeItemPath } from '../stores/items/types.js';
import { fillFromMeta, verifyFile } from './verify.js';
import { wireEntry } from './outcomes.js';

export interface BundleEntry {
  path: string;
  size: number;
  compressedSize: number;
  crc32: number;
  md5: string;
  sha1: string;
  sha256: string;
}

export interface BundleLimits {
  /** A bundle whose entries declare more than this in all is a zip bomb. */
  maxExpandedSize: number;
  /** An entry over 1 MiB compressed more than this many times is a zip bomb. */
  maxRatio: number;
  /** Most entries (directories included); the central directory is held in memory. Default 100,000. */
  maxEntries?: number;
}

const RATIO_FLOOR = 1 << 20;
const DEFAULT_MAX_ENTRIES = 100_000;
const ZIP_OPTIONS = {
  lazyEntries: true,
  autoClose: false,
  validateEntrySizes: true,
  strictFileNames: false,
  decodeStrings: true,
};

const bomb = (message: string) => new BundleZipBombError(message);
const corrupt = (message: string) => new BundleCorruptError(message);

/** Reads the zip's central directory and streams every file entry once to hash it. Directories are skipped. */
export async function readBundle(zipPath: string, limits: BundleLimits, signal?: AbortSignal): Promise<BundleEntry[]> {
  let zip: ZipFile | undefined;
  try {
    zip = await openZip(zipPath);
    if (zip.entryCount > (limits.maxEntries ?? DEFAULT_MAX_ENTRIES)) {
      throw bomb(`the bundle lists ${zip.entryCount} entries, more than ${limits.maxEntries ?? DEFAULT_MAX_ENTRIES}`);
    }
    // Every entry is listed and checked before a single byte of any of them is inflated.
    const listed: Entry[] = [];
    for await (const entry of zip.eachEntry()) listed.push(entry);
    checkEntries(listed, limits);
    const hashed: BundleEntry[] = [];
    for (const entry of listed) {
      if (isDirectory(entry)) continue;
      signal?.throwIfAborted();
      hashed.push(await hashEntry(zip, entry, signal));
    }
    return hashed;
  } catch (err) {
    throw classify(err);
  } finally {
    if (zip) await closeZip(zip);
  }
}

/**
 * Opens the zip on a descriptor of our own: when yauzl cannot read it, we close the descriptor
 * ourselves (yauzl.open would close it later, unawaited), so no path leaves a descriptor open.
 */
async function openZip(path: string): Promise<ZipFile> {
  const fd = await promisify(open)(path, 'r');
  try {
    return await new Promise<ZipFile>((resolve, reject) => {
      yauzl.fromFd(fd, ZIP_OPTIONS, (err, zip) => (err ? reject(err) : resolve(zip)));
    });
  } catch (err) {
    await promisify(close)(fd);
    throw err;
  }
}

/** Resolves once the descriptor is closed (every entry stream has finished or been destroyed). */
function closeZip(zip: ZipFile): Promise<void> {
  if (!zip.isOpen) return Promise.resolve();
  return new Promise<void>((resolve) => {
    zip.once('close', () => resolve());
    zip.once('error', () => resolve());
    zip.close();
  });
}

function isDirectory(entry: Entry): boolean {
  return entry.fileName.endsWith('/');
}

/** Names, encryption, duplicates, declared sizes and compression methods, in that order. */
function checkEntries(entries: Entry[], limits: BundleLimits): void {
  for (const entry of entries) {
    const name = isDirectory(entry) ? entry.fileName.slice(0, -1) : entry.fileName;
    if (!isSafeItemPath(name)) {
      throw new UnsafePathError(`the bundle's entry ${JSON.stringify(entry.fileName)} is not a safe relative path`);
    }
  }
  const encrypted = entries.find((e) => e.isEncrypted());
  if (encrypted) throw new BundleEncryptedError(`the bundle's entry ${encrypted.fileName} is encrypted`);
  const seen = new Set<string>();
  let total = 0;
  for (const entry of entries) {
    if (seen.has(entry.fileName)) throw corrupt(`the bundle holds ${entry.fileName} twice`);
    seen.add(entry.fileName);
    total += entry.uncompressedSize;
    if (total > limits.maxExpandedSize) {
      throw bomb(`the bundle's entries declare more than ${limits.maxExpandedSize} bytes in all`);
    }
    const ratio = entry.uncompressedSize / Math.max(entry.compressedSize, 1);
    if (entry.uncompressedSize > RATIO_FLOOR && ratio > limits.maxRatio) {
      throw bomb(
        `the bundle's entry ${entry.fileName} expands ${entry.compressedSize} bytes to ${entry.uncompressedSize} ` +
          `(more than ${limits.maxRatio} times)`,
      );
    }
  }
  const unreadable = entries.find((e) => !isDirectory(e) && !e.canDecodeFileData());
  if (unreadable) {
    throw corrupt(
      `the bundle's entry ${unreadable.fileName} uses compression method ${unreadable.compressionMethod}, which we cannot read`,
    );
  }
}

/** Hashes one entry as it inflates; yauzl stops the stream past the entry's declared size. */
async function hashEntry(zip: ZipFile, entry: Entry, signal: AbortSignal | undefined): Promise<BundleEntry> {
  const hashes = new EntryHashes();
  try {
    const stream = await zip.openReadStreamPromise(entry);
    await pipeline(stream, hashes, { signal });
  } catch (err) {
    throw classify(err, entry);
  }
  if (hashes.size !== entry.uncompressedSize) {
    throw corrupt(
      `the bundle's entry ${entry.fileName} has ${hashes.size} bytes, not the ${entry.uncompressedSize} it declares`,
    );
  }
  if (hashes.crc !== entry.crc32) {
    throw corrupt(`the bundle's entry ${entry.fileName} fails its CRC check`);
  }
  return {
    path: entry.fileName,
    size: hashes.size,
    compressedSize: entry.compressedSize,
    crc32: hashes.crc,
    md5: hashes.md5.digest('hex'),
    sha1: hashes.sha1.digest('hex'),
    sha256: hashes.sha256.digest('hex'),
  };
}

class EntryHashes extends Writable {
  readonly md5 = createHash('md5');
  readonly sha1 = createHash('sha1');
  readonly sha256 = createHash('sha256');
  crc = 0;
  size = 0;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.size += chunk.length;
    this.crc = crc32(chunk, this.crc);
    this.md5.update(chunk);
    this.sha1.update(chunk);
    this.sha256.update(chunk);
    callback();
  }
}

/**
 * A thrown value as a status-carrying error. yauzl's errors are plain Errors told apart by their
 * messages (yauzl 3); errors of our own disk (they carry a syscall) are infrastructure, not a status.
 */
function classify(err: unknown, entry?: Entry): unknown {
  if (err instanceof IngestError || err instanceof InfrastructureError) return err;
  if (!(err instanceof Error) || err.name === 'AbortError') return err;
  if ('syscall' in err) return new InfrastructureError(`reading the bundle: ${err.message}`, { cause: err });
  const where = entry ? `the bundle's entry ${entry.fileName}: ` : 'the bundle: ';
  if (/^too many bytes in the stream/.test(err.message)) {
    return bomb(`${where}inflates to more than the ${entry?.uncompressedSize} bytes it declares`);
  }
  if (/^(absolute path|invalid relative path|invalid characters in fileName)/.test(err.message)) {
    return new UnsafePathError(`${where}unsafe entry name (${err.message})`);
  }
  if (/encryption/.test(err.message)) return new BundleEncryptedError(`${where}${err.message}`);
  return corrupt(`${where}${err.message}`);
}

/**
 * Maps the interior manifest onto the platform's manifest (linear time: a Map by path). Exact paths
 * first; when none matches, a top-level folder that wraps every entry is stripped. Entries the
 * platform does not list (Dataverse's MANIFEST.TXT) are ignored.
 */
export function matchBundle(
  files: PlatformFile[],
  entries: BundleEntry[],
): Array<{ entry: ManifestEntry; message?: string }> {
  let byPath = new Map(entries.map((e) => [e.path, e]));
  if (!files.some((f) => byPath.has(f.path))) {
    const folder = commonFolder(entries);
    if (folder) byPath = new Map(entries.map((e) => [e.path.slice(folder.length), e]));
  }
  return files.map((file) => {
    if (file.restricted)
      return { entry: wireEntry(file, 'platform-restricted'), message: `${file.path}: restricted by the platform` };
    const found = byPath.get(file.path);
    if (!found)
      return {
        entry: wireEntry(file, 'error-platform-download'),
        message: `${file.path}: not in the platform's bundle`,
      };
    const meta: FileMeta = {
      size_bytes: found.size,
      md5hex: found.md5,
      sha1hex: found.sha1,
      sha256hex: found.sha256,
      mimetype: file.mimetype ?? 'application/octet-stream',
    };
    const verdict = verifyFile(file, meta);
    if (verdict.status !== 'success') return { entry: wireEntry(file, verdict.status), message: verdict.message! };
    return { entry: fillFromMeta(wireEntry(file, 'success'), meta) };
  });
}

/** `folder/` when every entry lives under that one top-level folder, else null. */
function commonFolder(entries: BundleEntry[]): string | null {
  const first = entries[0]?.path;
  const slash = first?.indexOf('/') ?? -1;
  if (!first || slash < 1) return null;
  const folder = first.slice(0, slash + 1);
  return entries.every((e) => e.path.startsWith(folder)) ? folder : null;
}

const MIB = 1 << 20;

/**
 * Most bytes the bundle may take on the wire: twice what its files declare (a zip adds headers and
 * a platform may add entries of its own, such as Dataverse's MANIFEST.TXT; a zip stores what it
 * cannot compress, so it is never much larger than its files), 4 KiB per file and 1 MiB for
 * datasets of tiny files. With a size missing, twice the bundled strategies' own total limit.
 * A server that sends more is cut off before it fills our disk.
 */
export function bundleMaxBytes(item: PlatformItem, config: Config): number {
  const sizes = item.manifest.map((f) => f.size);
  if (sizes.some((s) => s === null || s === undefined)) return 2 * config.thresholds.bundleMaxTotalSize;
  const total = sizes.reduce<number>((sum, s) => sum + s!, 0);
  return 2 * total + 4096 * sizes.length + MIB;
}
