// A fixity audit of the `fs` item store from its files alone (the layout fs.ts writes): every
// file `files.json` lists is there with that size, md5, sha1 and sha256; every previous version
// and every content blob still hashes to the sha1 it is stored under; every note is a JSON object.
// Files are hashed streaming, once per inode (a blob and its hard links are read once).
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { describeError } from '../../errors.js';
import { isSafeItemPath, type ItemFile } from './types.js';

const META = '.fileset';
const BLOBS = '.blobs';
const NOTE_NAME = /^\d+(?:-\d+)?\.json$/;

export interface ItemProblem {
  /** `<item>/<path>`, or `.blobs/<sha1>`. */
  where: string;
  message: string;
}

interface Digests {
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
}

export class FsItemAudit {
  items = 0;
  files = 0;
  bytes = 0;
  readonly problems: ItemProblem[] = [];
  private readonly hashed = new Map<string, Promise<Digests>>();

  constructor(private readonly root: string) {}

  /** Item names under the root (directories, not the blob store), sorted. */
  async itemNames(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isDirectory() && e.name !== BLOBS && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  /** Modified at or after `since` (files.json, a note or a version written then). */
  async changedSince(item: string, since: Date): Promise<boolean> {
    const dir = join(this.root, item, META);
    const stamps = await Promise.all(
      ['files.json', 'notes', 'versions'].map((name) =>
        lstat(join(dir, name)).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      ),
    );
    return stamps.some((ms) => ms >= since.getTime());
  }

  async item(item: string): Promise<void> {
    this.items += 1;
    const dir = join(this.root, item);
    let listed: ItemFile[];
    try {
      listed = JSON.parse(await readFile(join(dir, META, 'files.json'), 'utf8')) as ItemFile[];
      if (!Array.isArray(listed)) throw new Error('not a list');
    } catch (err) {
      this.problem(`${item}/${META}/files.json`, `unreadable file list: ${describeError(err)}`);
      listed = [];
    }
    for (const entry of listed) await this.listedFile(item, entry);
    await this.versions(item);
    await this.notes(item);
  }

  /** Every blob hashes to its name. */
  async blobs(): Promise<void> {
    const dir = join(this.root, BLOBS);
    for (const prefix of await readdir(dir).catch(() => [] as string[])) {
      for (const name of await readdir(join(dir, prefix)).catch(() => [] as string[])) {
        if (name.startsWith('.tmp-')) continue;
        const digests = await this.hash(join(dir, prefix, name));
        if (digests && digests.sha1 !== name) this.problem(`${BLOBS}/${name}`, 'content no longer hashes to its sha1');
      }
    }
  }

  private async listedFile(item: string, entry: ItemFile): Promise<void> {
    const where = `${item}/${entry.path}`;
    if (typeof entry.path !== 'string' || !isSafeItemPath(entry.path)) {
      this.problem(where, 'files.json lists an unsafe path');
      return;
    }
    this.files += 1;
    const digests = await this.hash(join(this.root, item, entry.path));
    if (!digests) {
      this.problem(where, 'listed in files.json but missing');
      return;
    }
    this.bytes += digests.size;
    if (digests.size !== entry.size) this.problem(where, `${digests.size} bytes, files.json says ${entry.size}`);
    for (const algorithm of ['md5', 'sha1', 'sha256'] as const) {
      const expected = entry[algorithm];
      if (expected && expected.toLowerCase() !== digests[algorithm]) {
        this.problem(where, `${algorithm} ${digests[algorithm]}, files.json says ${expected}`);
      }
    }
  }

  /** `.fileset/versions/<unix ts>/<path>`: each previous version is still a blob's bytes. */
  private async versions(item: string): Promise<void> {
    const dir = join(this.root, item, META, 'versions');
    for (const stamp of await readdir(dir).catch(() => [] as string[])) {
      if (!/^\d+$/.test(stamp)) {
        this.problem(`${item}/${META}/versions/${stamp}`, 'a version not named by a Unix time stamp');
        continue;
      }
      for (const path of await walk(join(dir, stamp))) {
        const where = `${item}/${relative(join(this.root, item), path).split(sep).join('/')}`;
        const digests = await this.hash(path);
        if (!digests) continue;
        const blob = await lstat(join(this.root, BLOBS, digests.sha1.slice(0, 2), digests.sha1)).catch(() => null);
        if (!blob) this.problem(where, 'previous version whose bytes match no stored content (damaged)');
      }
    }
  }

  private async notes(item: string): Promise<void> {
    const dir = join(this.root, item, META, 'notes');
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.tmp-')) continue;
      const where = `${item}/${META}/notes/${name}`;
      if (!NOTE_NAME.test(name)) {
        this.problem(where, 'a note not named <unix ts>[-<n>].json');
        continue;
      }
      try {
        const note = JSON.parse(await readFile(join(dir, name), 'utf8')) as unknown;
        if (!note || typeof note !== 'object' || Array.isArray(note)) throw new Error('not a JSON object');
      } catch (err) {
        this.problem(where, `unreadable note: ${describeError(err)}`);
      }
    }
  }

  /** md5, sha1 and sha256 of a file, read once per inode; null when it is missing. */
  private hash(path: string): Promise<Digests | null> {
    return lstat(path).then(
      (stats) => {
        const key = inodeKey(stats);
        let digests = this.hashed.get(key);
        if (!digests) {
          digests = hashFile(path, stats.size);
          this.hashed.set(key, digests);
        }
        return digests;
      },
      () => null,
    );
  }

  private problem(where: string, message: string): void {
    this.problems.push({ where, message });
  }
}

function inodeKey(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

async function hashFile(path: string, size: number): Promise<Digests> {
  const md5 = createHash('md5');
  const sha1 = createHash('sha1');
  const sha256 = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    md5.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
    sha256.update(chunk as Buffer);
  }
  return { size, md5: md5.digest('hex'), sha1: sha1.digest('hex'), sha256: sha256.digest('hex') };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.isFile() && !entry.name.startsWith('.tmp-')) out.push(path);
  }
  return out;
}
