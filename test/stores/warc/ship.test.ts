// WARC shipping against real destinations: a directory (fs://), S3Proxy (s3://, also behind a TCP
// proxy that a test cuts for an outage) and the local archive.org server (ias3://), with the
// capture index on the real PostgreSQL. Crashes are stopped passes (afterStep throws) followed by
// a fresh shipper, as a restarted worker would run.
import { readFile, readdir, rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { openDatabase, type Database } from '../../../src/db/database.js';
import { migrate } from '../../../src/db/migrate.js';
import { createIas3ItemStore } from '../../../src/stores/items/ias3.js';
import { CaptureIndex } from '../../../src/stores/warc/capture-index.js';
import {
  FsDestination,
  Ias3Destination,
  fileDigests,
  warcItem,
  type WarcDestination,
} from '../../../src/stores/warc/destination.js';
import { S3Destination } from '../../../src/stores/warc/destination-s3.js';
import { WarcShipper, type ShipStep } from '../../../src/stores/warc/ship.js';
import { WarcWriter } from '../../../src/stores/warc/writer.js';
import { silentLogger } from '../../support/context.js';
import { verifyLines } from '../../support/verify.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { Ias3Server } from '../../support/ias3-server.js';
import { expectValidWarc } from '../../support/jwarc.js';
import { startS3Proxy, type S3Proxy } from '../../support/s3proxy.js';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.js';

const HOST = 'shiphost';
const IAS3 = { accessKey: 'ship-access', secretKey: 'ship-secret' };

let database: TestDatabase;
let db: Database;
let s3proxy: S3Proxy;
let admin: S3Client;
let ias3: Ias3Server;
let root: string;
let serial = 0;

beforeAll(async () => {
  [database, s3proxy, ias3] = await Promise.all([createTestDatabase(), startS3Proxy(), Ias3Server.start(IAS3)]);
  admin = s3proxy.client();
  db = await openDatabase({ dataDir: '', databaseUrl: database.url }, silentLogger);
  await migrate(db, silentLogger);
  root = await mkdtemp(join(tmpdir(), 'warc-ship-'));
}, 300_000);

afterAll(async () => {
  await db?.close();
  await database?.drop();
  admin?.destroy();
  await s3proxy?.stop();
  await ias3?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

interface Backend {
  name: string;
  open(): WarcDestination;
  /** Every name the destination holds for a file (final name, temporaries, versions). */
  copiesOf(name: string): Promise<string[]>;
  /** Puts other bytes under the file's final name, as a partial upload might leave. */
  plantPartial(name: string, bytes: Buffer): Promise<void>;
}

function fsBackend(): Backend {
  const dir = join(root, 'fs-store');
  return {
    name: 'fs',
    open: () => new FsDestination(dir, 'warcs'),
    copiesOf: async (name) =>
      (await readdir(join(dir, 'warcs')).catch(() => [] as string[])).filter((n) => n.includes(name)),
    plantPartial: async (name, bytes) => {
      await writeFile(join(dir, 'warcs', name), bytes);
    },
  };
}

function s3Backend(prefix: string): Backend {
  return {
    name: 's3',
    open: () => new S3Destination(s3proxy.bucket, prefix, s3proxy.config(), silentLogger),
    copiesOf: async (name) => {
      const listed = await admin.send(new ListObjectsV2Command({ Bucket: s3proxy.bucket, Prefix: `${prefix}/` }));
      return (listed.Contents ?? []).map((o) => o.Key!).filter((key) => key.includes(name));
    },
    plantPartial: async (name, bytes) => {
      await admin.send(new PutObjectCommand({ Bucket: s3proxy.bucket, Key: `${prefix}/${name}`, Body: bytes }));
    },
  };
}

function ias3Backend(): Backend {
  const items = () =>
    createIas3ItemStore({
      ias3: { endpoint: ias3.origin, metadataUrl: ias3.origin, ...IAS3 },
      logger: silentLogger,
      userAgent: 'fileset-ingest/test',
      retries: 1,
      retryBaseDelayMs: 1,
      sleep: async () => {},
    });
  return {
    name: 'ias3',
    open: () => new Ias3Destination(items(), 'TESTWARCS', 'day', 'test_collection'),
    copiesOf: async (name) => {
      const item = ias3.items.get(warcItem(name, 'TESTWARCS', 'day'));
      return [...(item?.files.keys() ?? [])].filter((n) => n.includes(name));
    },
    plantPartial: async () => {
      // archive.org checks Content-MD5 of every upload: a part never lands under the final name.
    },
  };
}

/** Writes `count` closed WARC files (two records each) into a fresh warcs/ dir and indexes every record. */
async function writeWarcs(count: number): Promise<{ dir: string; names: string[] }> {
  const dir = join(root, `data-${++serial}`, 'warcs');
  const writer = await WarcWriter.open({
    dir,
    prefix: 'SHIPTEST',
    rolloverSize: 1,
    software: 'fileset-ingest/test',
    logger: silentLogger,
    hostname: HOST,
  });
  const index = new CaptureIndex(db);
  for (let i = 0; i < count; i++) {
    const url = `https://example.org/ship/${serial}/${i}`;
    const date = new Date(Date.UTC(2026, 2, 1, 0, 0, i));
    const location = await writer.writeMetadata({
      targetUri: url,
      date,
      contentType: 'application/json',
      body: Buffer.from(JSON.stringify({ serial, i, padding: 'x'.repeat(2000) })),
    });
    await index.add({
      url,
      datetime: '20260301000000',
      recordType: 'response',
      statusCode: 200,
      mimetype: 'application/json',
      payloadSha1b32: 'A'.repeat(32),
      sha1hex: null,
      md5hex: null,
      sha256hex: null,
      sizeBytes: null,
      warcPath: location.warcPath,
      warcOffset: location.offset,
      warcCsize: location.csize,
      refersToUrl: null,
      refersToDatetime: null,
    });
  }
  await writer.close();
  const names = (await readdir(dir)).filter((n) => n.endsWith('.warc.gz')).sort();
  expect(names).toHaveLength(count);
  return { dir, names };
}

async function indexedPaths(names: string[], location: (name: string) => string): Promise<string[]> {
  const rows = await db.query<{ warc_path: string }>(
    'SELECT DISTINCT warc_path FROM capture WHERE warc_path = ANY($1) ORDER BY warc_path',
    [[...names, ...names.map(location)]],
  );
  return rows.map((r) => r.warc_path);
}

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe.each([
  ['fs', () => fsBackend()],
  ['s3', () => s3Backend('fleet/warcs')],
  ['ias3', () => ias3Backend()],
])('WARC shipping to %s', (_kind, make) => {
  let backend: Backend;
  let destination: WarcDestination;
  beforeEach(() => {
    backend = make();
    destination = backend.open();
    return () => destination.close();
  });

  const shipper = (dir: string, afterStep?: (step: ShipStep, name: string) => void) =>
    new WarcShipper({ dir, destination, db, logger: silentLogger, ...(afterStep ? { afterStep } : {}) });

  it('uploads, verifies, moves the index rows and only then removes the local files', async () => {
    const { dir, names } = await writeWarcs(3);
    const originals = await Promise.all(names.map((n) => readFile(join(dir, n))));
    const backlogs: Array<[number, number]> = [];
    const shipped: number[] = [];
    const ship = new WarcShipper({
      dir,
      destination,
      db,
      logger: silentLogger,
      observer: { backlog: (files, bytes) => backlogs.push([files, bytes]), shipped: (bytes) => shipped.push(bytes) },
    });
    expect(await ship.backlog()).toEqual({ files: 3, bytes: originals.reduce((n, b) => n + b.length, 0) });

    expect(await ship.shipAll()).toEqual(names);

    expect(await readdir(dir)).toEqual([]);
    expect(shipped).toEqual(originals.map((b) => b.length));
    expect(backlogs.at(-1)).toEqual([0, 0]);
    expect(await indexedPaths(names, (n) => destination.location(n))).toEqual(
      names.map((n) => destination.location(n)).sort(),
    );
    for (const [i, name] of names.entries()) {
      const location = destination.location(name);
      expect(location).toMatch(/\//);
      expect(location.endsWith(`/${name}`)).toBe(true);
      const bytes = await streamToBuffer(await destination.read(location));
      expect(bytes.equals(originals[i]!)).toBe(true);
      expect(await backend.copiesOf(name)).toHaveLength(1);
    }
    // What landed is a valid WARC file (jwarc), read back from the destination.
    const back = join(root, `back-${++serial}.warc.gz`);
    await writeFile(back, await streamToBuffer(await destination.read(destination.location(names[0]!))));
    await expectValidWarc(back);
    if (backend.name === 'ias3') {
      // An item made as Internet Archive's crawl items are: web captures, in the configured collection.
      const item = ias3.items.get(warcItem(names[0]!, 'TESTWARCS', 'day'))!;
      expect(item.metadata).toMatchObject({ mediatype: 'web', collection: 'test_collection' });
      const day = /-(\d{8})\d{9}-/.exec(names[0]!)![1]!;
      expect(destination.location(names[0]!)).toBe(`TESTWARCS-${day}-${HOST}/${names[0]!}`);
    }
  }, 120_000);

  it.each<ShipStep>(['uploaded', 'verified', 'indexed'])(
    'finishes after a crash once %s, under the same name, losing nothing',
    async (step) => {
      const { dir, names } = await writeWarcs(2);
      const first = names[0]!;
      const digests = await fileDigests(join(dir, first));
      await expect(
        shipper(dir, (at, name) => {
          if (at === step && name === first) throw new Error(`crash after ${step}`);
        }).shipAll(),
      ).rejects.toThrow(`crash after ${step}`);
      // The crash left the local file (and the second file, not reached) in place.
      expect((await readdir(dir)).sort()).toEqual(names);

      expect(await shipper(dir).shipAll()).toEqual(names);

      expect(await readdir(dir)).toEqual([]);
      for (const name of names) expect(await backend.copiesOf(name)).toHaveLength(1);
      const stored = await destination.stat(first);
      expect(stored?.size).toBe(digests.size);
      expect(await indexedPaths(names, (n) => destination.location(n))).toEqual(
        names.map((n) => destination.location(n)).sort(),
      );
    },
    120_000,
  );

  it('replaces a partial copy under the final name with the file', async () => {
    if (backend.name === 'ias3') return; // see plantPartial
    const { dir, names } = await writeWarcs(1);
    const name = names[0]!;
    const original = await readFile(join(dir, name));
    await backend.plantPartial(name, original.subarray(0, 100));
    expect((await destination.stat(name))?.size).toBe(100);

    await shipper(dir).shipAll();

    const bytes = await streamToBuffer(await destination.read(destination.location(name)));
    expect(bytes.equals(original)).toBe(true);
    expect(await backend.copiesOf(name)).toHaveLength(1);
  }, 120_000);
});

describe('a WARC store outage', () => {
  let tcp: TcpProxy;
  beforeAll(async () => {
    tcp = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(s3proxy.endpoint).port) });
  });
  afterAll(() => tcp?.close());

  it('keeps the files, shows the backlog and retries with backoff until the store is back', async () => {
    const destination = new S3Destination(
      s3proxy.bucket,
      'outage',
      s3proxy.config({ endpoint: `http://127.0.0.1:${tcp.port}` }),
      silentLogger,
    );
    const { dir, names } = await writeWarcs(2);
    let backlog: [number, number] = [-1, -1];
    let failures = 0;
    let shipped = 0;
    await tcp.cut();
    const ship = new WarcShipper({
      dir,
      destination,
      db,
      logger: silentLogger,
      backoff: { baseMs: 50, maxMs: 200 },
      observer: {
        backlog: (files, bytes) => (backlog = [files, bytes]),
        failed: () => (failures += 1),
        shipped: () => (shipped += 1),
      },
    });
    try {
      ship.start();
      await expect.poll(() => failures, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(2);
      expect(backlog[0]).toBe(2);
      expect(backlog[1]).toBeGreaterThan(0);
      expect(shipped).toBe(0);
      expect((await readdir(dir)).sort()).toEqual(names);
      expect(await indexedPaths(names, (n) => destination.location(n))).toEqual(names);

      await tcp.restore();
      await expect.poll(() => shipped, { timeout: 60_000, interval: 50 }).toBe(2);
      // The backlog is reported once the pass has shipped every file, just after the last one.
      await expect.poll(() => backlog, { timeout: 60_000, interval: 50 }).toEqual([0, 0]);
      expect(await readdir(dir)).toEqual([]);
      expect(await indexedPaths(names, (n) => destination.location(n))).toEqual(
        names.map((n) => destination.location(n)).sort(),
      );
    } finally {
      await tcp.restore().catch(() => undefined);
      await ship.stop();
      await destination.close();
    }
  }, 180_000);

  it('stops with a last pass whose failure leaves the files for the next start', async () => {
    const destination = new S3Destination(
      s3proxy.bucket,
      'outage',
      s3proxy.config({ endpoint: `http://127.0.0.1:${tcp.port}` }),
      silentLogger,
    );
    const { dir, names } = await writeWarcs(1);
    await tcp.cut();
    try {
      const ship = new WarcShipper({ dir, destination, db, logger: silentLogger, backoff: { baseMs: 50, maxMs: 50 } });
      ship.start();
      await ship.stop();
      expect(await readdir(dir)).toEqual(names);
    } finally {
      await tcp.restore();
    }
    const next = new WarcShipper({ dir, destination, db, logger: silentLogger });
    expect(await next.shipAll()).toEqual(names);
    await destination.close();
  }, 180_000);
});

describe('archive.org answering 503', () => {
  it('keeps the files and ships them once it answers again', async () => {
    const destination = ias3Backend().open();
    const { dir, names } = await writeWarcs(1);
    let backlog = -1;
    const ship = new WarcShipper({
      dir,
      destination,
      db,
      logger: silentLogger,
      observer: { backlog: (files) => (backlog = files) },
    });
    // More 503s than the item store's own retries (1): the pass fails.
    ias3.failNext('PUT', 4, { status: 503, code: 'SlowDown' });
    await expect(ship.shipAll()).rejects.toThrow();
    expect(backlog).toBe(1);
    expect(await readdir(dir)).toEqual(names);
    expect(await indexedPaths(names, (n) => destination.location(n))).toEqual(names);
    // Whatever 503s are left are used up by the retried passes.
    for (let pass = 0; pass < 4 && (await readdir(dir)).length; pass++) await ship.shipAll().catch(() => undefined);
    expect(await readdir(dir)).toEqual([]);
    expect(backlog).toBe(0);
    expect(await indexedPaths(names, (n) => destination.location(n))).toEqual([destination.location(names[0]!)]);
    await destination.close();
  }, 120_000);
});

describe('verify with an fs:// WARC store', () => {
  it('audits the shipped files in place and names a damaged one by its place there', async () => {
    const store = join(root, 'verified-store');
    const destination = new FsDestination(store, 'warcs');
    const { dir, names } = await writeWarcs(2);
    await new WarcShipper({ dir, destination, db, logger: silentLogger }).shipAll();
    const config = loadConfig({
      FILESET_DATA_DIR: join(dir, '..'),
      FILESET_WARC_STORE: `fs://${store}/warcs`,
      FILESET_LOG_LEVEL: 'silent',
    });
    const audit = () => verifyLines(config);
    const intact = await audit();
    expect(intact.code).toBe(0);
    expect(JSON.parse(intact.lines.at(-1)!)).toMatchObject({ warc_files: 2, shipped_warc_files: 2, problems: 0 });

    const path = join(store, 'warcs', names[1]!);
    const bytes = await readFile(path);
    bytes[bytes.length - 20]! ^= 0xff;
    await writeFile(path, bytes);
    const damaged = await audit();
    expect(damaged.code).toBe(1);
    expect(damaged.lines[0]!.startsWith(`warcs/${names[1]!}@`)).toBe(true);
  }, 120_000);
});

describe('warcItem', () => {
  it('names one archive.org item per period and host, from the file name alone', () => {
    const name = 'FILESET-20260301123456789-00012-worker-7.example.org-4242.warc.gz';
    expect(warcItem(name, 'FILESET-WARC', 'day')).toBe('FILESET-WARC-20260301-worker-7.example.org');
    expect(warcItem(name, 'FILESET-WARC', 'month')).toBe('FILESET-WARC-202603-worker-7.example.org');
    expect(() => warcItem('other.warc.gz', 'P', 'day')).toThrow(/not a WARC file name/);
  });
});
