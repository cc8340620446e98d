import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, copyFile, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { WARCParser } from 'warcio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InfrastructureError } from '../../../src/errors.js';
import { WarcAudit } from '../../../src/stores/warc/audit.js';
import {
  sha1Base32,
  WarcWriter,
  type ExchangeInput,
  type RecordLocation,
  type WarcWriterOptions,
} from '../../../src/stores/warc/writer.js';
import { csvText } from '../../support/csv-text.js';
import { expectValidWarc } from '../../support/jwarc.js';

const HOST = 'testhost';
const REVISIT_PROFILE = 'http://netpreserve.org/warc/1.1/revisit/identical-payload-digest';
const silent = pino({ level: 'silent' });

let dir: string;
let tmp: string;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'warc-writer-'));
  dir = join(tmp, 'warcs');
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function openWriter(options: Partial<WarcWriterOptions> = {}): Promise<WarcWriter> {
  return WarcWriter.open({
    dir,
    prefix: 'TEST',
    rolloverSize: 1 << 30,
    software: 'fileset-ingest/0.1.0',
    operator: 'ops@example.org',
    userAgent: 'fileset-ingest test',
    logger: silent,
    hostname: HOST,
    ...options,
  });
}

const sha1 = (...parts: Buffer[]): Buffer => {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

function responseHead(length: number): Buffer {
  const head = `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
  return Buffer.from(head, 'latin1');
}

/** An exchange whose payload is written to a file; blockSha1 left to the writer unless asked. */
async function exchange(url: string, payload: Buffer, withBlockSha1 = true): Promise<ExchangeInput> {
  const path = join(tmp, `payload-${randomBytes(6).toString('hex')}`);
  await writeFile(path, payload);
  const head = responseHead(payload.length);
  const { pathname } = new URL(url);
  return {
    targetUri: url,
    date: new Date('2024-05-06T07:08:09Z'),
    ipAddress: '192.0.2.10',
    requestHead: Buffer.from(`GET ${pathname} HTTP/1.1\r\nHost: example.org\r\n\r\n`, 'latin1'),
    responseHead: head,
    ...(payload.length > 0 ? { payloadPath: path } : {}),
    payloadLength: payload.length,
    payloadSha1: sha1(payload),
    ...(withBlockSha1 ? { blockSha1: sha1(head, payload) } : {}),
  };
}

interface ParsedRecord {
  headers: Map<string, string>;
  block: Buffer;
}

/** Independent reading of one WARC record: header fields, then exactly Content-Length bytes, then CRLF CRLF. */
function parseRecord(raw: Buffer): ParsedRecord {
  const end = raw.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const [version, ...lines] = raw.subarray(0, end).toString('utf8').split('\r\n');
  expect(version).toBe('WARC/1.1');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    expect(colon).toBeGreaterThan(0);
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = Number(headers.get('content-length'));
  const block = raw.subarray(end + 4, end + 4 + length);
  expect(block.length).toBe(length);
  expect(raw.subarray(end + 4 + length).toString('latin1')).toBe('\r\n\r\n');
  return { headers, block };
}

/** gunzips exactly the (offset, csize) slice of the file: it must hold exactly one record. */
async function readAt(location: { warcPath: string; offset: number; csize: number }): Promise<ParsedRecord> {
  const handle = await open(join(dir, location.warcPath), 'r');
  try {
    const slice = Buffer.alloc(location.csize);
    const { bytesRead } = await handle.read(slice, 0, location.csize, location.offset);
    expect(bytesRead).toBe(location.csize);
    return parseRecord(gunzipSync(slice));
  } finally {
    await handle.close();
  }
}

function expectDigests(record: ParsedRecord): void {
  const { headers, block } = record;
  expect(headers.get('warc-block-digest')).toBe(`sha1:${sha1Base32(sha1(block))}`);
  if (headers.get('warc-type') === 'response') {
    const payload = block.subarray(block.indexOf('\r\n\r\n') + 4);
    expect(headers.get('warc-payload-digest')).toBe(`sha1:${sha1Base32(sha1(payload))}`);
  }
}

/** The record types of a WARC file and its response payloads' SHA-1s, read back by warcio. */
async function warcioRecords(path: string): Promise<{ types: string[]; payloadSha1s: Buffer[] }> {
  const types: string[] = [];
  const payloadSha1s: Buffer[] = [];
  for await (const r of new WARCParser(createReadStream(path))) {
    types.push(r.warcType);
    const bytes = Buffer.from(await r.readFully(false));
    if (r.warcType === 'response') payloadSha1s.push(sha1(bytes));
  }
  return { types, payloadSha1s };
}

async function warcFiles(): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('WarcWriter', () => {
  it('writes linked request/response pairs, a revisit, metadata and a resource that jwarc validates', async () => {
    const writer = await openWriter();
    const payload = Buffer.from('id,value\n1,2\n'.repeat(1000));
    const first = await exchange('https://example.org/data.csv', payload);
    const pair = await writer.writeExchange(first);
    const empty = await writer.writeExchange(await exchange('https://example.org/empty', Buffer.alloc(0)));
    const revisit = await writer.writeExchange({
      ...(await exchange('https://mirror.example.org/data.csv', payload)),
      revisitOf: { targetUri: first.targetUri, date: first.date },
      date: new Date('2024-06-01T00:00:00.250Z'),
    });
    const metadata = await writer.writeMetadata({
      targetUri: 'fileset-ingest:result/1',
      date: new Date('2024-05-06T07:08:10Z'),
      contentType: 'application/json',
      body: Buffer.from('{"status":"success"}'),
      refersTo: pair.response.recordId,
    });
    const resourcePath = join(tmp, 'readme.txt');
    await writeFile(resourcePath, 'a file fetched some other way\n');
    const resource = await writer.writeResource({
      targetUri: 'ftp://example.org/readme.txt',
      date: new Date('2024-05-06T07:08:11Z'),
      contentType: 'text/plain',
      path: resourcePath,
      length: 30,
    });
    const name = writer.currentFile();
    expect(name).toMatch(new RegExp(`^TEST-\\d{17}-\\d{5}-${HOST}-${process.pid}\\.warc\\.gz$`));
    expect(await warcFiles()).toEqual([`${name}.open`]);
    await writer.close();
    expect(writer.currentFile()).toBeUndefined();
    expect(await warcFiles()).toEqual([name]);
    await expectValidWarc(join(dir, name!));

    const warcinfo = parseRecord(gunzipSync((await readFile(join(dir, name!))).subarray(0, pair.request.offset)));
    expect(warcinfo.headers.get('warc-type')).toBe('warcinfo');
    expect(warcinfo.headers.get('warc-filename')).toBe(name);
    expect(warcinfo.headers.get('content-type')).toBe('application/warc-fields');
    expect(warcinfo.block.toString()).toContain('software: fileset-ingest/0.1.0\r\n');
    expect(warcinfo.block.toString()).toContain('format: WARC File Format 1.1\r\n');
    expect(warcinfo.block.toString()).toContain(`hostname: ${HOST}\r\n`);
    expect(warcinfo.block.toString()).toContain('operator: ops@example.org\r\n');
    expect(warcinfo.block.toString()).toContain('http-header-user-agent: fileset-ingest test\r\n');
    const warcinfoId = warcinfo.headers.get('warc-record-id');

    const request = await readAt(pair.request);
    const response = await readAt(pair.response);
    for (const record of [request, response]) {
      expectDigests(record);
      expect(record.headers.get('warc-target-uri')).toBe('https://example.org/data.csv');
      expect(record.headers.get('warc-date')).toBe('2024-05-06T07:08:09Z');
      expect(record.headers.get('warc-ip-address')).toBe('192.0.2.10');
      expect(record.headers.get('warc-warcinfo-id')).toBe(warcinfoId);
    }
    expect(request.headers.get('warc-type')).toBe('request');
    expect(request.headers.get('content-type')).toBe('application/http;msgtype=request');
    expect(request.block).toEqual(first.requestHead);
    expect(request.headers.get('warc-concurrent-to')).toBe(pair.response.recordId);
    expect(response.headers.get('warc-type')).toBe('response');
    expect(response.headers.get('warc-record-id')).toBe(pair.response.recordId);
    expect(response.headers.get('content-type')).toBe('application/http;msgtype=response');
    expect(response.block).toEqual(Buffer.concat([first.responseHead, payload]));
    expect(pair.response.recordId).toMatch(/^<urn:uuid:[0-9a-f-]{36}>$/);
    expect(pair.response.offset).toBe(pair.request.offset + pair.request.csize);

    const emptyResponse = await readAt(empty.response);
    expectDigests(emptyResponse);
    expect(emptyResponse.headers.get('warc-payload-digest')).toBe('sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ');

    const revisitRecord = await readAt(revisit.response);
    expectDigests(revisitRecord);
    expect(revisitRecord.headers.get('warc-type')).toBe('revisit');
    expect(revisitRecord.headers.get('warc-profile')).toBe(REVISIT_PROFILE);
    expect(revisitRecord.headers.get('warc-refers-to-target-uri')).toBe('https://example.org/data.csv');
    expect(revisitRecord.headers.get('warc-refers-to-date')).toBe('2024-05-06T07:08:09Z');
    expect(revisitRecord.headers.get('warc-date')).toBe('2024-06-01T00:00:00.250Z');
    expect(revisitRecord.block).toEqual(first.responseHead);
    expect(revisitRecord.headers.get('warc-payload-digest')).toBe(`sha1:${sha1Base32(sha1(payload))}`);

    const metadataRecord = await readAt(metadata);
    expectDigests(metadataRecord);
    expect(metadataRecord.headers.get('warc-type')).toBe('metadata');
    expect(metadataRecord.headers.get('warc-refers-to')).toBe(pair.response.recordId);
    expect(metadataRecord.block.toString()).toBe('{"status":"success"}');

    const resourceRecord = await readAt(resource);
    expectDigests(resourceRecord);
    expect(resourceRecord.headers.get('warc-type')).toBe('resource');
    expect(resourceRecord.headers.get('warc-target-uri')).toBe('ftp://example.org/readme.txt');
    expect(resourceRecord.headers.get('content-type')).toBe('text/plain');
    expect(resourceRecord.block.toString()).toBe('a file fetched some other way\n');
  });

  it('computes the block digest by streaming when the caller gives none', async () => {
    const writer = await openWriter();
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const { response } = await writer.writeExchange(await exchange('https://example.org/x.bin', payload, false));
    await writer.close();
    const record = await readAt(response);
    expectDigests(record);
    await expectValidWarc(join(dir, response.warcPath));
  });

  it('stores a chunked head as X-Archive-Orig-Transfer-Encoding, digest over the stored head', async () => {
    const writer = await openWriter();
    const payload = Buffer.from('hello, de-chunked world');
    const input = await exchange('https://example.org/chunked', payload);
    input.responseHead = Buffer.from(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n',
      'latin1',
    );
    input.blockSha1 = sha1(input.responseHead, payload); // over the head as sent: no longer true
    const { response } = await writer.writeExchange(input);
    await writer.close();
    const record = await readAt(response);
    expectDigests(record);
    const head = record.block.subarray(0, record.block.indexOf('\r\n\r\n') + 4).toString('latin1');
    expect(head).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\n\r\n',
    );
    expect(record.block.subarray(head.length)).toEqual(payload);
    await expectValidWarc(join(dir, response.warcPath));
  });

  it('rolls over at the size limit: every file starts with warcinfo, pairs never split, no .open left', async () => {
    const writer = await openWriter({ rolloverSize: 1024 });
    const pairs = [];
    for (let i = 0; i < 5; i++) {
      pairs.push(await writer.writeExchange(await exchange(`https://example.org/${i}`, randomBytes(2000))));
    }
    await writer.close();
    const files = await warcFiles();
    expect(files).toHaveLength(5);
    const serials = files.map((name) => Number(/-(\d{5})-testhost-/.exec(name)?.[1]));
    for (let i = 1; i < serials.length; i++) expect(serials[i]).toBe(serials[0]! + i);
    expect(files.some((name) => name.endsWith('.open'))).toBe(false);
    for (const [i, pair] of pairs.entries()) {
      expect(pair.request.warcPath).toBe(pair.response.warcPath);
      expect(pair.request.warcPath).toBe(files[i]);
      expect(pair.request.warcPath.endsWith('.warc.gz')).toBe(true);
    }
    for (const name of files) {
      const bytes = await readFile(join(dir, name));
      const first = pairs.find((p) => p.request.warcPath === name)!.request.offset;
      const warcinfo = parseRecord(gunzipSync(bytes.subarray(0, first)));
      expect(warcinfo.headers.get('warc-type')).toBe('warcinfo');
      expect(warcinfo.headers.get('warc-filename')).toBe(name);
      await expectValidWarc(join(dir, name));
    }
  });

  it('opens a new file for writes after close()', async () => {
    const writer = await openWriter();
    const a = await writer.writeExchange(await exchange('https://example.org/a', Buffer.from('a')));
    await writer.close();
    await writer.close(); // nothing open: a no-op
    const b = await writer.writeExchange(await exchange('https://example.org/b', Buffer.from('b')));
    expect(writer.currentFile()).toBe(b.request.warcPath);
    await writer.close();
    expect(b.request.warcPath).not.toBe(a.request.warcPath);
    expect(await warcFiles()).toEqual([a.request.warcPath, b.request.warcPath].sort());
  });

  it('serialises 20 concurrent exchanges: records tile the file exactly and read back intact', async () => {
    const writer = await openWriter();
    const inputs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => exchange(`https://example.org/c/${i}`, randomBytes((i * 37_001) % 300_000))),
    );
    const results = await Promise.all(inputs.map((input) => writer.writeExchange(input)));
    const name = writer.currentFile()!;
    await writer.close();
    const locations: RecordLocation[] = results.flatMap((r) => [r.request, r.response]);
    expect(new Set(locations.map((l) => l.warcPath))).toEqual(new Set([name]));
    locations.sort((a, b) => a.offset - b.offset);
    const { size } = await stat(join(dir, name));
    for (let i = 1; i < locations.length; i++) {
      expect(locations[i]!.offset).toBe(locations[i - 1]!.offset + locations[i - 1]!.csize);
    }
    expect(locations.at(-1)!.offset + locations.at(-1)!.csize).toBe(size);
    for (const [i, result] of results.entries()) {
      expect(result.response.offset).toBe(result.request.offset + result.request.csize);
      const record = await readAt(result.response);
      expectDigests(record);
      expect(record.headers.get('warc-target-uri')).toBe(`https://example.org/c/${i}`);
    }
    await expectValidWarc(join(dir, name));
  });

  it('rejects a write whose payload file is missing or of the wrong size, and keeps the file consistent', async () => {
    const writer = await openWriter();
    await writer.writeExchange(await exchange('https://example.org/ok', Buffer.from('ok')));
    const openPath = join(dir, `${writer.currentFile()!}.open`);
    const before = (await stat(openPath)).size;

    const missing = await exchange('https://example.org/missing', Buffer.from('gone'));
    await rm(missing.payloadPath!);
    await expect(writer.writeExchange(missing)).rejects.toBeInstanceOf(InfrastructureError);
    const wrongSize = await exchange('https://example.org/short', Buffer.from('short'));
    const wrongLength = writer.writeExchange({ ...wrongSize, payloadLength: 500 });
    await expect(wrongLength).rejects.toThrow(/has 5 bytes, declared 500/);
    expect((await stat(openPath)).size).toBe(before);

    const later = await writer.writeExchange(await exchange('https://example.org/later', Buffer.from('later')));
    expect(later.request.offset).toBe(before);
    await writer.close();
    await expectValidWarc(join(dir, later.request.warcPath));
  });

  it('cuts the file back to the start of the pair when the second record fails', async () => {
    const writer = await openWriter();
    await writer.writeExchange(await exchange('https://example.org/ok', Buffer.from('ok')));
    const openPath = join(dir, `${writer.currentFile()!}.open`);
    const before = (await stat(openPath)).size;
    // The request record is written, then the response header is refused.
    const bad = await exchange('https://example.org/bad', Buffer.from('x'));
    bad.warcinfoTruncated = 'length\r\nX: y';
    await expect(writer.writeExchange(bad)).rejects.toThrow(/control character/);
    expect((await stat(openPath)).size).toBe(before);
    const later = await writer.writeExchange(await exchange('https://example.org/later', Buffer.from('later')));
    expect(later.request.offset).toBe(before);
    await writer.close();
    await expectValidWarc(join(dir, later.request.warcPath));
  });

  it('stores incompressible payloads and deflates compressible ones, each record one valid member', async () => {
    const writer = await openWriter();
    const random = randomBytes(3 << 20);
    const text = csvText(3 << 20);
    const mixed = Buffer.concat([text.subarray(0, 1 << 20), random.subarray(0, 1 << 20)]);
    const stored = await writer.writeExchange(await exchange('https://example.org/random.bin', random));
    const deflated = await writer.writeExchange(await exchange('https://example.org/table.csv', text));
    const both = await writer.writeExchange(await exchange('https://example.org/mixed', mixed));
    await writer.close();
    // Random bytes: stored blocks cost 5 bytes per 64 KiB, plus the WARC header.
    expect(stored.response.csize).toBeLessThan(random.length + 2048);
    expect(stored.response.csize).toBeGreaterThan(random.length);
    expect(deflated.response.csize).toBeLessThan(text.length * 0.4);
    expect(both.response.csize).toBeLessThan((1 << 20) * 1.4);
    for (const { response } of [stored, deflated, both]) expectDigests(await readAt(response));
    expect((await readAt(both.response)).block.subarray(-mixed.length).equals(mixed)).toBe(true);
    await expectValidWarc(join(dir, stored.response.warcPath));
  });

  it('honours gzipLevel 0: every record stored, still one valid member each', async () => {
    const writer = await openWriter({ gzipLevel: 0 });
    const text = csvText(200_000);
    const { response } = await writer.writeExchange(await exchange('https://example.org/t.csv', text));
    await writer.close();
    expect(response.csize).toBeGreaterThan(text.length);
    expectDigests(await readAt(response));
    await expectValidWarc(join(dir, response.warcPath));
    await expect(openWriter({ gzipLevel: 10 })).rejects.toThrow(RangeError);
  });

  it('streams a 50 MB payload without holding it in memory', async () => {
    const payloadPath = join(tmp, 'big.bin');
    const size = 50 * 1024 * 1024;
    const payloadHash = createHash('sha1');
    const out = createWriteStream(payloadPath);
    const unit = Buffer.from('station,temperature,pressure\n'.repeat(2000));
    for (let written = 0; written < size;) {
      const chunk = Buffer.concat([unit, randomBytes(4096)]).subarray(0, Math.min(unit.length + 4096, size - written));
      payloadHash.update(chunk);
      written += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve) => out.end(() => resolve()));
    const payloadSha1 = payloadHash.digest();
    const head = responseHead(size);

    const writer = await openWriter();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
    const { response } = await writer.writeExchange({
      targetUri: 'https://example.org/big.bin',
      date: new Date('2024-05-06T07:08:09Z'),
      requestHead: Buffer.from('GET /big.bin HTTP/1.1\r\n\r\n'),
      responseHead: head,
      payloadPath,
      payloadLength: size,
      payloadSha1,
    });
    clearInterval(sampler);
    await writer.close();
    // ~15 MB observed (1 MiB blocks, a few in flight); holding the payload whole would need over 50.
    expect(rssPeak - rssBefore).toBeLessThan(size * 0.75);

    // Read the member back as a stream: header, then the block, digests checked on the way.
    const blockHash = createHash('sha1');
    const bodyHash = createHash('sha1');
    let header: Buffer | undefined;
    let pending = Buffer.alloc(0);
    let blockBytes = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, callback) {
        let data = Buffer.concat([pending, chunk]);
        if (!header) {
          const end = data.indexOf('\r\n\r\n');
          if (end < 0) {
            pending = data;
            return callback();
          }
          header = data.subarray(0, end + 4);
          data = data.subarray(end + 4);
        }
        // Hold back the record's closing CRLF CRLF until the end.
        const keep = Math.min(4, data.length);
        const body = data.subarray(0, data.length - keep);
        blockHash.update(body);
        const payloadStart = Math.max(0, head.length - blockBytes);
        if (payloadStart < body.length) bodyHash.update(body.subarray(payloadStart));
        blockBytes += body.length;
        pending = data.subarray(data.length - keep);
        callback();
      },
    });
    const slice = createReadStream(join(dir, response.warcPath), {
      start: response.offset,
      end: response.offset + response.csize - 1,
    });
    await new Promise<void>((resolve, reject) => {
      slice.pipe(createGunzip()).on('error', reject).pipe(sink).on('finish', resolve).on('error', reject);
    });
    expect(pending.toString('latin1')).toBe('\r\n\r\n');
    const headerText = header!.toString('utf8');
    expect(headerText).toContain(`Content-Length: ${head.length + size}\r\n`);
    expect(blockBytes).toBe(head.length + size);
    expect(headerText).toContain(`WARC-Block-Digest: sha1:${sha1Base32(blockHash.digest())}\r\n`);
    expect(sha1Base32(bodyHash.digest())).toBe(sha1Base32(payloadSha1));
    await expectValidWarc(join(dir, response.warcPath));
  });

  describe('payloads deflated while they download (createDeflatedSpool) and payloads in memory', () => {
    /** Pushes `payload` through a spool in uneven chunks, as a download arrives; the exchange to write. */
    async function deflatedExchange(writer: WarcWriter, url: string, payload: Buffer): Promise<ExchangeInput> {
      const spool = await writer.createDeflatedSpool(join(tmp, `spool-${randomBytes(6).toString('hex')}`));
      for (let at = 0; at < payload.length; at += 77_777) await spool.push(payload.subarray(at, at + 77_777));
      const deflatedPayload = await spool.finish();
      const { payloadPath: _unused, ...input } = await exchange(url, payload);
      return { ...input, deflatedPayload };
    }

    it('assembles one member per record from parts: jwarc validates, warcio.js reads, digests hold', async () => {
      const writer = await openWriter();
      const text = csvText(3 << 20, 5);
      const random = randomBytes((2 << 20) + 3);
      const mixed = Buffer.concat([text.subarray(0, 1_500_000), random]);
      const small = Buffer.from('in memory');
      const { payloadPath: _file, ...smallInput } = await exchange('https://example.org/small', small);
      const payloads = [text, random, mixed, small];
      const inputs = [
        await deflatedExchange(writer, 'https://example.org/text.csv', text),
        await deflatedExchange(writer, 'https://example.org/random.bin', random),
        await deflatedExchange(writer, 'https://example.org/mixed', mixed),
        { ...smallInput, payload: small },
      ];
      const written = [];
      for (const input of inputs) written.push(await writer.writeExchange(input));
      await writer.close();
      const name = written[0]!.response.warcPath;
      await expectValidWarc(join(dir, name));
      for (const [i, { response }] of written.entries()) {
        const record = await readAt(response);
        expectDigests(record);
        expect(record.block.equals(Buffer.concat([inputs[i]!.responseHead, payloads[i]!]))).toBe(true);
      }
      expect(written[0]!.response.csize).toBeLessThan(text.length * 0.4);
      expect(written[1]!.response.csize).toBeLessThan(random.length + 2048);

      // warcio.js, a second independent reader, walking the whole file member by member (it parses
      // the HTTP head, so what it reads is the payload).
      const seen: Array<{ type: string; uri: string | null | undefined; payloadSha1: Buffer }> = [];
      for await (const record of new WARCParser(createReadStream(join(dir, name)))) {
        seen.push({
          type: record.warcType,
          uri: record.warcTargetURI,
          payloadSha1: sha1(Buffer.from(await record.readFully(false))),
        });
      }
      expect(seen.map((r) => r.type)).toEqual(['warcinfo', ...inputs.flatMap(() => ['request', 'response'])]);
      const responses = seen.filter((r) => r.type === 'response');
      expect(responses.map((r) => r.uri)).toEqual(inputs.map((i) => i.targetUri));
      expect(responses.map((r) => r.payloadSha1)).toEqual(inputs.map((i) => i.payloadSha1));
    });

    it('refuses a deflated payload whose length or digest cannot be trusted, and writes nothing', async () => {
      const writer = await openWriter();
      const payload = csvText(100_000);
      const input = await deflatedExchange(writer, 'https://example.org/t.csv', payload);
      await writer.writeExchange(await exchange('https://example.org/before', Buffer.from('x')));
      const before = (await stat(join(dir, `${writer.currentFile()!}.open`))).size;
      await expect(writer.writeExchange({ ...input, payloadLength: payload.length + 1 })).rejects.toThrow(
        InfrastructureError,
      );
      const { blockSha1: _unused, ...withoutDigest } = input;
      await expect(writer.writeExchange(withoutDigest)).rejects.toThrow(/blockSha1/);
      expect((await stat(join(dir, `${writer.currentFile()!}.open`))).size).toBe(before);
      await writer.close();
    });

    it('recovery keeps the records before a streamed record cut mid-copy (a crash while assembling it)', async () => {
      const writer = await openWriter();
      const kept = await writer.writeExchange(await exchange('https://example.org/kept', csvText(50_000)));
      const big = await writer.writeExchange(
        await deflatedExchange(
          writer,
          'https://example.org/big',
          Buffer.concat([csvText(2 << 20), randomBytes(2 << 20)]),
        ),
      );
      const name = `${writer.currentFile()!}.open`;
      const saved = join(tmp, 'saved');
      await copyFile(join(dir, name), saved);
      await writer.close();
      await rm(join(dir, name.replace(/\.open$/, '')));
      // As a killed process leaves it: the streamed response member half copied.
      const deadName = name.replace(`-${process.pid}.warc.gz.open`, '-999999.warc.gz.open');
      const cut = big.response.offset + Math.floor(big.response.csize / 2);
      await writeFile(join(dir, deadName), (await readFile(saved)).subarray(0, cut));
      const reopened = await openWriter();
      const recovered = deadName.replace(/\.open$/, '');
      // The big pair's request record survives; its response does not.
      expect((await stat(join(dir, recovered))).size).toBe(big.request.offset + big.request.csize);
      await expectValidWarc(join(dir, recovered));
      expectDigests(await readAt({ ...kept.response, warcPath: recovered }));
      await reopened.close();
    });
  });

  describe('a payload that fills a WARC file on its own goes straight into a file of its own', () => {
    const ROLLOVER = 1 << 20;

    /** A download's spool with its declared length (at least the rollover size), fed in uneven chunks. */
    async function ownFileExchange(
      writer: WarcWriter,
      url: string,
      payload: Buffer,
    ): Promise<{ input: ExchangeInput; spool: Awaited<ReturnType<WarcWriter['createDeflatedSpool']>> }> {
      const { payloadPath: _unused, ...input } = await exchange(url, payload);
      const headBytes = input.requestHead.length + input.responseHead.length + 2 * url.length;
      const spool = await writer.createDeflatedSpool(join(tmp, 'never-made'), {
        declaredLength: payload.length,
        headBytes,
      });
      for (let at = 0; at < payload.length; at += 77_777) await spool.push(payload.subarray(at, at + 77_777));
      return { input: { ...input, deflatedPayload: await spool.finish() }, spool };
    }

    it('writes warcinfo, request and response as one member each around the payload part: every reader agrees', async () => {
      const writer = await openWriter({ rolloverSize: ROLLOVER });
      const before = await writer.writeExchange(await exchange('https://example.org/small', Buffer.from('small')));
      const payload = Buffer.concat([csvText(3 << 20, 9), randomBytes((2 << 20) + 5)]);
      const { input, spool } = await ownFileExchange(writer, 'https://example.org/big.bin', payload);
      expect(input.deflatedPayload!.at).toBeGreaterThan(0);
      const big = await writer.writeExchange(input);
      await spool.release();
      await writer.close();
      // No spool file was made; the big record's file is closed already, under its final name.
      expect(await readdir(tmp)).not.toContain('never-made');
      expect(big.response.warcPath).not.toBe(before.response.warcPath);
      expect((await warcFiles()).sort()).toEqual([before.response.warcPath, big.response.warcPath].sort());
      const path = join(dir, big.response.warcPath);
      await expectValidWarc(path);
      const file = await readFile(path);
      // The response member is the file's last, and gunzip reads the whole file member by member.
      expect(big.response.offset + big.response.csize).toBe(file.length);
      expect(big.request.offset + big.request.csize).toBe(big.response.offset);
      const record = gunzipSync(file.subarray(big.response.offset));
      expect(record.subarray(-payload.length - 4, -4).equals(payload)).toBe(true);
      expect(gunzipSync(file).includes(payload.subarray(0, 1000))).toBe(true);
      const parsed = await readAt(big.response);
      expectDigests(parsed);
      expect(parsed.block.equals(Buffer.concat([input.responseHead, payload]))).toBe(true);
      // Text deflated, random stored, and only a few KiB of empty blocks before the payload part.
      expect(big.response.csize).toBeLessThan(payload.length * 0.7);
      const { types, payloadSha1s } = await warcioRecords(path);
      expect(types).toEqual(['warcinfo', 'request', 'response']);
      expect(payloadSha1s).toEqual([input.payloadSha1]);
      // Our own fixity audit (fileset-ingest verify): every member inflated, CRC and digests checked.
      const audit = new WarcAudit();
      await audit.file(path, big.response.warcPath);
      audit.finish();
      expect(audit.problems).toEqual([]);
      expect(audit.records).toBe(3);
      expect(audit.payloadBytes).toBe(payload.length);
    });

    it('drops the file when the record is not written (a revisit, or a failed write)', async () => {
      const writer = await openWriter({ rolloverSize: ROLLOVER });
      const payload = randomBytes(ROLLOVER + 10);
      const { input, spool } = await ownFileExchange(writer, 'https://example.org/dup.bin', payload);
      expect(await warcFiles()).toHaveLength(1);
      await expect(writer.writeExchange({ ...input, payloadLength: payload.length + 1 })).rejects.toThrow(
        InfrastructureError,
      );
      await writer.writeExchange({
        ...input,
        revisitOf: { targetUri: 'https://example.org/first.bin', date: new Date('2024-01-01T00:00:00Z') },
      });
      await spool.release();
      await writer.close();
      // Only the revisit's file is left; the payload's own file is gone.
      const files = await warcFiles();
      expect(files).toHaveLength(1);
      expect(files[0]).not.toMatch(/\.open$/);
      await expectValidWarc(join(dir, files[0]!));
    });

    it('recovery keeps the warcinfo of a file whose download was cut (a crash mid-download)', async () => {
      const writer = await openWriter({ rolloverSize: ROLLOVER });
      const spool = await writer.createDeflatedSpool(join(tmp, 'never-made'), {
        declaredLength: 4 << 20,
        headBytes: 300,
      });
      await spool.push(randomBytes(3 << 20));
      const [name] = await warcFiles();
      const deadName = name!.replace(`-${process.pid}.warc.gz.open`, '-999999.warc.gz.open');
      await copyFile(join(dir, name!), join(dir, deadName));
      await spool.discard();
      await writer.close();
      expect(await warcFiles()).toEqual([deadName]);
      const reopened = await openWriter();
      const recovered = deadName.replace(/\.open$/, '');
      expect(await warcFiles()).toEqual([recovered]);
      await expectValidWarc(join(dir, recovered));
      const types: string[] = [];
      for await (const r of new WARCParser(createReadStream(join(dir, recovered)))) types.push(r.warcType);
      expect(types).toEqual(['warcinfo']);
      await reopened.close();
    });

    describe('lanes: the files large payloads are deflated into', () => {
      const LANE_ROLLOVER = 64 << 20;

      /** A spool hinted as a large download (16 MiB declared), fed `payload` in uneven chunks. */
      async function laneSpool(writer: WarcWriter, url: string, payload: Buffer) {
        const { payloadPath: _unused, ...input } = await exchange(url, payload);
        const headBytes = input.requestHead.length + input.responseHead.length + 2 * url.length;
        const spool = await writer.createDeflatedSpool(join(tmp, 'never-made'), {
          declaredLength: 16 << 20,
          headBytes,
        });
        const feed = async () => {
          for (let at = 0; at < payload.length; at += 77_777) await spool.push(payload.subarray(at, at + 77_777));
          return { ...input, deflatedPayload: await spool.finish() };
        };
        return { spool, feed };
      }

      /** Record types and payload sha1s of a file, read by warcio; the file also checked by jwarc and verify. */
      async function readBack(path: string): Promise<{ types: string[]; payloads: Buffer[] }> {
        await expectValidWarc(path);
        const audit = new WarcAudit();
        await audit.file(path, 'lane.warc.gz');
        audit.finish();
        expect(audit.problems).toEqual([]);
        const { types, payloadSha1s } = await warcioRecords(path);
        return { types, payloads: payloadSha1s };
      }

      it('two payloads at once go into two files; the next one goes after a finished one, in the same file', async () => {
        const writer = await openWriter({ rolloverSize: LANE_ROLLOVER });
        const payloads = [randomBytes(300_000), csvText(400_000, 3), randomBytes(200_000)];
        const a = await laneSpool(writer, 'https://example.org/a.bin', payloads[0]!);
        const b = await laneSpool(writer, 'https://example.org/b.csv', payloads[1]!);
        const [inputA, inputB] = await Promise.all([a.feed(), b.feed()]);
        const written = [await writer.writeExchange(inputA), await writer.writeExchange(inputB)];
        await Promise.all([a.spool.release(), b.spool.release()]);
        expect(written[0]!.response.warcPath).not.toBe(written[1]!.response.warcPath);
        const c = await laneSpool(writer, 'https://example.org/c.bin', payloads[2]!);
        written.push(await writer.writeExchange(await c.feed()));
        await c.spool.release();
        // The third took an idle lane: right after the record it follows, in the same file.
        const previous = written.slice(0, 2).find((w) => w.response.warcPath === written[2]!.response.warcPath)!;
        expect(previous).toBeDefined();
        expect(written[2]!.request.offset).toBe(previous.response.offset + previous.response.csize);
        await writer.close();
        expect((await warcFiles()).sort()).toEqual(
          [written[0]!.response.warcPath, written[1]!.response.warcPath].sort(),
        );
        const shared = await readBack(join(dir, written[2]!.response.warcPath));
        expect(shared.types).toEqual(['warcinfo', 'request', 'response', 'request', 'response']);
        const other = await readBack(
          join(dir, written.find((w) => w.response.warcPath !== written[2]!.response.warcPath)!.response.warcPath),
        );
        expect(other.types).toEqual(['warcinfo', 'request', 'response']);
        expect([...shared.payloads, ...other.payloads].map((p) => p.toString('hex')).sort()).toEqual(
          payloads.map((p) => sha1(p).toString('hex')).sort(),
        );
        for (const w of written) expectDigests(await readAt(w.response));
      });

      it('a release that comes after the next payload took the lane leaves that payload alone (regression)', async () => {
        const writer = await openWriter({ rolloverSize: LANE_ROLLOVER });
        const payloads = [randomBytes(300_000), csvText(2 << 20, 5)];
        const a = await laneSpool(writer, 'https://example.org/first.bin', payloads[0]!);
        const first = await writer.writeExchange(await a.feed());
        // The next payload takes the same lane (same file) before the first one's spool is released.
        const b = await laneSpool(writer, 'https://example.org/next.csv', payloads[1]!);
        const fed = b.feed();
        await a.spool.release();
        const next = await writer.writeExchange(await fed);
        await b.spool.release();
        expect(next.response.warcPath).toBe(first.response.warcPath);
        expect(next.request.offset).toBe(first.response.offset + first.response.csize);
        await writer.close();
        const read = await readBack(join(dir, first.response.warcPath));
        expect(read.types).toEqual(['warcinfo', 'request', 'response', 'request', 'response']);
        expect(read.payloads).toEqual(payloads.map((p) => sha1(p)));
      });

      it('a payload that is not written (a failure, or a revisit) is cut off the lane; the records before it stay', async () => {
        const writer = await openWriter({ rolloverSize: LANE_ROLLOVER });
        const first = await laneSpool(writer, 'https://example.org/kept.bin', randomBytes(250_000));
        const kept = await writer.writeExchange(await first.feed());
        await first.spool.release();
        const end = kept.response.offset + kept.response.csize;
        const path = join(dir, `${kept.response.warcPath}.open`);
        // A download that fails half-way: its bytes went into the lane, and are cut off again.
        const failed = await laneSpool(writer, 'https://example.org/cut.bin', randomBytes(600_000));
        // Four blocks: with at most three in flight, the first has been written once the last is pushed.
        await failed.spool.push(randomBytes(4 << 20));
        expect((await stat(path)).size).toBeGreaterThan(end);
        await failed.spool.discard();
        expect((await stat(path)).size).toBe(end);
        // A revisit: the payload is not written, and the revisit record goes to the main file.
        const again = await laneSpool(writer, 'https://example.org/again.bin', randomBytes(250_000));
        const revisit = await writer.writeExchange({
          ...(await again.feed()),
          revisitOf: { targetUri: 'https://example.org/kept.bin', date: new Date('2024-01-01T00:00:00Z') },
        });
        await again.spool.release();
        expect(revisit.response.warcPath).not.toBe(kept.response.warcPath);
        expect((await stat(path)).size).toBe(end);
        await writer.close();
        expect((await readBack(join(dir, kept.response.warcPath))).types).toEqual(['warcinfo', 'request', 'response']);
      });

      it('a lane file left by a crash mid-payload is recovered to its last whole record', async () => {
        const writer = await openWriter({ rolloverSize: LANE_ROLLOVER });
        const first = await laneSpool(writer, 'https://example.org/whole.bin', randomBytes(250_000));
        const kept = await writer.writeExchange(await first.feed());
        await first.spool.release();
        const cut = await laneSpool(writer, 'https://example.org/half.bin', randomBytes(900_000));
        await cut.spool.push(randomBytes(4 << 20));
        const name = `${kept.response.warcPath}.open`;
        expect((await stat(join(dir, name))).size).toBeGreaterThan(kept.response.offset + kept.response.csize);
        const deadName = name.replace(`-${process.pid}.warc.gz.open`, '-999999.warc.gz.open');
        await copyFile(join(dir, name), join(dir, deadName));
        await cut.spool.discard();
        await writer.close();
        await rm(join(dir, kept.response.warcPath));
        const reopened = await openWriter();
        const recovered = deadName.replace(/\.open$/, '');
        expect(await warcFiles()).toEqual([recovered]);
        expect((await readBack(join(dir, recovered))).types).toEqual(['warcinfo', 'request', 'response']);
        await reopened.close();
      });
    });

    it('keeps the spool file of a payload below the rollover size', async () => {
      const writer = await openWriter({ rolloverSize: ROLLOVER });
      const spool = await writer.createDeflatedSpool(join(tmp, 'spooled'), {
        declaredLength: ROLLOVER - 1,
        headBytes: 300,
      });
      await spool.push(randomBytes(1000));
      const part = await spool.finish();
      expect(part.at).toBeUndefined();
      expect(await readdir(tmp)).toContain('spooled');
      await spool.release();
      expect(await readdir(tmp)).not.toContain('spooled');
      await writer.close();
    });
  });

  describe('recovery on open', () => {
    it('recovers a file named with its own pid: a restarted container worker gets the same pid (regression)', async () => {
      const writer = await openWriter();
      await writer.writeExchange(await exchange('https://example.org/same-pid', randomBytes(2000)));
      const name = `${writer.currentFile()!}.open`;
      await copyFile(join(dir, name), join(dir, `${name}.saved`));
      await writer.close();
      await rm(join(dir, name.replace(/\.open$/, '')));
      // As a killed process leaves it: still .open, named with the pid this process has now.
      await rename(join(dir, `${name}.saved`), join(dir, name));
      const reopened = await openWriter();
      expect(await warcFiles()).toEqual([name.replace(/\.open$/, '')]);
      await expectValidWarc(join(dir, name.replace(/\.open$/, '')));
      await reopened.close();
    });

    it('finishes the .open files of dead processes of this host and leaves the others alone', async () => {
      // A real file, left open as a crash would leave it, then torn mid-record.
      const writer = await openWriter();
      const pair = await writer.writeExchange(await exchange('https://example.org/kept', randomBytes(5000)));
      const liveName = `${writer.currentFile()!}.open`;
      const intactLength = pair.response.offset + pair.response.csize;
      const deadName = liveName.replace(`-${process.pid}.warc.gz.open`, '-999999.warc.gz.open');
      await copyFile(join(dir, liveName), join(dir, deadName));
      await writer.close();
      await rm(join(dir, liveName.replace(/\.open$/, '')));
      const torn = gzipSync(Buffer.concat([Buffer.from('WARC/1.1\r\nWARC-Type: response\r\n'), randomBytes(20_000)]));
      await appendFile(join(dir, deadName), torn.subarray(0, torn.length >> 1));
      // Only a partial first member: set aside.
      const hopeless = 'TEST-20240101000000000-00001-testhost-999998.warc.gz.open';
      await writeFile(join(dir, hopeless), torn.subarray(0, 100));
      // Not ours to touch: a live process (our parent) and another host.
      const live = `TEST-20240101000000000-00002-testhost-${process.ppid}.warc.gz.open`;
      const otherHost = 'TEST-20240101000000000-00003-otherhost-999999.warc.gz.open';
      await writeFile(join(dir, live), torn.subarray(0, 100));
      await writeFile(join(dir, otherHost), torn.subarray(0, 100));

      const logs: Array<Record<string, unknown>> = [];
      const logger = pino(
        { level: 'info' },
        new Writable({
          write(line: Buffer, _enc, callback) {
            logs.push(JSON.parse(line.toString()) as Record<string, unknown>);
            callback();
          },
        }),
      );
      const reopened = await openWriter({ logger });
      const recoveredName = deadName.replace(/\.open$/, '');
      expect(await warcFiles()).toEqual(
        [recoveredName, hopeless.replace(/\.open$/, '.corrupt'), live, otherHost].sort(),
      );
      expect((await stat(join(dir, recoveredName))).size).toBe(intactLength);
      await expectValidWarc(join(dir, recoveredName));
      const kept = await readAt({ ...pair.response, warcPath: recoveredName });
      expect(kept.headers.get('warc-target-uri')).toBe('https://example.org/kept');
      expect(logs).toContainEqual(
        expect.objectContaining({ msg: 'recovered stale WARC file', file: recoveredName, records: 3 }),
      );
      expect(logs.some((l) => typeof l.msg === 'string' && l.msg.includes('.corrupt'))).toBe(true);
      expect(reopened.currentFile()).toBeUndefined();
    });
  });
});
