// The `s3` item store: any S3-compatible object store (AWS S3, MinIO, Ceph, S3Proxy, ...).
//
//   <prefix>/<item>/<manifest path>                      the current file; x-amz-meta-md5, -sha1,
//                                                         -sha256, -mimetype and Content-Type
//   <prefix>/<item>/.fileset/meta.json                   item metadata
//   <prefix>/<item>/.fileset/notes/<unix ts>[-<n>].json  one note per ingest
//   <prefix>/<item>/.fileset/versions/<unix ts>/<path>   a previous version (server-side copy)
//
// The file list is read from the objects themselves (ListObjectsV2, then HeadObject for the
// hashes), not from a files.json beside them: a sidecar written after an upload can be lost to a
// crash or a failed write and then claim a file that is not there; an object cannot disagree with
// itself. An object appears whole (one PutObject or a completed multipart upload), so a reader sees
// the old bytes or the new, never a part. Bodies are streamed from the local file, never buffered.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline, Transform, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';
import { ItemUploadError } from '../../errors.js';
import { mapLimit } from '../../map-limit.js';
import { retry } from '../../retry.js';
import { classify, describeS3Error, s3Client, storeError } from './s3-client.js';
import { redactUrl, type Logger } from '../../logger.js';
import { createItemStore } from './item-store.js';
import { isSafeItemPath, type ItemBackend, type ItemFile, type ItemStore, type PutFile } from './types.js';

/** S3 allows at most 10,000 parts to an upload, and copies at most 5 GiB with one CopyObject. */
const MAX_PARTS = 10_000;
const MAX_COPY_SIZE = 5 * 1024 ** 3;
/** Tries of one request with a file body: the SDK never retries a streamed body, so we do. */
const BODY_ATTEMPTS = 3;
const BODY_BACKOFF = { baseMs: 250, maxMs: 2000 };
const HEAD_CONCURRENCY = 8;

export interface S3ItemStoreOptions {
  bucket: string;
  /** Key prefix without leading or trailing `/`; empty for the bucket's root. */
  prefix: string;
  s3: Config['s3'];
  logger: Logger;
  now?: () => Date;
  /** Largest object copied by one CopyObject; larger ones are copied in parts (tests lower it). */
  maxCopySize?: number;
  /** Keys per ListObjectsV2 page (S3's default is 1000; tests lower it). */
  listPageSize?: number;
}

export function createS3ItemStore(options: S3ItemStoreOptions): ItemStore {
  return createItemStore(new S3Backend(options), options.now ? { now: options.now } : {});
}

class S3Backend implements ItemBackend {
  readonly kind = 's3';
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #maxCopySize: number;
  readonly #pageSize: number | undefined;
  readonly #log: Logger;

  constructor(options: S3ItemStoreOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.#partSize = options.s3.partSize;
    this.#maxCopySize = options.maxCopySize ?? MAX_COPY_SIZE;
    this.#pageSize = options.listPageSize;
    // Only names go into the logger's context: never the s3 config, which holds the secret key.
    this.#log = options.logger.child({ bucket: this.#bucket, prefix: this.#prefix });
    this.#client = s3Client(options.s3, this.#log);
    const { endpoint, region, forcePathStyle, accessKeyId } = options.s3;
    const credentials = accessKeyId ? 'configured' : 'SDK default chain';
    const where = {
      endpoint: endpoint ? redactUrl(endpoint) : '(AWS)',
      region,
      forcePathStyle,
      partSize: this.#partSize,
      credentials,
    };
    this.#log.debug(where, 's3 item store opened');
  }

  async listFiles(item: string, signal?: AbortSignal): Promise<ItemFile[]> {
    const base = this.#base(item);
    const files: ItemFile[] = [];
    try {
      const keys = (await this.#listKeys(base, signal)).filter((key) => !key.startsWith(`${base}.fileset/`));
      const heads = await mapLimit(keys, HEAD_CONCURRENCY, (key) => this.#head(key, signal));
      heads.forEach((head, j) => {
        const path = keys[j]!.slice(base.length);
        const file = head ? listedFile(path, head) : null;
        if (file) files.push(file);
        else if (head) this.#log.warn({ item, path }, 'object without fileset hash metadata: not listed');
      });
    } catch (err) {
      throw storeError(err, 'read', `list ${base}`);
    }
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async putFile(item: string, file: PutFile, previousVersion: string, signal?: AbortSignal): Promise<void> {
    const key = this.#base(item) + file.path;
    const { size } = await stat(file.source);
    if (size !== file.size) throw new Error(`${file.source} holds ${size} bytes, not the ${file.size} of ${file.path}`);
    try {
      const current = await this.#head(key, signal);
      if (current && current.ContentLength === file.size && current.Metadata?.sha1 === file.sha1) {
        this.#log.debug({ item, path: file.path }, 'identical file already stored');
        return;
      }
      if (current) await this.#keepVersion(item, file.path, previousVersion, current, signal);
      if (file.size > this.#partSize) await this.#putInParts(key, file, signal);
      else await this.#putWhole(key, file, signal);
    } catch (err) {
      throw storeError(err, 'write', `put ${key}`);
    }
    this.#log.debug({ item, path: file.path, size: file.size, multipart: file.size > this.#partSize }, 'file stored');
  }

  async readFile(item: string, path: string): Promise<Readable> {
    const key = this.#base(item) + path;
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      if (!out.Body) throw new Error(`s3 returned no body for ${key}`);
      return out.Body as Readable;
    } catch (err) {
      if (classify(err) === 'missing')
        throw new Error(`no file ${JSON.stringify(path)} in item ${item} (${this.locate(item, path)})`);
      throw storeError(err, 'read', `get ${key}`);
    }
  }

  async setMetadata(item: string, metadata: Record<string, unknown>): Promise<void> {
    await this.#putJson(`${this.#base(item)}.fileset/meta.json`, metadata);
  }

  async getMetadata(item: string): Promise<Record<string, unknown> | null> {
    return this.#getJson(`${this.#base(item)}.fileset/meta.json`);
  }

  /** If-None-Match: a name another writer took first is refused (false). */
  async createNote(item: string, name: string, body: Buffer): Promise<boolean> {
    return this.#putJson(`${this.#base(item)}.fileset/notes/${name}`, body, { unique: true });
  }

  async noteNames(item: string): Promise<string[]> {
    const dir = `${this.#base(item)}.fileset/notes/`;
    try {
      return (await this.#listKeys(dir)).map((key) => key.slice(dir.length));
    } catch (err) {
      throw storeError(err, 'read', `list ${dir}`);
    }
  }

  async readNote(item: string, name: string): Promise<Buffer | null> {
    return this.#getBytes(`${this.#base(item)}.fileset/notes/${name}`);
  }

  locate(item: string, path?: string): string {
    return `s3://${this.#bucket}/${this.#base(item)}${path ?? ''}`;
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  #base(item: string): string {
    return this.#prefix ? `${this.#prefix}/${item}/` : `${item}/`;
  }

  /** The object's headers and metadata, or null when there is no such object. */
  async #head(key: string, signal?: AbortSignal): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }), {
        abortSignal: signal,
      });
    } catch (err) {
      if (classify(err) === 'missing') return null;
      throw err;
    }
  }

  async #listKeys(prefix: string, signal?: AbortSignal): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: prefix,
          ContinuationToken: token,
          MaxKeys: this.#pageSize,
        }),
        { abortSignal: signal },
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async #putWhole(key: string, file: PutFile, signal?: AbortSignal): Promise<void> {
    // Content-MD5: the store checks the bytes it received against the md5 we verified.
    const md5 = Buffer.from(file.md5, 'hex').toString('base64');
    await this.#sendFile(
      `put ${key}`,
      signal,
      () => createReadStream(file.source),
      (body) => {
        const put = {
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentLength: file.size,
          ContentMD5: md5,
          ...objectHeaders(file),
        };
        return this.#client.send(new PutObjectCommand(put), { abortSignal: signal });
      },
    );
  }

  /** A multipart upload, each part streamed from its byte range; the whole is checked by sha1 before it is completed. */
  async #putInParts(key: string, file: PutFile, signal?: AbortSignal): Promise<void> {
    await this.#multipart(key, objectHeaders(file), signal, async (uploadId) => {
      const partSize = Math.max(this.#partSize, Math.ceil(file.size / MAX_PARTS));
      const parts: CompletedPart[] = [];
      let sha1 = createHash('sha1');
      for (let start = 0, number = 1; start < file.size; start += partSize, number++) {
        const end = Math.min(start + partSize, file.size);
        let attempt = sha1;
        const out = await this.#sendFile(
          `put ${key} part ${number}`,
          signal,
          // Each try hashes into a copy of the running sha1, so a retried part is hashed once.
          () => hashing(createReadStream(file.source, { start, end: end - 1 }), (attempt = sha1.copy())),
          (body) => {
            const part = {
              Bucket: this.#bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: number,
              Body: body,
              ContentLength: end - start,
            };
            return this.#client.send(new UploadPartCommand(part), { abortSignal: signal });
          },
        );
        sha1 = attempt;
        parts.push({ PartNumber: number, ETag: out.ETag });
      }
      const digest = sha1.digest('hex');
      if (digest !== file.sha1)
        throw new ItemUploadError(
          `the bytes read from ${file.source} have sha1 ${digest}, not ${file.sha1}: upload abandoned`,
        );
      return parts;
    });
  }

  /** Copies the current object to `.fileset/versions/<unix ts>/<path>` (server side) before it is replaced. */
  async #keepVersion(
    item: string,
    path: string,
    previousVersion: string,
    current: HeadObjectCommandOutput,
    signal?: AbortSignal,
  ): Promise<void> {
    const kept = `${this.#base(item)}${previousVersion}`;
    const source = `${this.#bucket}/${encodeKey(this.#base(item) + path)}`;
    const size = current.ContentLength ?? 0;
    if (size <= this.#maxCopySize) {
      const copy = { Bucket: this.#bucket, Key: kept, CopySource: source, MetadataDirective: 'COPY' as const };
      await this.#client.send(new CopyObjectCommand(copy), { abortSignal: signal });
    } else {
      const headers = { ContentType: current.ContentType, Metadata: current.Metadata };
      await this.#multipart(kept, headers, signal, async (uploadId) => {
        const partSize = Math.max(this.#partSize, Math.ceil(size / MAX_PARTS));
        const parts: CompletedPart[] = [];
        for (let start = 0, number = 1; start < size; start += partSize, number++) {
          const range = `bytes=${start}-${Math.min(start + partSize, size) - 1}`;
          const part = {
            Bucket: this.#bucket,
            Key: kept,
            UploadId: uploadId,
            PartNumber: number,
            CopySource: source,
            CopySourceRange: range,
          };
          const out = await this.#client.send(new UploadPartCopyCommand(part), { abortSignal: signal });
          parts.push({ PartNumber: number, ETag: out.CopyPartResult?.ETag });
        }
        return parts;
      });
    }
    this.#log.info({ item, path, kept }, 'kept the previous version of a replaced file');
  }

  /** Creates a multipart upload, lets `upload` send its parts, completes it; aborts it on any failure. */
  async #multipart(
    key: string,
    headers: { ContentType?: string | undefined; Metadata?: Record<string, string> | undefined },
    signal: AbortSignal | undefined,
    upload: (uploadId: string) => Promise<CompletedPart[]>,
  ): Promise<void> {
    const created = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: key, ...headers }),
      { abortSignal: signal },
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`s3 gave no UploadId for ${key}`);
    try {
      const parts = await upload(uploadId);
      const complete = { Bucket: this.#bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } };
      await this.#client.send(new CompleteMultipartUploadCommand(complete), { abortSignal: signal });
    } catch (err) {
      // Not under `signal`: an upload abandoned because of an abort must still be aborted.
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }))
        .catch((abortErr: unknown) =>
          this.#log.warn(
            { key, uploadId, error: describeS3Error(abortErr) },
            'could not abort a failed multipart upload: a bucket lifecycle rule must remove it',
          ),
        );
      throw err;
    }
  }

  /** Sends a request whose body is opened afresh for each try (up to BODY_ATTEMPTS, on transient failures). */
  async #sendFile<T>(
    what: string,
    signal: AbortSignal | undefined,
    open: () => Readable,
    send: (body: Readable) => Promise<T>,
  ): Promise<T> {
    return retry(
      async () => {
        const body = open();
        try {
          return await send(body);
        } catch (err) {
          body.destroy();
          throw err;
        }
      },
      {
        retries: BODY_ATTEMPTS - 1,
        backoff: BODY_BACKOFF,
        retryable: (err) => !signal?.aborted && classify(err) === 'transient',
        onRetry: (err, n) =>
          this.#log.warn(
            { what, attempt: n + 1, error: describeS3Error(err) },
            's3 upload failed; trying again with the file read afresh',
          ),
        ...(signal ? { signal } : {}),
      },
    );
  }

  /** Writes a small JSON document (a value, or its bytes); with `unique`, only if the key is free (false when it is taken). */
  async #putJson(key: string, value: unknown, options: { unique?: boolean } = {}): Promise<boolean> {
    try {
      const body = Buffer.isBuffer(value) ? value : `${JSON.stringify(value, null, 2)}\n`;
      const ifNoneMatch = options.unique ? '*' : undefined;
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          IfNoneMatch: ifNoneMatch,
        }),
      );
      return true;
    } catch (err) {
      if (options.unique && classify(err) === 'taken') return false;
      throw storeError(err, 'write', `put ${key}`);
    }
  }

  async #getJson(key: string): Promise<Record<string, unknown> | null> {
    const bytes = await this.#getBytes(key);
    return bytes ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown> | null) : null;
  }

  /** A small object's bytes, or null when there is none. */
  async #getBytes(key: string): Promise<Buffer | null> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
    } catch (err) {
      if (classify(err) === 'missing') return null;
      throw storeError(err, 'read', `get ${key}`);
    }
  }
}

/** Content-Type and the hashes as x-amz-meta-* (a mimetype that is not plain ASCII is left out). */
function objectHeaders(file: PutFile): { ContentType: string; Metadata: Record<string, string> } {
  const mimetype = file.mimetype && /^[\x20-\x7e]+$/.test(file.mimetype) ? file.mimetype : null;
  const metadata: Record<string, string> = { md5: file.md5, sha1: file.sha1 };
  if (file.sha256) metadata.sha256 = file.sha256;
  if (mimetype) metadata.mimetype = mimetype;
  return { ContentType: mimetype ?? 'application/octet-stream', Metadata: metadata };
}

/** The listing entry of an object, or null when it carries no fileset hashes (not put by a store). */
function listedFile(path: string, head: HeadObjectCommandOutput): ItemFile | null {
  const meta = head.Metadata ?? {};
  if (!meta.md5 || !meta.sha1 || !isSafeItemPath(path)) return null;
  return {
    path,
    size: head.ContentLength ?? 0,
    md5: meta.md5,
    sha1: meta.sha1,
    sha256: meta.sha256 ?? null,
    mimetype: meta.mimetype ?? null,
  };
}

/** A CopySource names `bucket/key` URL-encoded, `/` kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** `source` passed through `hash`; destroying the result closes the file. */
function hashing(source: Readable, hash: Hash): Readable {
  const through = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return pipeline(source, through, () => {});
}
