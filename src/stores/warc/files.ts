// WARC file housekeeping for the writer: names, payload files, positioned writes and fsync.
import { createHash } from 'node:crypto';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { InfrastructureError } from '../../errors.js';

const READ_SIZE = 1 << 20;

/** `<prefix>-<YYYYMMDDhhmmssSSS>-<serial>-<host>-<pid>.warc.gz` */
export function warcFileName(prefix: string, date: Date, serial: number, hostname: string, pid: number): string {
  const stamp = date.toISOString().replace(/[-:TZ.]/g, '');
  return `${prefix}-${stamp}-${String(serial).padStart(5, '0')}-${hostname}-${pid}.warc.gz`;
}

/** SHA-1 of `prefix` followed by the first `length` bytes of an open file, read in large chunks. */
export async function sha1OfFile(prefix: Buffer[], handle: FileHandle, length: number): Promise<Buffer> {
  const hash = createHash('sha1');
  for (const part of prefix) hash.update(part);
  const chunk = Buffer.allocUnsafe(Math.min(READ_SIZE, length));
  for (let position = 0; position < length;) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, length - position), position);
    if (bytesRead === 0) throw new InfrastructureError(`payload file shrank to ${position} of ${length} bytes`);
    hash.update(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest();
}

/** Pushes the first `length` bytes of an open file into a member: large reads, each a fresh buffer. */
export async function streamFile(
  member: { push(chunk: Buffer): Promise<void> },
  handle: FileHandle,
  length: number,
): Promise<void> {
  for (let position = 0; position < length;) {
    // A fresh buffer per read: the member keeps references to what it was given.
    const chunk = Buffer.allocUnsafe(Math.min(READ_SIZE, length - position));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) throw new InfrastructureError(`payload file shrank to ${position} of ${length} bytes`);
    position += bytesRead;
    await member.push(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead));
  }
}

/** fsync of a directory, so a rename in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The host name as it may appear in a file name. */
export function safeHostname(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_') || 'localhost';
}

/** Opens a payload file and checks it holds exactly the declared bytes (Content-Length must not lie). */
export async function openPayload(path: string, length: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new InfrastructureError(`cannot open payload file ${path}`, { cause: err });
  }
  const { size } = await handle.stat();
  if (size !== length) {
    await handle.close();
    throw new InfrastructureError(`payload file ${path} has ${size} bytes, declared ${length}`);
  }
  return handle;
}

/** Writes all of `chunks` at `position` (a short writev is finished piece by piece); returns the bytes written. */
export async function writeAllAt(handle: FileHandle, chunks: Buffer[], position: number): Promise<number> {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  let done = (await handle.writev(chunks, position)).bytesWritten;
  if (done < total) {
    let skip = done;
    for (const chunk of chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      for (let at = skip; at < chunk.length;) {
        const { bytesWritten } = await handle.write(chunk, at, chunk.length - at, position + done);
        at += bytesWritten;
        done += bytesWritten;
      }
      skip = 0;
    }
  }
  return total;
}

/** Copies the first `length` bytes of the file at `path` into `handle` at `position`, one buffer reused. */
export async function copyFileInto(path: string, length: number, handle: FileHandle, position: number): Promise<void> {
  const source = await openPayload(path, length);
  try {
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(4 * READ_SIZE, length)));
    for (let done = 0; done < length;) {
      const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, length - done), done);
      if (bytesRead === 0) throw new InfrastructureError(`${path} shrank to ${done} of ${length} bytes`);
      await writeAllAt(handle, [buffer.subarray(0, bytesRead)], position + done);
      done += bytesRead;
    }
  } finally {
    await source.close();
  }
}

/** The closed WARC files of a directory (`.warc.gz`, not `.open` ones), sorted; none when it is missing. */
export async function warcFileNames(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((name) => name.endsWith('.warc.gz')).sort();
}
