// Crash recovery of WARC files: finds the `.open` files a dead process of this host left, keeps
// their complete gzip members (CRC-checked), cuts the rest, and gives them their final names.
import { open, readdir, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, createInflateRaw } from 'node:zlib';
import type { Logger } from '../../logger.js';
import { syncDir } from './files.js';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether process `pid` of this host still runs; our own pid counts as gone (see below). */
export function pidAlive(pid: number): boolean {
  // Recovery runs before this writer opens a file, so a file named with our own pid was left by an
  // earlier process that had it: a container restarts its worker with the same pid and hostname.
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Finishes `.open` files of this host whose writing process is gone: keeps the complete gzip
 * members, cuts the rest, and renames to the final name; a file without one complete member is
 * set aside as `.corrupt`. Files of live processes and of other hosts are left alone. Call it
 * before the writer opens its first file.
 */
export async function recoverStaleFiles(dir: string, hostname: string, logger: Logger): Promise<void> {
  const pattern = new RegExp(`^(.+-${escapeRegExp(hostname)}-(\\d+)\\.warc\\.gz)\\.open$`);
  for (const entry of await readdir(dir)) {
    const match = pattern.exec(entry);
    if (!match || pidAlive(Number(match[2]))) continue;
    const finalName = match[1]!;
    const path = join(dir, entry);
    const scan = await scanGzipMembers(path);
    if (scan.members === 0) {
      await rename(path, join(dir, `${finalName}.corrupt`));
      logger.warn({ file: entry, bytes: scan.size }, 'stale WARC file has no complete record; set aside as .corrupt');
      continue;
    }
    if (await exists(join(dir, finalName))) {
      logger.error({ file: entry }, 'stale WARC file not recovered: the final name is taken');
      continue;
    }
    const handle = await open(path, 'r+');
    try {
      if (scan.completeLength < scan.size) await handle.truncate(scan.completeLength);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(path, join(dir, finalName));
    await syncDir(dir);
    logger.warn(
      {
        file: finalName,
        records: scan.members,
        keptBytes: scan.completeLength,
        cutBytes: scan.size - scan.completeLength,
      },
      'recovered stale WARC file',
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export interface MemberScan {
  /** File size. */
  size: number;
  /** Bytes from the start covered by complete, CRC-checked members. */
  completeLength: number;
  members: number;
}

const SCAN_CHUNK = 1 << 20;
const FLAG_HCRC = 2;
const FLAG_EXTRA = 4;
const FLAG_NAME = 8;
const FLAG_COMMENT = 16;

/** Walks a file member by member (without holding one in memory) and stops at the first bad one. */
export async function scanGzipMembers(path: string): Promise<MemberScan> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    let position = 0;
    let members = 0;
    while (position < size) {
      const head = Buffer.alloc(Math.min(64 * 1024, size - position));
      await file.read(head, 0, head.length, position);
      const headerLength = gzipHeaderLength(head);
      if (headerLength === undefined) break;
      const inflated = await inflateAt(file, position + headerLength, size);
      if (!inflated) break;
      const trailer = Buffer.alloc(8);
      const trailerAt = position + headerLength + inflated.consumed;
      const { bytesRead } = await file.read(trailer, 0, 8, trailerAt);
      if (bytesRead < 8) break;
      if (trailer.readUInt32LE(0) !== inflated.crc >>> 0) break;
      if (trailer.readUInt32LE(4) !== inflated.length % 2 ** 32) break;
      position = trailerAt + 8;
      members += 1;
    }
    return { size, completeLength: position, members };
  } finally {
    await file.close();
  }
}

/** Length of the gzip header at the start of `buf`, or undefined when it is not one (or cut). */
export function gzipHeaderLength(buf: Buffer): number | undefined {
  if (buf.length < 10 || buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) return undefined;
  const flags = buf[3]!;
  let at = 10;
  if (flags & FLAG_EXTRA) {
    if (buf.length < at + 2) return undefined;
    at += 2 + buf.readUInt16LE(at);
  }
  for (const flag of [FLAG_NAME, FLAG_COMMENT]) {
    if (!(flags & flag)) continue;
    const zero = buf.indexOf(0, at);
    if (zero < 0) return undefined;
    at = zero + 1;
  }
  if (flags & FLAG_HCRC) at += 2;
  return at <= buf.length ? at : undefined;
}

/** Inflates the raw deflate stream at `start`; undefined when it is cut short or corrupt. */
async function inflateAt(
  file: FileHandle,
  start: number,
  size: number,
): Promise<{ consumed: number; crc: number; length: number } | undefined> {
  const inflater = createInflateRaw({ chunkSize: SCAN_CHUNK });
  let crc = 0;
  let length = 0;
  let ended = false;
  let failed = false;
  inflater.on('data', (chunk: Buffer) => {
    crc = crc32(chunk, crc);
    length += chunk.length;
  });
  const done = new Promise<void>((resolve) => {
    inflater.once('end', () => {
      ended = true;
      resolve();
    });
    inflater.once('error', () => {
      failed = true;
      resolve();
    });
  });
  try {
    for (let at = start; at < size && !ended && !failed;) {
      const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, size - at));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      const flushed = new Promise<void>((resolve) => inflater.write(chunk.subarray(0, bytesRead), () => resolve()));
      await Promise.race([flushed, done]);
    }
    if (!ended && !failed) inflater.end();
    await done;
    return ended && !failed ? { consumed: inflater.bytesWritten, crc, length } : undefined;
  } finally {
    inflater.destroy();
  }
}
