// Where closed WARC files are shipped (FILESET_WARC_STORE): a destination stores a file under its
// own name, says what it holds under that name (size and digests it computed or checked itself),
// and reads bytes back. The shipper (ship.ts) decides when; this file only moves bytes.
//
//   fs://<dir>/<prefix>     <dir>/<prefix>/<file>, written as a temporary name, fsynced, renamed;
//                           what it holds is hashed again from the disk
//   s3://<bucket>/<prefix>  object <prefix>/<file>, one PUT with Content-MD5 (the store checks the
//                           bytes); what it holds: its size, its ETag (the md5 of a single PUT) and
//                           our sha1 in the object metadata (S3's single-PUT limit is 5 GiB: keep
//                           FILESET_WARC_ROLLOVER_SIZE below it)
//   ias3://<item prefix>    archive.org item <item prefix>-<period>-<host>, file <file>, through the
//                           ias3 item store (its upload protocol and retries); what it holds: the
//                           md5 and sha1 archive.org lists for the file in its metadata API
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Config } from '../../config.js';
import { InfrastructureError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ItemStore } from '../items/types.js';
import type { StoredWarc, WarcDestination, WarcDigests } from './destination-types.js';
import { syncDir } from './files.js';
import { LOCAL_WARC_PREFIX } from './location.js';

export type { StoredWarc, WarcDestination, WarcDigests } from './destination-types.js';

/** md5 and sha1 of a file, in one read. */
export async function fileDigests(path: string): Promise<WarcDigests> {
  const md5 = createHash('md5');
  const sha1 = createHash('sha1');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    md5.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, md5: md5.digest('hex'), sha1: sha1.digest('hex') };
}

/** Whether a stored copy is the file: same size, and every digest the store gave agrees (at least one). */
export function sameFile(stored: StoredWarc | null, local: WarcDigests): boolean {
  if (!stored || stored.size !== local.size) return false;
  if (stored.md5 === undefined && stored.sha1 === undefined) return false;
  return (
    (stored.md5 === undefined || stored.md5 === local.md5) && (stored.sha1 === undefined || stored.sha1 === local.sha1)
  );
}

/**
 * The archive.org item a WARC file goes into: `<prefix>-<period>-<host>`, the period from the
 * file name's time stamp and the host from its name, so that any worker computes the same item
 * for any file (`<warc prefix>-<YYYYMMDDhhmmssSSS>-<serial>-<host>-<pid>.warc.gz`).
 */
export function warcItem(name: string, itemPrefix: string, period: 'day' | 'month'): string {
  const match = /-(\d{17})-\d{5,}-(.+)-\d+\.warc\.gz$/.exec(name);
  if (!match) throw new Error(`not a WARC file name of this program: ${name}`);
  const stamp = match[1]!.slice(0, period === 'day' ? 8 : 6);
  return `${itemPrefix}-${stamp}-${match[2]!}`.slice(0, 100);
}

/**
 * Where each WARC file lives once shipped to the configured store, `<item or prefix>/<file>`
 * (null without one): from the configuration alone, so that results, the CDXJ export and the
 * shipper agree before a file is shipped.
 */
export function warcLocator(config: Config): ((name: string) => string) | null {
  const location = config.warc.store;
  if (!location) return null;
  if (location.kind === 'ias3') {
    const { itemPrefix } = location;
    const period = config.warc.itemPeriod;
    return (name) => `${warcItem(name, itemPrefix, period)}/${name}`;
  }
  const { prefix } = location;
  return (name) => `${prefix}/${name}`;
}

/**
 * The `archive_paths` a pywb collection replays the store's WARC files from: CDXJ filenames
 * (`<item or prefix>/<file>`) are appended to it. pywb reads a remote WARC with HTTP Range
 * requests: an S3 bucket must be readable over HTTP(S) by pywb (public, or behind a proxy).
 */
export function pywbArchivePath(config: Config): string {
  const location = config.warc.store;
  if (!location) return `${join(resolve(config.dataDir), LOCAL_WARC_PREFIX)}/`;
  switch (location.kind) {
    case 'fs':
      return `${location.root.replace(/\/+$/, '')}/`;
    case 's3': {
      const endpoint = config.s3.endpoint?.replace(/\/+$/, '');
      if (endpoint)
        return config.s3.forcePathStyle
          ? `${endpoint}/${location.bucket}/`
          : `${endpoint.replace('://', `://${location.bucket}.`)}/`;
      return `https://${location.bucket}.s3.${config.s3.region}.amazonaws.com/`;
    }
    case 'ias3':
      return `${config.ias3.metadataUrl.replace(/\/+$/, '')}/download/`;
  }
}

export async function openWarcDestination(config: Config, logger: Logger): Promise<WarcDestination | null> {
  const location = config.warc.store;
  if (!location) return null;
  const log = logger.child({ module: 'warc-ship', store: location.kind });
  switch (location.kind) {
    case 'fs':
      return new FsDestination(location.root, location.prefix);
    case 's3': {
      // The AWS SDK is loaded only when an s3 store is configured (as the item store does).
      const { S3Destination } = await import('./destination-s3.js');
      return new S3Destination(location.bucket, location.prefix, config.s3, log);
    }
    case 'ias3': {
      const { createIas3ItemStore } = await import('../items/ias3.js');
      const items = createIas3ItemStore({
        ias3: config.ias3,
        logger: log,
        userAgent: config.userAgent,
        retries: config.http.retries,
      });
      return new Ias3Destination(items, location.itemPrefix, config.warc.itemPeriod, config.warc.itemCollection);
    }
  }
}

export class FsDestination implements WarcDestination {
  readonly kind = 'fs';

  constructor(
    private readonly root: string,
    private readonly prefix: string,
  ) {}

  location(name: string): string {
    return `${this.prefix}/${name}`;
  }

  async put(name: string, path: string): Promise<void> {
    const dir = join(this.root, this.prefix);
    await mkdir(dir, { recursive: true });
    // Never a part file under the final name: a crash leaves at most a `.tmp-*` file here.
    const temp = join(dir, `.${name}.tmp-${randomBytes(4).toString('hex')}`);
    try {
      const out = await open(temp, 'wx');
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) await out.write(chunk as Buffer);
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(temp, join(dir, name));
      await syncDir(dir);
    } catch (err) {
      await rm(temp, { force: true });
      throw new InfrastructureError(`cannot copy WARC ${name} to ${dir}`, { cause: err });
    }
  }

  async stat(name: string): Promise<StoredWarc | null> {
    const path = join(this.root, this.prefix, name);
    const found = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw new InfrastructureError(`cannot read the WARC store at ${path}`, { cause: err });
    });
    if (!found) return null;
    const { size, md5, sha1 } = await fileDigests(path);
    return { size, md5, sha1 };
  }

  async read(location: string): Promise<Readable> {
    return createReadStream(this.describe(location));
  }

  describe(location: string): string {
    return join(this.root, location);
  }

  async close(): Promise<void> {}
}

export class Ias3Destination implements WarcDestination {
  readonly kind = 'ias3';
  /** Items whose metadata this process has set: a new item is made with it before its first file. */
  readonly #made = new Set<string>();

  constructor(
    private readonly items: ItemStore,
    private readonly itemPrefix: string,
    private readonly period: 'day' | 'month',
    private readonly collection: string | undefined,
  ) {}

  location(name: string): string {
    return `${warcItem(name, this.itemPrefix, this.period)}/${name}`;
  }

  async put(name: string, path: string, digests: WarcDigests): Promise<void> {
    const item = warcItem(name, this.itemPrefix, this.period);
    if (!this.#made.has(item)) {
      // What Internet Archive's own crawl items say of themselves: web captures, in WARC files.
      await this.items.setMetadata(item, {
        mediatype: 'web',
        title: `fileset-ingest WARC files ${item}`,
        ...(this.collection ? { collection: this.collection } : {}),
      });
      this.#made.add(item);
    }
    await this.items.putFile(item, {
      path: name,
      size: digests.size,
      md5: digests.md5,
      sha1: digests.sha1,
      sha256: null,
      mimetype: 'application/warc',
      source: path,
    });
  }

  async stat(name: string): Promise<StoredWarc | null> {
    const item = warcItem(name, this.itemPrefix, this.period);
    const file = (await this.items.listFiles(item)).find((f) => f.path === name);
    return file ? { size: file.size, md5: file.md5, sha1: file.sha1 } : null;
  }

  async read(location: string): Promise<Readable> {
    const [item, ...rest] = location.split('/');
    return this.items.readFile(item!, rest.join('/'));
  }

  describe(location: string): string {
    const [item, ...rest] = location.split('/');
    return this.items.locate(item!, rest.join('/'));
  }

  close(): Promise<void> {
    return this.items.close();
  }
}
