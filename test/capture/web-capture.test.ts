// Capturing responses: raw bytes in the WARC, hashes of the decoded file, revisits, size limits.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { BodyTooLargeError } from '../../src/errors.js';
import type { HttpClient } from '../../src/http/client.js';
import { CaptureIndex } from '../../src/stores/warc/capture-index.js';
import { base32Decode } from '../../src/stores/warc/record.js';
import { captureResponse, type WebCaptureDeps } from '../../src/capture/web-capture.js';
import { WarcWriter } from '../../src/stores/warc/writer.js';
import { silentLogger, testConfig, testHttp } from '../support/context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer } from '../support/fixture-server.js';
import { expectValidWarc } from '../support/jwarc.js';
import { compressionBomb } from '../support/bombs.js';

const CSV = Buffer.from('id,name\n'.concat(Array.from({ length: 2000 }, (_, i) => `${i},row ${i}\n`).join('')));
const GZIPPED = gzipSync(CSV);
const hex = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

let server: FixtureServer;
let database: TestDatabase;
let db: Database;
let dir: string;
let http: HttpClient;
let deps: WebCaptureDeps & { writer: WarcWriter; index: CaptureIndex };

beforeAll(async () => {
  const bomb = await compressionBomb(32 << 20, ['gzip']);
  server = await FixtureServer.start({
    '/bomb.html': { body: bomb, headers: { 'Content-Type': 'text/html', 'Content-Encoding': 'gzip' } },
    '/nested.csv': {
      body: gzipSync(gzipSync(CSV)),
      headers: { 'Content-Type': 'text/csv', 'Content-Encoding': 'gzip, gzip' },
    },
    '/encoded.csv': { body: GZIPPED, headers: { 'Content-Type': 'text/csv', 'Content-Encoding': 'gzip' } },
    '/plain.csv': { body: CSV, headers: { 'Content-Type': 'text/csv' } },
    '/copy.csv': { body: CSV, headers: { 'Content-Type': 'text/csv' } },
    // A lying server: claims gzip, sends something else (large enough to fill the decoder's buffers).
    '/lying.csv': {
      body: Buffer.concat([GZIPPED.subarray(0, 10), Buffer.alloc(4 << 20, 7)]),
      headers: { 'Content-Encoding': 'gzip' },
    },
  });
  database = await createTestDatabase();
  db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
  await migrate(db, silentLogger);
  dir = await mkdtemp(join(tmpdir(), 'fileset-capture-'));
  const config = testConfig(server.origin, {}, ['https://data.example.org']);
  http = testHttp(config);
  const writer = await WarcWriter.open({
    dir: join(dir, 'warcs'),
    prefix: 'TEST',
    rolloverSize: 1e9,
    software: 'test',
    logger: silentLogger,
  });
  deps = { writer, index: new CaptureIndex(db), tmpDir: join(dir, 'tmp'), now: () => new Date() };
});

afterAll(async () => {
  await http.close();
  await server.close();
  await db.close();
  await database.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('captureResponse', () => {
  it('stores a Content-Encoding raw while the file hashes describe the decoded bytes', async () => {
    const response = await http.request('https://data.example.org/encoded.csv', {
      headers: { 'Accept-Encoding': 'gzip' },
    });
    const captured = await captureResponse(deps, response, { keepBody: true });
    expect(captured.fileMeta).toEqual({
      size_bytes: CSV.length,
      md5hex: hex('md5', CSV),
      sha1hex: hex('sha1', CSV),
      sha256hex: hex('sha256', CSV),
      mimetype: 'text/csv',
    });
    expect(base32Decode(captured.payloadSha1b32).toString('hex')).toBe(hex('sha1', GZIPPED));
    expect(await readFile(captured.bodyPath!)).toEqual(CSV);
    await rm(captured.bodyPath!);
    expect(captured.cdx).toMatchObject({
      url: 'https://data.example.org/encoded.csv',
      sha1hex: hex('sha1', GZIPPED),
      status_code: 200,
    });
  });

  it('writes a revisit for a payload already stored under another URL', async () => {
    const first = await captureResponse(deps, await http.request('https://data.example.org/plain.csv'));
    const second = await captureResponse(deps, await http.request('https://data.example.org/copy.csv'));
    expect(first.revisitCdx).toBeNull();
    expect(second.cdx).toMatchObject({ mimetype: 'warc/revisit', sha1b32: first.payloadSha1b32 });
    expect(second.revisitCdx).toEqual(first.cdx);
    expect(second.fileMeta).toEqual(first.fileMeta);
  });

  it('fails cleanly, without hanging, when a body is not in its declared Content-Encoding', async () => {
    const response = await http.request('https://data.example.org/lying.csv', {
      headers: { 'Accept-Encoding': 'gzip' },
    });
    await expect(captureResponse(deps, response)).rejects.toThrow(/could not be decoded as gzip/);
    expect(await readdir(deps.tmpDir)).toEqual([]);
  });

  it('stops at the byte limit and leaves no spool file behind', async () => {
    const response = await http.request('https://data.example.org/plain.csv');
    await expect(captureResponse(deps, response, { maxBytes: 100 })).rejects.toThrow(BodyTooLargeError);
    expect(await readdir(deps.tmpDir)).toEqual([]);
  });

  it('stops a compression bomb at the limit of decoded bytes, keeping no spool or body file', async () => {
    for (const keepBody of [false, true]) {
      const response = await http.request('https://data.example.org/bomb.html', {
        headers: { 'Accept-Encoding': 'gzip' },
      });
      await expect(captureResponse(deps, response, { maxBytes: 1 << 20, keepBody })).rejects.toThrow(
        /decoded body exceeds the limit of 1048576 bytes/,
      );
      expect(await readdir(deps.tmpDir)).toEqual([]);
    }
  });

  it('hashes a nested Content-Encoding as transferred', async () => {
    const response = await http.request('https://data.example.org/nested.csv');
    const captured = await captureResponse(deps, response);
    const raw = gzipSync(gzipSync(CSV));
    expect(captured.fileMeta).toMatchObject({ size_bytes: raw.length, sha1hex: hex('sha1', raw) });
  });

  it('produces WARC files that validate', async () => {
    await deps.writer.close();
    const warcs = (await readdir(join(dir, 'warcs'))).filter((f) => f.endsWith('.warc.gz'));
    expect(warcs).toHaveLength(1);
    await expectValidWarc(join(dir, 'warcs', warcs[0]!));
  });
});
