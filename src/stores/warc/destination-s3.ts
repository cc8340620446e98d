// The s3:// WARC destination (see destination.ts), on the item store's S3 client and its reading of
// S3 failures. Its own module, so that the AWS SDK is loaded only when an s3 store is configured.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';
import { InfrastructureError } from '../../errors.js';
import { redactUrl, type Logger } from '../../logger.js';
import { classify, s3Client, storeError } from '../items/s3-client.js';
import type { StoredWarc, WarcDestination, WarcDigests } from './destination-types.js';

export class S3Destination implements WarcDestination {
  readonly kind = 's3';
  readonly #client: S3Client;

  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly s3: Config['s3'],
    log: Logger,
  ) {
    this.#client = s3Client(s3, log.child({ bucket, prefix }));
  }

  location(name: string): string {
    return `${this.prefix}/${name}`;
  }

  async put(name: string, path: string, digests: WarcDigests): Promise<void> {
    const key = this.location(name);
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: digests.size,
          // The store refuses bytes whose md5 is not this (400 BadDigest): nothing half-sent lands.
          ContentMD5: Buffer.from(digests.md5, 'hex').toString('base64'),
          ContentType: 'application/warc',
          Metadata: { sha1: digests.sha1 },
        }),
      );
    } catch (err) {
      // Every failure to store a WARC is the store's trouble to wait out: the file stays local.
      const mapped = storeError(err, 'write', `put ${key}`);
      throw mapped instanceof InfrastructureError ? mapped : new InfrastructureError(String(mapped), { cause: err });
    }
  }

  async stat(name: string): Promise<StoredWarc | null> {
    const key = this.location(name);
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      // A single PUT's ETag is the md5 of the bytes the store holds; a multipart one's is not.
      const etag = head.ETag?.replace(/"/g, '').toLowerCase();
      const md5 = etag && /^[0-9a-f]{32}$/.test(etag) ? etag : undefined;
      const sha1 = head.Metadata?.sha1;
      return { size: head.ContentLength ?? -1, ...(md5 ? { md5 } : {}), ...(sha1 ? { sha1 } : {}) };
    } catch (err) {
      if (
        classify(err) === 'missing' ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return null;
      throw storeError(err, 'read', `head ${key}`);
    }
  }

  async read(location: string): Promise<Readable> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: location }));
      if (!out.Body) throw new InfrastructureError(`s3 returned no body for ${location}`);
      return out.Body as Readable;
    } catch (err) {
      throw storeError(err, 'read', `get ${location}`);
    }
  }

  describe(location: string): string {
    const endpoint = this.s3.endpoint ? `${redactUrl(this.s3.endpoint).replace(/\/+$/, '')}/` : '';
    return `${endpoint ? `${endpoint}${this.bucket}/` : `s3://${this.bucket}/`}${location}`;
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}
