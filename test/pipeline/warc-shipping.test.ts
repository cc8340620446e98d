// Issue 11.1's proof: a fleet of two ingest runtimes (own data directories, one PostgreSQL) with
// FILESET_WARC_STORE on S3Proxy. After the run every WARC file is in the bucket (and valid under
// jwarc, downloaded), none is left in a data directory, every index row and persisted cdx row names
// `<prefix>/<file>`, the CDXJ export's filenames are objects of the bucket, and a third runtime on
// an empty data directory answers success-existing for the dataset the others captured.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStatus, statusReport } from '../../src/commands/status.js';
import type { Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { persistResults } from '../../src/db/persist.js';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { openRuntime, type Runtime } from '../../src/pipeline/runtime.js';
import { FilesetResultSchema, type FilesetResult } from '../../src/schemas/result.js';
import { CaptureIndex } from '../../src/stores/warc/capture-index.js';
import { pywbArchivePath, warcLocator } from '../../src/stores/warc/destination.js';
import { wireWarcPath } from '../../src/stores/warc/location.js';
import { silentLogger, testConfig } from '../support/context.js';
import { verifyLines } from '../support/verify.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer } from '../support/fixture-server.js';
import { expectValidWarc } from '../support/jwarc.js';
import { startS3Proxy, type S3Proxy } from '../support/s3proxy.js';
import { recordFiles, serveZenodoRecord } from '../support/zenodo-site.js';

const RECORD = '7078760';
const KEYS = ['data2.csv', 'data.csv', 'datapackage.json'];
const PREFIX = 'fleet/warcs';

let server: FixtureServer;
let s3proxy: S3Proxy;
let admin: S3Client;
let database: TestDatabase;
let root: string;

beforeAll(async () => {
  [server, s3proxy, database] = await Promise.all([FixtureServer.start(), startS3Proxy(), createTestDatabase()]);
  serveZenodoRecord(server, 'zenodo_record_7078760.json', { files: recordFiles(RECORD, KEYS) });
  admin = s3proxy.client();
  root = await mkdtemp(join(tmpdir(), 'warc-fleet-'));
}, 300_000);

afterAll(async () => {
  await server?.close();
  admin?.destroy();
  await s3proxy?.stop();
  await database?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

function workerConfig(name: string): Config {
  const s3 = s3proxy.config();
  return testConfig(server.origin, {
    FILESET_DATA_DIR: join(root, name),
    FILESET_DATABASE_URL: database.url,
    FILESET_WARC_STORE: `s3://${s3proxy.bucket}/${PREFIX}`,
    FILESET_S3_ENDPOINT: s3.endpoint!,
    FILESET_S3_REGION: s3.region,
    FILESET_S3_ACCESS_KEY_ID: s3.accessKeyId!,
    FILESET_S3_SECRET_ACCESS_KEY: s3.secretAccessKey!,
    FILESET_S3_FORCE_PATH_STYLE: 'true',
  });
}

async function ingest(runtime: Runtime, request: unknown): Promise<FilesetResult> {
  const { result } = await ingestFileset(request, runtime.deps);
  return FilesetResultSchema.parse(result);
}

async function bucketKeys(): Promise<string[]> {
  const listed = await admin.send(new ListObjectsV2Command({ Bucket: s3proxy.bucket, Prefix: `${PREFIX}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

describe('a fleet shipping its WARC files to S3', () => {
  it('leaves every WARC in the bucket and none on the workers, and another worker answers success-existing', async () => {
    const db: Database = await openDatabase({ dataDir: '', databaseUrl: database.url }, silentLogger);
    try {
      // Two workers, each with its own data directory, capture the dataset (the second recrawls).
      const results: FilesetResult[] = [];
      for (const [name, force] of [
        ['worker-a', false],
        ['worker-b', true],
      ] as const) {
        const runtime = await openRuntime(workerConfig(name), silentLogger);
        try {
          const result = await ingest(runtime, {
            base_url: `https://zenodo.org/records/${RECORD}`,
            ...(force ? { force_recrawl: true } : {}),
          });
          expect(result.status).toBe('success');
          // The result names the file's place in the store before the file is even closed.
          expect(result.cdx?.warc_path).toMatch(new RegExp(`^${PREFIX}/[^/]+\\.warc\\.gz$`));
          results.push(result);
        } finally {
          await runtime.close();
        }
        expect((await readdir(join(root, name, 'warcs'))).filter((n) => n.includes('.warc'))).toEqual([]);
      }

      const status = await statusReport(workerConfig('worker-a'), silentLogger);
      expect(status.warc_store).toEqual({
        store: `s3://${s3proxy.bucket}/${PREFIX}`,
        waiting_files: 0,
        waiting_bytes: 0,
        shipped_files: expect.any(Number),
      });
      expect(status.warc_store!.shipped_files).toBeGreaterThanOrEqual(2);
      expect(formatStatus(status)).toMatch(/^WARC files waiting to ship +0 \(0 B\)$/m);

      // Every file the index names is in the bucket, and nothing else is.
      const indexed = (
        await db.query<{ warc_path: string }>('SELECT DISTINCT warc_path FROM capture ORDER BY warc_path')
      ).map((r) => r.warc_path);
      expect(indexed.length).toBeGreaterThanOrEqual(2);
      for (const path of indexed) expect(path.startsWith(`${PREFIX}/`)).toBe(true);
      expect(await bucketKeys()).toEqual(indexed);
      for (const [i, key] of indexed.entries()) {
        const object = await admin.send(new GetObjectCommand({ Bucket: s3proxy.bucket, Key: key }));
        const local = join(root, `downloaded-${i}.warc.gz`);
        await writeFile(local, Buffer.from(await object.Body!.transformToByteArray()));
        await expectValidWarc(local);
      }

      // Persisted cdx rows carry the shipped path (sandcrawler keeps only paths with a `/`).
      const outcome = await persistResults(db, results, { logger: silentLogger });
      expect(outcome.rejected).toEqual([]);
      const cdxPaths = (await db.query<{ warc_path: string }>('SELECT DISTINCT warc_path FROM cdx')).map(
        (r) => r.warc_path,
      );
      expect(cdxPaths.length).toBeGreaterThan(0);
      for (const path of cdxPaths) expect(indexed).toContain(path);

      // The CDXJ export's filenames are objects of the bucket, relative to pywb's archive_paths.
      const config = workerConfig('worker-a');
      const out = new PassThrough();
      const text = (async () => {
        let all = '';
        for await (const chunk of out) all += String(chunk);
        return all;
      })();
      const locate = warcLocator(config)!;
      const lines = await new CaptureIndex(db).exportCdxj(out, { filename: (p) => wireWarcPath(p, locate) });
      out.end();
      const filenames = new Set(
        (await text)
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line.slice(line.indexOf('{'))) as { filename: string }).filename),
      );
      expect(lines).toBeGreaterThan(0);
      expect(pywbArchivePath(config)).toBe(`${s3proxy.endpoint}/${s3proxy.bucket}/`);
      for (const filename of filenames)
        await admin.send(new HeadObjectCommand({ Bucket: s3proxy.bucket, Key: filename }));

      // verify audits the shipped files in the bucket, and names a damaged one by its place there.
      const audit = () => verifyLines(config);
      const intact = await audit();
      expect(intact.code).toBe(0);
      expect(JSON.parse(intact.lines.at(-1)!)).toMatchObject({
        warc_files: indexed.length,
        shipped_warc_files: indexed.length,
        problems: 0,
      });
      const victim = indexed.at(-1)!;
      const bytes = Buffer.from(
        await (
          await admin.send(new GetObjectCommand({ Bucket: s3proxy.bucket, Key: victim }))
        ).Body!.transformToByteArray(),
      );
      const flipped = Buffer.from(bytes);
      flipped[flipped.length - 20]! ^= 0xff;
      await admin.send(new PutObjectCommand({ Bucket: s3proxy.bucket, Key: victim, Body: flipped }));
      const damaged = await audit();
      expect(damaged.code).toBe(1);
      expect(damaged.lines[0]).toMatch(new RegExp(`^${victim.replace(/\./g, '\\.')}@\\d+: `));
      await admin.send(new PutObjectCommand({ Bucket: s3proxy.bucket, Key: victim, Body: bytes }));

      // A fresh worker on an empty data directory answers from the shared index.
      const fresh = await openRuntime(workerConfig('worker-c'), silentLogger);
      try {
        const again = await ingest(fresh, { base_url: `https://zenodo.org/records/${RECORD}` });
        expect(again.status).toBe('success-existing');
        expect(again.manifest!.map((e) => e.status)).toEqual(['exists', 'exists', 'exists']);
      } finally {
        await fresh.close();
      }
      expect((await readdir(join(root, 'worker-c', 'warcs'))).filter((n) => n.includes('.warc'))).toEqual([]);
      for (const path of (await db.query<{ warc_path: string }>('SELECT DISTINCT warc_path FROM capture')).map(
        (r) => r.warc_path,
      ))
        expect(path.startsWith(`${PREFIX}/`)).toBe(true);
    } finally {
      await db.close();
    }
  }, 300_000);

  it('ships at start the WARC files an earlier process left in the data directory', async () => {
    const before = { ...workerConfig('leftover'), warc: { ...workerConfig('leftover').warc, store: undefined } };
    const earlier = await openRuntime(before, silentLogger);
    try {
      expect(earlier.shipper).toBeNull();
      const result = await ingest(earlier, { base_url: `https://zenodo.org/records/${RECORD}`, force_recrawl: true });
      expect(result.status).toBe('success');
    } finally {
      await earlier.close();
    }
    const dir = join(root, 'leftover', 'warcs');
    const left = (await readdir(dir)).filter((n) => n.endsWith('.warc.gz'));
    expect(left.length).toBeGreaterThan(0);

    const db = await openDatabase({ dataDir: '', databaseUrl: database.url }, silentLogger);
    const next = await openRuntime(workerConfig('leftover'), silentLogger);
    try {
      // Shipped by the start's pass, while the runtime is open and before anything is ingested.
      await expect
        .poll(async () => (await readdir(dir)).filter((n) => n.endsWith('.warc.gz')), { timeout: 60_000 })
        .toEqual([]);
      const keys = await bucketKeys();
      for (const name of left) expect(keys).toContain(`${PREFIX}/${name}`);
      const rows = await db.query<{ warc_path: string }>(
        'SELECT DISTINCT warc_path FROM capture WHERE warc_path = ANY($1) OR warc_path = ANY($2)',
        [left, left.map((n) => `${PREFIX}/${n}`)],
      );
      expect(rows.map((r) => r.warc_path).sort()).toEqual(left.map((n) => `${PREFIX}/${n}`).sort());
    } finally {
      await next.close();
      await db.close();
    }
  }, 300_000);
});
