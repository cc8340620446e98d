// A fixity audit of the `s3` item store (the layout s3.ts writes): every object of an item carries
// the hashes the store recorded when it put it (x-amz-meta-md5, -sha1, -sha256), and its bytes,
// read back streaming, must still have that size and those hashes. An object without them was not
// put by a store and is named too (s3.ts leaves it out of the item's file list). Item metadata,
// notes and previous versions under .fileset/ are the store's own and are not audited here.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { ItemProblem } from './fs-audit.js';
import { s3Client, storeError } from './s3-client.js';
import { isSafeItemPath, ITEM_NAME } from './types.js';

const META = '.fileset/';

export interface S3AuditOptions {
  bucket: string;
  prefix: string;
  s3: Config['s3'];
  logger: Logger;
}

export class S3ItemAudit {
  items = 0;
  files = 0;
  bytes = 0;
  readonly problems: ItemProblem[] = [];
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3AuditOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.#client = s3Client(options.s3, options.logger);
  }

  /** Item names under the prefix, sorted. */
  async itemNames(): Promise<string[]> {
    const names: string[] = [];
    await this.#list(this.#prefix ? `${this.#prefix}/` : '', '/', (page) => {
      for (const common of page.CommonPrefixes ?? []) {
        const name = common.Prefix?.slice(this.#prefix ? this.#prefix.length + 1 : 0).replace(/\/$/, '');
        if (name && ITEM_NAME.test(name)) names.push(name);
      }
    });
    return names.sort();
  }

  /** An object of the item was written at or after `since`. */
  async changedSince(item: string, since: Date): Promise<boolean> {
    let changed = false;
    await this.#list(this.#base(item), undefined, (page) => {
      changed ||= (page.Contents ?? []).some((o) => o.LastModified && o.LastModified >= since);
    });
    return changed;
  }

  async item(item: string): Promise<void> {
    this.items += 1;
    const base = this.#base(item);
    const keys: string[] = [];
    await this.#list(base, undefined, (page) => {
      for (const object of page.Contents ?? [])
        if (object.Key && !object.Key.startsWith(`${base}${META}`)) keys.push(object.Key);
    });
    for (const key of keys.sort()) await this.#object(item, key.slice(base.length), key);
  }

  async close(): Promise<void> {
    this.#client.destroy();
    return Promise.resolve();
  }

  async #object(item: string, path: string, key: string): Promise<void> {
    const where = `${item}/${path}`;
    if (!isSafeItemPath(path)) return this.#problem(where, 'an object at an unsafe path');
    this.files += 1;
    const head = await this.#send(`head ${key}`, () =>
      this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key })),
    );
    const meta = head.Metadata ?? {};
    if (!meta.md5 || !meta.sha1) return this.#problem(where, 'an object without the hashes a store records');
    const object = await this.#send(`get ${key}`, () =>
      this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key })),
    );
    const digests = await hashStream(object.Body as Readable);
    this.bytes += digests.size;
    if (digests.size !== head.ContentLength) {
      this.#problem(where, `${digests.size} bytes read, the object says ${head.ContentLength}`);
    }
    for (const algorithm of ['md5', 'sha1', 'sha256'] as const) {
      const expected = meta[algorithm];
      if (expected && expected.toLowerCase() !== digests[algorithm]) {
        this.#problem(where, `${algorithm} ${digests[algorithm]}, the store recorded ${expected}`);
      }
    }
  }

  async #list(prefix: string, delimiter: string | undefined, onPage: (page: ListPage) => void): Promise<void> {
    let token: string | undefined;
    do {
      const page = (await this.#send(`list ${prefix}`, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            ContinuationToken: token,
          }),
        ),
      )) as ListPage;
      onPage(page);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #send<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw storeError(err, 'read', what);
    }
  }

  #base(item: string): string {
    return this.#prefix ? `${this.#prefix}/${item}/` : `${item}/`;
  }

  #problem(where: string, message: string): void {
    this.problems.push({ where, message });
  }
}

interface ListPage {
  Contents?: Array<{ Key?: string; LastModified?: Date }>;
  CommonPrefixes?: Array<{ Prefix?: string }>;
  IsTruncated?: boolean;
  NextContinuationToken?: string;
}

async function hashStream(body: Readable): Promise<{ size: number; md5: string; sha1: string; sha256: string }> {
  const md5 = createHash('md5');
  const sha1 = createHash('sha1');
  const sha256 = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    md5.update(buffer);
    sha1.update(buffer);
    sha256.update(buffer);
  }
  return { size, md5: md5.digest('hex'), sha1: sha1.digest('hex'), sha256: sha256.digest('hex') };
}
