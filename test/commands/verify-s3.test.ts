// `fileset-ingest verify` with an s3 item store (S3Proxy): items the store put are read back and
// checked against the size and hashes recorded with each object. Intact: exit 0. One object
// replaced with other bytes (its recorded hashes kept), one put without them: both named, exit 1.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createS3ItemStore } from '../../src/stores/items/s3.js';
import { silentLogger, testConfig } from '../support/context.js';
import { startS3Proxy, type S3Proxy } from '../support/s3proxy.js';
import { verifyLines } from '../support/verify.js';
import { localFile } from '../stores/items/contract.js';

let proxy: S3Proxy;
let admin: S3Client;
let dir: string;

beforeAll(async () => {
  proxy = await startS3Proxy();
  admin = proxy.client();
  dir = await mkdtemp(join(tmpdir(), 'verify-s3-'));
  const store = createS3ItemStore({ bucket: proxy.bucket, prefix: 'items', s3: proxy.config(), logger: silentLogger });
  try {
    await store.putFile('item-a', await localFile(dir, 'data/table.csv', 'a,b\n1,2\n'));
    await store.putFile('item-a', await localFile(dir, 'README.md', '# A\n'.repeat(1000)));
    await store.putFile('item-b', await localFile(dir, 'x.bin', Buffer.alloc(70_000, 7)));
    await store.writeNote('item-a', { time: new Date('2026-03-01T00:00:00Z'), added: 2 });
  } finally {
    await store.close();
  }
}, 300_000);

afterAll(async () => {
  admin?.destroy();
  await proxy?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function verify(): Promise<{ code: number; lines: string[] }> {
  const config = testConfig('http://127.0.0.1:1', {
    FILESET_DATA_DIR: dir,
    FILESET_ITEM_STORE: `s3://${proxy.bucket}/items`,
  });
  return verifyLines({ ...config, s3: proxy.config() });
}

it('exits 0 when every object still has the size and hashes recorded with it, having read them all', async () => {
  const { code, lines } = await verify();
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({ items: 2, item_files: 3, problems: 0 });
  expect(code).toBe(0);
});

it('names an object whose bytes changed and one without recorded hashes (item/path), exit 1', async () => {
  const key = 'items/item-a/data/table.csv';
  const head = await admin.send(new HeadObjectCommand({ Bucket: proxy.bucket, Key: key }));
  // Same length, other bytes, the recorded metadata kept: only reading the bytes tells.
  await admin.send(
    new PutObjectCommand({ Bucket: proxy.bucket, Key: key, Body: 'a,b\n1,3\n', Metadata: head.Metadata }),
  );
  await admin.send(new PutObjectCommand({ Bucket: proxy.bucket, Key: 'items/item-b/stray.txt', Body: 'hi' }));
  const { code, lines } = await verify();
  expect(lines.slice(0, -1)).toEqual([
    expect.stringMatching(/^item-a\/data\/table\.csv: md5 [0-9a-f]{32}, the store recorded [0-9a-f]{32}$/),
    expect.stringMatching(/^item-a\/data\/table\.csv: sha1 /),
    expect.stringMatching(/^item-a\/data\/table\.csv: sha256 /),
    'item-b/stray.txt: an object without the hashes a store records',
  ]);
  expect(JSON.parse(lines.at(-1)!)).toMatchObject({ items: 2, item_files: 4, problems: 4 });
  expect(code).toBe(1);
});
