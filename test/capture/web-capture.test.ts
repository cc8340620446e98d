// Capturing responses: raw bytes in the WARC, hashes of the decoded file, revisits, size limits.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { BodyTooLargeError } from '../../src/errors.js';
import type { HttpClient } from '../../src/http/client.js';
import { CaptureIndex } from '../../src/stores/warc/capture-index.js';
import { base32Decode } from '../../src/stores/warc/record.js';
import { captureResponse, type WebCaptureDeps } from '../../src/capture/web-capture.js';
import { IN_MEMORY_MAX } from '../../src/capture/body-spool.js';
import { WarcWriter } from '../../src/stores/warc/writer.js';
import { silentLogger, testConfig, testHttp } from '../support/context.js';
import { csvText } from '../support/csv-text.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer } from '../support/fixture-server.js';
import { expectValidWarc } from '../support/jwarc.js';
import { readWarc } from '../support/warcio.js';
import { compressionBomb } from '../support/bombs.js';

const CSV = Buffer.from('id,name\n'.concat(Array.from({ length: 2000 }, (_, i) => `${i},row ${i}\n`).join('')));
const GZIPPED = gzipSync(CSV);
// Declared large enough to be deflated while it downloads: text, then random bytes.
const LARGE = Buffer.concat([csvText(12 << 20), randomBytes(12 << 20)]);
// Landing-page-like bodies kept for the caller: small (in memory), and larger than IN_MEMORY_MAX.
const PAGE = Buffer.from(`<html><head><title>kept</title></head><body>${'<p>row</p>'.repeat(500)}</body></html>`);
const LARGE_PAGE = Buffer.concat([PAGE, randomBytes(IN_MEMORY_MAX)]);
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
    '/large.bin': { body: LARGE, headers: { 'Content-Type': 'application/octet-stream' } },
    '/copy.csv': { body: CSV, headers: { 'Content-Type': 'text/csv' } },
    '/page.html': { body: PAGE, headers: { 'Content-Type': 'text/html' } },
    '/page-encoded.html': {
      body: gzipSync(PAGE),
      headers: { 'Content-Type': 'text/html', 'Content-Encoding': 'gzip' },
    },
    '/page-large.html': { body: LARGE_PAGE, headers: { 'Content-Type': 'text/html' } },
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
    const captured = await captureResponse(deps, response, { keepBody: 'file' });
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

  it('keeps a small unencoded body in memory with no file, a large or encoded one as a file', async () => {
    const before = await readdir(deps.tmpDir).catch(() => []);
    const small = await captureResponse(deps, await http.request('https://data.example.org/page.html'), {
      keepBody: 'memory',
    });
    expect(small.body).toEqual(PAGE);
    expect(small.bodyPath).toBeUndefined();
    expect(small.fileMeta).toMatchObject({ size_bytes: PAGE.length, sha1hex: hex('sha1', PAGE) });
    expect(await readdir(deps.tmpDir).catch(() => [])).toEqual(before);

    const large = await captureResponse(deps, await http.request('https://data.example.org/page-large.html'), {
      keepBody: 'memory',
    });
    expect(large.body).toBeUndefined();
    // Buffer.equals: toEqual compares a MiB byte by byte, for seconds.
    expect((await readFile(large.bodyPath!)).equals(LARGE_PAGE)).toBe(true);
    await rm(large.bodyPath!);

    const encoded = await captureResponse(
      deps,
      await http.request('https://data.example.org/page-encoded.html', { headers: { 'Accept-Encoding': 'gzip' } }),
      { keepBody: 'memory' },
    );
    expect(encoded.body).toBeUndefined();
    expect(await readFile(encoded.bodyPath!)).toEqual(PAGE);
    await rm(encoded.bodyPath!);
    expect(await readdir(deps.tmpDir)).toEqual(before);
    // Each was written to the WARC as transferred.
    expect([small, large, encoded].map((c) => c.cdx?.status_code)).toEqual([200, 200, 200]);
  });

  it('writes a revisit for a payload already stored under another URL', async () => {
    const first = await captureResponse(deps, await http.request('https://data.example.org/plain.csv'));
    const second = await captureResponse(deps, await http.request('https://data.example.org/copy.csv'));
    expect(first.revisitCdx).toBeNull();
    expect(second.cdx).toMatchObject({ mimetype: 'warc/revisit', sha1b32: first.payloadSha1b32 });
    expect(second.revisitCdx).toEqual(first.cdx);
    expect(second.fileMeta).toEqual(first.fileMeta);
  });

  it('names the original of a revisit by record ID and exact WARC-Date, milliseconds kept (read by warcio)', async () => {
    const body = Buffer.from('a payload only these two URLs serve\n'.repeat(50));
    server.route('/ms-original.csv', { body, headers: { 'Content-Type': 'text/csv' } });
    server.route('/ms-copy.csv', { body, headers: { 'Content-Type': 'text/csv' } });
    const dates = [new Date('2026-01-02T03:04:05.678Z'), new Date('2026-01-02T03:04:06.001Z')];
    const timed = { ...deps, now: () => dates.shift()! };
    const first = await captureResponse(timed, await http.request('https://data.example.org/ms-original.csv'));
    const second = await captureResponse(timed, await http.request('https://data.example.org/ms-copy.csv'));
    const file = deps.writer.currentFile()!;
    expect(second.cdx!.warc_path).toBe(`warcs/${file}`);
    expect(second.revisitCdx).toEqual(first.cdx);

    await deps.writer.close();
    const records = await readWarc(join(dir, 'warcs', file));
    const original = records.find(
      (r) => r.headers.get('warc-target-uri')?.endsWith('/ms-original.csv') && r.type === 'response',
    )!;
    const revisit = records.find(
      (r) => r.type === 'revisit' && r.headers.get('warc-target-uri')?.endsWith('/ms-copy.csv'),
    )!;
    expect(original.headers.get('warc-date')).toBe('2026-01-02T03:04:05.678Z');
    expect(revisit.headers.get('warc-refers-to')).toBe(original.headers.get('warc-record-id'));
    expect(revisit.headers.get('warc-refers-to-date')).toBe('2026-01-02T03:04:05.678Z');
    expect(revisit.headers.get('warc-refers-to-target-uri')).toBe('https://data.example.org/ms-original.csv');
    expect(original.offset).toBe(first.cdx!.warc_offset);
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

  it('deflates a large body into its record while it downloads, and keeps no file of it', async () => {
    const spools = vi.spyOn(deps.writer, 'createDeflatedSpool');
    const captured = await captureResponse(deps, await http.request('https://data.example.org/large.bin'));
    expect(spools).toHaveBeenCalledTimes(1);
    spools.mockRestore();
    expect(captured.fileMeta.size_bytes).toBe(LARGE.length);
    // md5 and sha256 of a large body come from the hash thread.
    expect(captured.fileMeta.sha256hex).toBe(hex('sha256', LARGE));
    expect(captured.fileMeta.md5hex).toBe(hex('md5', LARGE));
    expect(captured.fileMeta.sha1hex).toBe(hex('sha1', LARGE));
    expect(await readdir(deps.tmpDir)).toEqual([]);
    const { warc_path, warc_offset, warc_csize } = captured.cdx!;
    const member = (await readFile(join(dir, `${warc_path}.open`))).subarray(warc_offset, warc_offset + warc_csize);
    const record = gunzipSync(member);
    expect(record.subarray(-LARGE.length - 4, -4).equals(LARGE)).toBe(true);
    // Text deflated, random bytes stored: about a third of the first half plus the second.
    expect(warc_csize).toBeLessThan(LARGE.length * 0.7);
    expect(warc_csize).toBeGreaterThan(LARGE.length / 2);
  });

  it('drops a large body that fails mid-download: no spool file, nothing written', async () => {
    const warcs = join(dir, 'warcs');
    const sizes = async () =>
      new Map(
        await Promise.all((await readdir(warcs)).map(async (f) => [f, (await stat(join(warcs, f))).size] as const)),
      );
    const before = await sizes();
    const response = await http.request('https://data.example.org/large.bin');
    await expect(captureResponse(deps, response, { maxBytes: 20 << 20 })).rejects.toThrow(BodyTooLargeError);
    expect(await readdir(deps.tmpDir)).toEqual([]);
    // The lane the payload went into is cut back to where it was (a new one would hold only its warcinfo).
    const after = await sizes();
    for (const [file, size] of before) expect(after.get(file)).toBe(size);
    for (const file of after.keys()) {
      if (before.has(file)) continue;
      expect((await readWarc(join(warcs, file))).map((r) => r.type)).toEqual(['warcinfo']);
    }
  });

  it('stops a compression bomb at the limit of decoded bytes, keeping no spool or body file', async () => {
    for (const keepBody of [undefined, 'file', 'memory'] as const) {
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
    // The revisit test above closed the first file to read it, so the tests after it wrote a second one.
    expect(warcs.length).toBeGreaterThanOrEqual(1);
    for (const warc of warcs) await expectValidWarc(join(dir, 'warcs', warc));
  });
});
