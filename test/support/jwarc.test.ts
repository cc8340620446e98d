// Checks the jwarc helper itself: a hand-made valid WARC passes, corrupted copies fail.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValidWarc, validateWarc } from './jwarc.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}
const sha1 = (b: Buffer): string => `sha1:${base32(createHash('sha1').update(b).digest())}`;

/** One uncompressed WARC/1.1 record with a correct block digest. */
function record(headers: Record<string, string>, block: Buffer): Buffer {
  const all = { ...headers, 'WARC-Block-Digest': sha1(block), 'Content-Length': String(block.length) };
  const head = ['WARC/1.1', ...Object.entries(all).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), block, Buffer.from('\r\n\r\n')]);
}

const date = '2024-01-02T03:04:05Z';
const warcinfo = record(
  {
    'WARC-Type': 'warcinfo',
    'WARC-Record-ID': `<urn:uuid:${randomUUID()}>`,
    'WARC-Date': date,
    'WARC-Filename': 'test.warc.gz',
    'Content-Type': 'application/warc-fields',
  },
  Buffer.from('software: fileset-ingest tests\r\nformat: WARC File Format 1.1\r\n'),
);
const payload = Buffer.from('hello, world\n');
const resourceHeaders = {
  'WARC-Type': 'resource',
  'WARC-Record-ID': `<urn:uuid:${randomUUID()}>`,
  'WARC-Date': date,
  'WARC-Target-URI': 'https://example.org/invalid-failed-ERROR.txt', // words the checker must not trip on
  'Content-Type': 'text/plain',
  'WARC-Payload-Digest': sha1(payload),
};
const resource = record(resourceHeaders, payload);
/** Replace bytes in a record after its digest was computed. */
const tamper = (rec: Buffer, from: string, to: string): Buffer =>
  Buffer.from(rec.toString('latin1').replace(from, to), 'latin1');

let dir = '';
const file = async (name: string, data: Buffer): Promise<string> => {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jwarc-test-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('jwarc validator', () => {
  it('accepts a valid gzipped WARC (one gzip member per record)', async () => {
    const p = await file('good.warc.gz', Buffer.concat([gzipSync(warcinfo), gzipSync(resource)]));
    await expectValidWarc(p);
    const r = await validateWarc(p);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/offset 0 \(length \d+\) warcinfo application\/warc-fields/);
    expect(r.stdout).toMatch(/resource text\/plain/);
    expect(r.stdout.match(/block digest pass/g)).toHaveLength(2);
    expect(r.stdout).toMatch(/payload digest pass/);
  });

  it('accepts a valid uncompressed WARC', async () => {
    await expectValidWarc(await file('good.warc', Buffer.concat([warcinfo, resource])));
  });

  it('rejects a record whose content does not match its digests', async () => {
    const bad = tamper(resource, 'hello, world', 'HELLO, world');
    const p = await file('bad-digest.warc.gz', Buffer.concat([gzipSync(warcinfo), gzipSync(bad)]));
    await expect(expectValidWarc(p)).rejects.toThrow(/block digest failed/);
  });

  it('rejects a truncated gzip member', async () => {
    const good = Buffer.concat([gzipSync(warcinfo), gzipSync(resource)]);
    const p = await file('truncated.warc.gz', good.subarray(0, good.length - 12));
    await expect(expectValidWarc(p)).rejects.toThrow(/unexpected end of gzip stream/);
  });

  it('rejects corrupt deflate data', async () => {
    const first = gzipSync(warcinfo);
    const data = Buffer.concat([first, gzipSync(resource)]);
    data[first.length + 20] = (data[first.length + 20] ?? 0) ^ 0xff;
    await expect(expectValidWarc(await file('corrupt.warc.gz', data))).rejects.toThrow(/jwarc rejects/);
  });

  it('rejects a header violation that jwarc reports but exits 0 for', async () => {
    const noId = tamper(resource, `WARC-Record-ID: ${resourceHeaders['WARC-Record-ID']}\r\n`, '');
    const p = await file('no-record-id.warc.gz', Buffer.concat([gzipSync(warcinfo), gzipSync(noId)]));
    const r = await validateWarc(p);
    expect(r.exitCode).toBe(0); // jwarc's own verdict is lenient here...
    expect(r.stdout).toMatch(/ERROR: Missing mandatory field: WARC-Record-ID/);
    await expect(expectValidWarc(p)).rejects.toThrow(/Missing mandatory field/); // ...ours is not
  });

  it('rejects an empty file (jwarc exits 0 on it)', async () => {
    const p = await file('empty.warc.gz', Buffer.alloc(0));
    expect((await validateWarc(p)).exitCode).toBe(0);
    await expect(expectValidWarc(p)).rejects.toThrow(/no WARC record found/);
  });

  it('rejects trailing garbage after the last record', async () => {
    const data = Buffer.concat([gzipSync(warcinfo), gzipSync(resource), Buffer.from('junk')]);
    await expect(expectValidWarc(await file('trailing.warc.gz', data))).rejects.toThrow(/jwarc rejects/);
  });
});
