// The `fs` item store: plain directories anyone can read without a database.
//
//   <root>/<item>/<manifest path>                    the current version of each file
//   <root>/<item>/.fileset/meta.json                 item metadata
//   <root>/<item>/.fileset/files.json                [{path, size, md5, sha1, sha256, mimetype}], by path
//   <root>/<item>/.fileset/notes/<unix ts>.json      one note per ingest (what was done, the result)
//   <root>/<item>/.fileset/versions/<unix ts>/<path> a previous version that a renewal replaced
//   <root>/.blobs/<sha1[0:2]>/<sha1>                 content store: every stored file is a hard link
//
// Identical content anywhere in the store is one inode. Every write goes to a `.tmp-*` name first
// and is renamed into place, so a crash never leaves a part file under a final name (a killed
// writer may leave a `.tmp-*` file behind: it is never listed and safe to delete). One item is
// written by one process at a time (the worker that holds its request); within the process, writes
// to one item's file list are serialised.
import { randomBytes, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InfrastructureError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { createItemStore } from './item-store.js';
import type { ItemBackend, ItemFile, ItemStore, PutFile } from './types.js';

/** Errors that mean our disk is in trouble, not that the request is bad. */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EIO', 'EROFS', 'EMFILE', 'ENFILE']);

export interface FsItemStoreOptions {
  root: string;
  logger: Logger;
  now?: () => Date;
}

export function createFsItemStore(options: FsItemStoreOptions): ItemStore {
  return createItemStore(new FsBackend(options.root), options.now ? { now: options.now } : {});
}

class FsBackend implements ItemBackend {
  readonly kind = 'fs';
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(private readonly root: string) {}

  async listFiles(item: string): Promise<ItemFile[]> {
    return (await readJson<ItemFile[]>(this.#sidecar(item, 'files.json'))) ?? [];
  }

  async putFile(item: string, file: PutFile, previousVersion: string): Promise<void> {
    await disk(async () => {
      const blob = await this.#blob(file);
      await this.#withItem(item, async () => {
        const files = await this.listFiles(item);
        const current = files.find((f) => f.path === file.path);
        if (current && current.sha1 === file.sha1 && current.size === file.size) return;
        const target = join(this.#itemDir(item), file.path);
        await mkdir(dirname(target), { recursive: true });
        if (current) {
          const kept = join(this.#itemDir(item), previousVersion);
          await mkdir(dirname(kept), { recursive: true });
          await rename(target, kept).catch(ignore('ENOENT'));
        }
        const temp = tempName(target);
        await link(blob, temp);
        await rename(temp, target);
        const entry: ItemFile = {
          path: file.path,
          size: file.size,
          md5: file.md5,
          sha1: file.sha1,
          sha256: file.sha256,
          mimetype: file.mimetype,
        };
        const next = [...files.filter((f) => f.path !== file.path), entry].sort((a, b) => (a.path < b.path ? -1 : 1));
        await writeJson(this.#sidecar(item, 'files.json'), next);
      });
    });
  }

  async readFile(item: string, path: string): Promise<Readable> {
    const handle = await open(join(this.#itemDir(item), path), 'r');
    return handle.createReadStream();
  }

  async setMetadata(item: string, metadata: Record<string, unknown>): Promise<void> {
    await disk(() => this.#withItem(item, () => writeJson(this.#sidecar(item, 'meta.json'), metadata)));
  }

  async getMetadata(item: string): Promise<Record<string, unknown> | null> {
    return readJson<Record<string, unknown>>(this.#sidecar(item, 'meta.json'));
  }

  /** Exclusive: the note is written under a temporary name and linked to its own, which fails if that is taken. */
  async createNote(item: string, name: string, body: Buffer): Promise<boolean> {
    const target = join(this.#sidecar(item, 'notes'), name);
    return disk(async () => {
      await mkdir(dirname(target), { recursive: true });
      const temp = tempName(target);
      try {
        await writeSynced(temp, body);
        return await link(temp, target).then(
          () => true,
          (err: { code?: string }) => {
            if (err.code === 'EEXIST') return false;
            throw err;
          },
        );
      } finally {
        await rm(temp, { force: true });
      }
    });
  }

  async noteNames(item: string): Promise<string[]> {
    return (await readdir(this.#sidecar(item, 'notes')).catch(ignore('ENOENT'))) ?? [];
  }

  async readNote(item: string, name: string): Promise<Buffer | null> {
    return (await readFile(join(this.#sidecar(item, 'notes'), name)).catch(ignore('ENOENT'))) ?? null;
  }

  locate(item: string, path?: string): string {
    return path ? join(this.#itemDir(item), path) : this.#itemDir(item);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#locks.values());
  }

  #itemDir(item: string): string {
    return join(this.root, item);
  }

  #sidecar(item: string, name: string): string {
    return join(this.#itemDir(item), '.fileset', name);
  }

  /** The blob holding the file's bytes: copied (and checked) once, then shared by hard links. */
  async #blob(file: PutFile): Promise<string> {
    if (!/^[0-9a-f]{40}$/.test(file.sha1)) throw new Error(`not a sha1: ${file.sha1}`);
    const blob = join(this.root, '.blobs', file.sha1.slice(0, 2), file.sha1);
    if (await exists(blob)) return blob;
    await mkdir(dirname(blob), { recursive: true });
    const temp = tempName(blob);
    try {
      // A source on the same file system is taken by a hard link and only read to check it;
      // elsewhere it is copied while checked. Either way the bytes are checked before they count.
      const linked = await link(file.source, temp).then(
        () => true,
        (err: { code?: string }) => {
          if (err.code === 'EXDEV' || err.code === 'EPERM' || err.code === 'EMLINK') return false;
          throw err;
        },
      );
      const { size, digest } = linked ? await sha1Of(temp) : await copyChecked(file.source, temp);
      if (size !== file.size || digest !== file.sha1) {
        throw new Error(
          `${file.source} is ${size} bytes with sha1 ${digest}, not ${file.size} bytes with sha1 ${file.sha1}`,
        );
      }
      await fsync(temp);
      await rename(temp, blob);
    } finally {
      await rm(temp, { force: true });
    }
    return blob;
  }

  /** Runs `task` after every earlier task of the same item. */
  async #withItem<T>(item: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(item) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.catch(() => {});
    this.#locks.set(item, settled);
    try {
      return await run;
    } finally {
      if (this.#locks.get(item) === settled) this.#locks.delete(item);
    }
  }
}

async function sha1Of(path: string): Promise<{ size: number; digest: string }> {
  const sha1 = createHash('sha1');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sha1.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, digest: sha1.digest('hex') };
}

async function copyChecked(source: string, target: string): Promise<{ size: number; digest: string }> {
  const sha1 = createHash('sha1');
  let size = 0;
  await pipeline(
    createReadStream(source, { highWaterMark: 1 << 20 }),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        sha1.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(target, { flags: 'wx' }),
  );
  return { size, digest: sha1.digest('hex') };
}

function tempName(path: string): string {
  return join(dirname(path), `.tmp-${randomBytes(6).toString('hex')}`);
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempName(path);
  try {
    await writeSynced(temp, Buffer.from(`${JSON.stringify(value, null, 2)}\n`));
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

/** A new file holding `bytes`, on disk before this returns. */
async function writeSynced(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  const text = await readFile(path, 'utf8').catch(ignore('ENOENT'));
  return text === undefined ? null : (JSON.parse(text) as T);
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(ignore('ENOENT'))) !== undefined;
}

/** A catch handler that turns the named error code into undefined. */
function ignore(code: string) {
  return (err: unknown): undefined => {
    if ((err as { code?: string }).code === code) return undefined;
    throw err;
  };
}

/** Disk trouble is ours, not the dataset's: it becomes an InfrastructureError (the request is retried). */
async function disk<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code && DISK_CODES.has(code))
      throw new InfrastructureError(`item store disk error: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}
