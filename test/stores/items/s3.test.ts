// The s3 item store against a real S3 server (S3Proxy, filesystem provider), started by the harness.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  describeError,
  InfrastructureError,
  IngestError,
  ItemUploadError,
  ServiceUnavailableError,
} from '../../../src/errors.js';
import { createS3ItemStore, type S3ItemStoreOptions } from '../../../src/stores/items/s3.js';
import { checkBucket } from '../../../src/stores/items/s3-client.js';
import { type ItemStore, type PutFile } from '../../../src/stores/items/types.js';
import { silentLogger } from '../../support/context.js';
import { startS3Proxy, type S3Proxy } from '../../support/s3proxy.js';
import { itemStoreContract, localFile } from './contract.js';

const PART = 5 * 1024 * 1024;
const MARCH_1 = new Date('2026-03-01T00:00:00Z'); // unix 1772323200
const MARCH_2 = new Date('2026-03-02T00:00:00Z'); // unix 1772409600

let proxy: S3Proxy;
let admin: S3Client;
let dir: string;
let serial = 0;

beforeAll(async () => {
  proxy = await startS3Proxy();
  admin = proxy.client();
  dir = await mkdtemp(join(tmpdir(), 'items-s3-'));
}, 300_000);

afterAll(async () => {
  admin?.destroy();
  await proxy?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

itemStoreContract(
  's3',
  async () =>
    createS3ItemStore({
      bucket: proxy.bucket,
      prefix: 'contract',
      s3: proxy.config({ partSize: PART }),
      logger: silentLogger,
    }),
  { knowsSha256: true, largeFileSize: 2 * PART + 4321 },
);

const local = (path: string, text: string, mimetype: string | null = 'text/plain'): Promise<PutFile> =>
  localFile(dir, path, text, mimetype);

/** A file of `size` random bytes, written and hashed in 1 MiB chunks. */
async function largeLocal(path: string, size: number): Promise<PutFile> {
  const source = join(dir, `large-${++serial}`);
  const [md5, sha1, sha256] = ['md5', 'sha1', 'sha256'].map((alg) => createHash(alg));
  await pipeline(
    (async function* () {
      for (let left = size; left > 0; left -= 1 << 20) {
        const chunk = randomBytes(Math.min(left, 1 << 20));
        for (const hash of [md5, sha1, sha256]) hash!.update(chunk);
        yield chunk;
      }
    })(),
    createWriteStream(source),
  );
  return {
    path,
    source,
    size,
    md5: md5!.digest('hex'),
    sha1: sha1!.digest('hex'),
    sha256: sha256!.digest('hex'),
    mimetype: 'application/octet-stream',
  };
}

/** S3's ETag of a multipart object: md5 of the parts' md5s, then `-<number of parts>`. */
async function multipartEtag(source: string, size: number, partSize: number): Promise<string> {
  const digests: Buffer[] = [];
  for (let start = 0; start < size; start += partSize) {
    const md5 = createHash('md5');
    for await (const chunk of createReadStream(source, { start, end: Math.min(start + partSize, size) - 1 }))
      md5.update(chunk as Buffer);
    digests.push(md5.digest());
  }
  return `"${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}"`;
}

async function keys(prefix: string): Promise<string[]> {
  const out = await admin.send(new ListObjectsV2Command({ Bucket: proxy.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

const head = (key: string) => admin.send(new HeadObjectCommand({ Bucket: proxy.bucket, Key: key }));

async function sha1Of(key: string): Promise<string> {
  const out = await admin.send(new GetObjectCommand({ Bucket: proxy.bucket, Key: key }));
  const sha1 = createHash('sha1');
  for await (const chunk of out.Body as AsyncIterable<Buffer>) sha1.update(chunk);
  return sha1.digest('hex');
}

async function text(key: string): Promise<string> {
  const out = await admin.send(new GetObjectCommand({ Bucket: proxy.bucket, Key: key }));
  return out.Body!.transformToString('utf8');
}

/** A port nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('s3 item store', () => {
  const stores: ItemStore[] = [];
  let clock: Date;
  function open(prefix: string, options: Partial<S3ItemStoreOptions> = {}): ItemStore {
    const store = createS3ItemStore({
      bucket: proxy.bucket,
      prefix,
      s3: proxy.config({ partSize: PART }),
      logger: silentLogger,
      now: () => clock,
      ...options,
    });
    stores.push(store);
    return store;
  }

  afterEach(async () => {
    clock = MARCH_1;
    for (const store of stores.splice(0)) await store.close();
  });

  it('lays out <prefix>/<item>/<path>, .fileset/meta.json and notes, with hashes and mimetype as object metadata', async () => {
    clock = MARCH_1;
    const store = open('/layout/v1/');
    const file = await local('data/table.csv', 'a,b\n', 'text/csv');
    await store.putFile('item-a', file);
    await store.setMetadata('item-a', { title: 'T' });
    await store.writeNote('item-a', { time: MARCH_1, status: 'success' });
    expect(await keys('layout/')).toEqual([
      'layout/v1/item-a/.fileset/meta.json',
      'layout/v1/item-a/.fileset/notes/1772323200.json',
      'layout/v1/item-a/data/table.csv',
    ]);
    const object = await head('layout/v1/item-a/data/table.csv');
    expect(object.ContentType).toBe('text/csv');
    expect(object.Metadata).toEqual({ md5: file.md5, sha1: file.sha1, sha256: file.sha256, mimetype: 'text/csv' });
    expect(JSON.parse(await text('layout/v1/item-a/.fileset/notes/1772323200.json'))).toEqual({
      time: '2026-03-01T00:00:00.000Z',
      status: 'success',
    });
    expect(JSON.parse(await text('layout/v1/item-a/.fileset/meta.json'))).toEqual({ title: 'T' });
    expect(store.locate('item-a', 'data/table.csv')).toBe(`s3://${proxy.bucket}/layout/v1/item-a/data/table.csv`);
  });

  it('with an empty prefix, keys start at the item (no leading slash); no mimetype is octet-stream without metadata', async () => {
    const store = open('');
    const file = await local('raw.bin', 'bytes', null);
    await store.putFile('root-item', file);
    expect(await keys('root-item/')).toEqual(['root-item/raw.bin']);
    const object = await head('root-item/raw.bin');
    expect(object.ContentType).toBe('application/octet-stream');
    expect(object.Metadata).toEqual({ md5: file.md5, sha1: file.sha1, sha256: file.sha256 });
    expect(await store.listFiles('root-item')).toEqual([
      { path: 'raw.bin', size: 5, md5: file.md5, sha1: file.sha1, sha256: file.sha256, mimetype: null },
    ]);
    expect(store.locate('root-item')).toBe(`s3://${proxy.bucket}/root-item/`);
  });

  it('uploads a file larger than the part size in parts, and a smaller one whole', async () => {
    const store = open('parts');
    const big = await largeLocal('big.bin', 2 * PART + 1000);
    const small = await local('small.txt', 'small');
    await store.putFile('item-p', big);
    await store.putFile('item-p', small);
    expect((await head('parts/item-p/big.bin')).ETag).toBe(await multipartEtag(big.source, big.size, PART));
    expect((await head('parts/item-p/big.bin')).ETag).toMatch(/-3"$/);
    expect((await head('parts/item-p/small.txt')).ETag).toBe(`"${small.md5}"`);
  });

  it('keeps the previous version under .fileset/versions/<unix ts>/<path>; identical bytes make no version', async () => {
    const store = open('versions');
    const first = await local('deep/t.csv', 'v1\n');
    const second = await local('deep/t.csv', 'version 2\n');
    clock = MARCH_1;
    await store.putFile('item-v', first);
    clock = MARCH_2;
    await store.putFile('item-v', second);
    const kept = 'versions/item-v/.fileset/versions/1772409600/deep/t.csv';
    expect(await keys('versions/item-v/.fileset/versions/')).toEqual([kept]);
    expect(await text(kept)).toBe('v1\n');
    expect((await head(kept)).Metadata).toEqual({
      md5: first.md5,
      sha1: first.sha1,
      sha256: first.sha256,
      mimetype: 'text/plain',
    });
    expect(await text('versions/item-v/deep/t.csv')).toBe('version 2\n');
    expect((await store.listFiles('item-v')).map((f) => [f.path, f.sha1])).toEqual([['deep/t.csv', second.sha1]]);
    clock = new Date('2026-03-03T00:00:00Z');
    await store.putFile('item-v', await local('deep/t.csv', 'version 2\n'));
    expect(await keys('versions/item-v/.fileset/versions/')).toEqual([kept]);
  });

  it('copies a previous version larger than one CopyObject may copy in parts', async () => {
    const store = open('bigcopy', { maxCopySize: PART });
    const first = await largeLocal('blob.bin', 2 * PART + 17);
    clock = MARCH_1;
    await store.putFile('item-c', first);
    clock = MARCH_2;
    await store.putFile('item-c', await largeLocal('blob.bin', PART + 1));
    const kept = 'bigcopy/item-c/.fileset/versions/1772409600/blob.bin';
    expect(await sha1Of(kept)).toBe(first.sha1);
    const object = await head(kept);
    expect(object.ETag).toMatch(/-3"$/);
    expect(object.ContentLength).toBe(first.size);
    expect(object.Metadata).toEqual({
      md5: first.md5,
      sha1: first.sha1,
      sha256: first.sha256,
      mimetype: 'application/octet-stream',
    });
  });

  it('a large file whose bytes do not match its sha1 is not stored, and its multipart upload is aborted', async () => {
    const store = open('mismatch');
    // The check below can fail: S3Proxy lists an upload in progress until it is aborted.
    const probe = await admin.send(new CreateMultipartUploadCommand({ Bucket: proxy.bucket, Key: 'mismatch/probe/x' }));
    expect(
      (await admin.send(new ListMultipartUploadsCommand({ Bucket: proxy.bucket, Prefix: 'mismatch/' }))).Uploads?.map(
        (u) => u.Key,
      ),
    ).toEqual(['mismatch/probe/x']);
    await admin.send(
      new AbortMultipartUploadCommand({ Bucket: proxy.bucket, Key: 'mismatch/probe/x', UploadId: probe.UploadId }),
    );

    const big = await largeLocal('big.bin', PART + 10);
    const err = await store.putFile('item-m', { ...big, sha1: '0'.repeat(40) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ItemUploadError);
    expect((err as Error).message).toContain(`have sha1 ${big.sha1}`);
    expect(await store.listFiles('item-m')).toEqual([]);
    expect(
      (await admin.send(new ListMultipartUploadsCommand({ Bucket: proxy.bucket, Prefix: 'mismatch/' }))).Uploads ?? [],
    ).toEqual([]);
  });

  it('a small file whose bytes do not match its md5 is refused by the store (Content-MD5) and not stored', async () => {
    const store = open('badmd5');
    const file = await local('a.txt', 'hello');
    const err = await store
      .putFile('item-b', { ...file, md5: createHash('md5').update('other').digest('hex') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ItemUploadError);
    expect((err as ItemUploadError).status).toBe('error-archiveorg-upload');
    expect((err as Error).message).toContain('BadDigest');
    expect(await keys('badmd5/')).toEqual([]);
  });

  it('retries a part that failed with 503 SlowDown, reading the file again, and the whole still checks out', async () => {
    let failed = 0;
    const target = new URL(proxy.endpoint);
    // Forwards to S3Proxy unchanged (the signature covers the Host header it keeps), but answers
    // the first try of part 2 with 503 SlowDown after reading its body.
    const flaky = createServer((req, res) => {
      if (req.method === 'PUT' && /[?&]partNumber=2(&|$)/.test(req.url ?? '') && failed === 0) {
        failed++;
        req.resume();
        req.on('end', () => {
          res.writeHead(503, { 'Content-Type': 'application/xml' });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>',
          );
        });
        return;
      }
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    const endpoint = await listen(flaky);
    try {
      const store = open('retry', { s3: proxy.config({ endpoint, partSize: PART }) });
      const big = await largeLocal('big.bin', 2 * PART + 5);
      await store.putFile('item-r', big);
      expect(failed).toBe(1);
      expect(await sha1Of('retry/item-r/big.bin')).toBe(big.sha1);
      expect((await store.listFiles('item-r')).map((f) => [f.path, f.size, f.sha1])).toEqual([
        ['big.bin', big.size, big.sha1],
      ]);
    } finally {
      flaky.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });

  it('lists files and notes across pages; notes of the same second are all kept, in order', async () => {
    const store = open('pages', { listPageSize: 2 });
    const paths = ['a.txt', 'b/c.txt', 'd.txt', 'e/f/g.txt', 'h.txt'];
    for (const path of paths) await store.putFile('item-l', await local(path, path));
    await store.setMetadata('item-l', { title: 'paged' });
    for (const step of ['first', 'second', 'third']) await store.writeNote('item-l', { time: MARCH_1, step });
    expect((await store.listFiles('item-l')).map((f) => f.path)).toEqual(paths);
    expect((await store.listNotes('item-l')).map((n) => [n.time.toISOString(), n.step])).toEqual([
      ['2026-03-01T00:00:00.000Z', 'first'],
      ['2026-03-01T00:00:00.000Z', 'second'],
      ['2026-03-01T00:00:00.000Z', 'third'],
    ]);
    expect(await keys('pages/item-l/.fileset/notes/')).toEqual(
      ['1772323200-1.json', '1772323200-2.json', '1772323200.json'].map((n) => `pages/item-l/.fileset/notes/${n}`),
    );
  });

  it('does not list an object that carries no fileset hashes (put there by something else)', async () => {
    const store = open('foreign');
    const file = await local('ours.txt', 'ours');
    await store.putFile('item-f', file);
    await admin.send(new PutObjectCommand({ Bucket: proxy.bucket, Key: 'foreign/item-f/theirs.txt', Body: 'theirs' }));
    expect((await store.listFiles('item-f')).map((f) => f.path)).toEqual(['ours.txt']);
  });

  it('refuses unsafe paths with unsafe-path and stores nothing', async () => {
    const store = open('unsafe');
    for (const path of ['../escape.txt', '.fileset/meta.json', 'a//b.txt', '/abs.txt']) {
      const err = await store.putFile('item-u', await local(path, 'x')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IngestError);
      expect((err as IngestError).status).toBe('unsafe-path');
    }
    expect(await keys('unsafe/')).toEqual([]);
  });

  it('reading a missing file fails with its name', async () => {
    await expect(open('missing').readFile('item-x', 'nope.txt')).rejects.toThrow(/no file "nope.txt" in item item-x/);
  });

  it('an unreachable endpoint is an InfrastructureError (retry later), never a dataset status', async () => {
    const store = open('down', { s3: proxy.config({ endpoint: `http://127.0.0.1:${await closedPort()}` }) });
    const file = await local('a.txt', 'a');
    const calls: (() => Promise<unknown>)[] = [
      () => store.listFiles('item-d'),
      () => store.putFile('item-d', file),
      () => store.readFile('item-d', 'a.txt'),
      () => store.getMetadata('item-d'),
      () => store.setMetadata('item-d', {}),
      () => store.writeNote('item-d', { time: MARCH_1 }),
      () => store.listNotes('item-d'),
    ];
    for (const call of calls) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
    }
  });

  it('a store answering 503 is an InfrastructureError, not an upload error', async () => {
    const down = createServer((_req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>',
      );
    });
    const endpoint = await listen(down);
    try {
      const store = open('503', { s3: proxy.config({ endpoint }) });
      await expect(store.putFile('item-5', await local('a.txt', 'a'))).rejects.toBeInstanceOf(InfrastructureError);
      await expect(store.listFiles('item-5')).rejects.toBeInstanceOf(InfrastructureError);
    } finally {
      down.closeAllConnections();
      await new Promise((resolve) => down.close(resolve));
    }
  });

  it('a missing bucket is an ItemUploadError on put (error-archiveorg-upload), an InfrastructureError on list', async () => {
    const store = open('nb', { bucket: 'no-such-bucket' });
    const err = await store.putFile('item-n', await local('a.txt', 'a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ItemUploadError);
    expect((err as ItemUploadError).status).toBe('error-archiveorg-upload');
    expect((err as Error).message).toContain('NoSuchBucket');
    await expect(store.setMetadata('item-n', { title: 'x' })).rejects.toBeInstanceOf(ItemUploadError);
    await expect(store.listFiles('item-n')).rejects.toBeInstanceOf(InfrastructureError);
  });

  it('never puts the secret key (or the access key id) into log lines or error messages', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const wrongSecret = `wrong-secret-${randomBytes(8).toString('hex')}`;
    const store = open('secrets', { logger });
    clock = MARCH_1;
    await store.putFile('item-s', await local('a.txt', 'one'));
    clock = MARCH_2;
    await store.putFile('item-s', await local('a.txt', 'two'));
    await store.putFile('item-s', await largeLocal('big.bin', PART + 1));
    const refused = await open('secrets', {
      logger,
      s3: proxy.config({ secretAccessKey: wrongSecret, partSize: PART }),
    })
      .putFile('item-s', await local('b.txt', 'b'))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ItemUploadError);
    const unreachable = await open('secrets', {
      logger,
      s3: proxy.config({ endpoint: `http://127.0.0.1:${await closedPort()}` }),
    })
      .listFiles('item-s')
      .catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(InfrastructureError);

    const logged = lines.join('\n');
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(logged).toContain('kept the previous version of a replaced file');
    expect(logged).toContain(proxy.bucket);
    for (const secret of [proxy.secretAccessKey, wrongSecret, proxy.accessKeyId]) {
      expect(logged).not.toContain(secret);
      expect(describeError(refused)).not.toContain(secret);
      expect(describeError(unreachable)).not.toContain(secret);
    }
  });
});

describe('checkBucket (a worker start-up check)', () => {
  it('passes when the bucket answers', async () => {
    await expect(checkBucket(proxy.config({}), proxy.bucket, silentLogger)).resolves.toBeUndefined();
  });

  it('names the store, its endpoint, the bucket and the variables when it does not answer', async () => {
    const missing = await checkBucket(proxy.config({}), 'no-such-bucket-here', silentLogger).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ServiceUnavailableError);
    expect((missing as Error).message).toMatch(
      /^cannot use the S3 item store at http:\/\/\S+ bucket no-such-bucket-here \(FILESET_S3_ENDPOINT, FILESET_ITEM_STORE\): no such bucket$/,
    );
    const unreachable = await checkBucket(
      { ...proxy.config({}), endpoint: 'http://127.0.0.1:1' },
      proxy.bucket,
      silentLogger,
    ).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(ServiceUnavailableError);
    expect((unreachable as Error).message).toMatch(
      /^cannot use the S3 item store at http:\/\/127\.0\.0\.1:1\/? bucket \S+ \(FILESET_S3_ENDPOINT, FILESET_ITEM_STORE\): .+/,
    );
  });
});
