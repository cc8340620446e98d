import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { crc32, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AdaptiveDeflater } from '../../../src/stores/warc/deflate.js';
import {
  GZIP_HEADER,
  GzipMemberWriter,
  combineSummaries,
  crc32Combine,
  gzipTrailer,
} from '../../../src/stores/warc/gzip-member.js';
import { csvText } from '../../support/csv-text.js';

const options = { level: 5, blockSize: 16 * 1024, inFlight: 3 };

async function member(parts: Buffer[], blockSize = 16 * 1024): Promise<{ out: Buffer; csize: number }> {
  const written: Buffer[] = [];
  const writer = new GzipMemberWriter(
    async (chunks) => {
      for (const chunk of chunks) written.push(Buffer.from(chunk));
    },
    { ...options, blockSize },
  );
  for (const part of parts) await writer.push(part);
  const csize = await writer.finish();
  return { out: Buffer.concat(written), csize };
}

/** A raw deflate part (final or not) of `input`, with its CRC and length. */
async function part(input: Buffer, final: boolean) {
  const written: Buffer[] = [];
  const sink = async (chunks: Buffer[]) => void written.push(...chunks.map((c) => Buffer.from(c)));
  const deflater = new AdaptiveDeflater(sink, { ...options, blockSize: 64 * 1024 });
  await deflater.push(input);
  const summary = await deflater.end(final);
  return { bytes: Buffer.concat(written), ...summary };
}

describe('crc32Combine', () => {
  it('equals zlib crc32 of the whole for any split, empty parts included', () => {
    const data = randomBytes(100_000);
    for (const cut of [0, 1, 4095, 50_000, 99_999, 100_000]) {
      const a = data.subarray(0, cut);
      const b = data.subarray(cut);
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(data));
    }
  });

  it('agrees with itself for lengths past 4 GiB (combining is associative)', () => {
    const [a, b, c] = [0x12345678, 0x9abcdef0, 0x0fedcba9];
    const lb = 3_000_000_000;
    const lc = 2_500_000_001;
    const left = crc32Combine(crc32Combine(a, b, lb), c, lc);
    const right = crc32Combine(a, crc32Combine(b, c, lc), lb + lc);
    expect(left).toBe(right);
    // A different length gives a different CRC: the length is really used.
    expect(crc32Combine(a, b, lb)).not.toBe(crc32Combine(a, b, lb + 1));
  });

  it('combines many parts in order', () => {
    const pieces = [randomBytes(10), randomBytes(70_000), Buffer.alloc(0), randomBytes(3)];
    const whole = Buffer.concat(pieces);
    expect(combineSummaries(pieces.map((p) => ({ crc: crc32(p), length: p.length })))).toEqual({
      crc: crc32(whole),
      length: whole.length,
    });
  });
});

describe('GzipMemberWriter', () => {
  it('writes one gzip member that gunzips to the input, across many parallel blocks', async () => {
    const parts = [
      Buffer.from('WARC/1.1\r\n'),
      Buffer.from('the same line again and again\n'.repeat(5000)),
      randomBytes(70_000),
      Buffer.from('tail'),
    ];
    const { out, csize } = await member(parts);
    expect(csize).toBe(out.length);
    expect(out.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(out).equals(Buffer.concat(parts))).toBe(true);
    // One member: nothing follows the first member's trailer.
    const first = gunzipSync(out, { info: true }) as unknown as { engine: { bytesWritten: number } };
    expect(first.engine.bytesWritten).toBe(out.length);
  });

  it('writes a valid member for an empty input, in one write', async () => {
    const calls: Buffer[][] = [];
    const writer = new GzipMemberWriter(async (chunks) => void calls.push(chunks), options);
    await writer.push(Buffer.from('small'));
    await writer.finish();
    expect(calls).toHaveLength(1);
    expect(gunzipSync(Buffer.concat(calls[0]!)).toString()).toBe('small');
    expect(gunzipSync((await member([])).out).length).toBe(0);
  });
});

describe('a member assembled from independently compressed parts', () => {
  it('inflates to the parts in order with zlib and with gunzip(1)', async () => {
    const head = Buffer.from('WARC/1.1\r\nWARC-Type: response\r\n\r\nHTTP/1.1 200 OK\r\n\r\n');
    const body = Buffer.concat([csvText(300_000, 3), randomBytes(200_000)]);
    const end = Buffer.from('\r\n\r\n');
    const parts = [await part(head, false), await part(body, false), await part(end, true)];
    const { crc, length } = combineSummaries(parts);
    const memberBytes = Buffer.concat([GZIP_HEADER, ...parts.map((p) => p.bytes), gzipTrailer(crc, length)]);
    const whole = Buffer.concat([head, body, end]);
    expect(crc).toBe(crc32(whole));
    expect(gunzipSync(memberBytes).equals(whole)).toBe(true);
    const viaGunzip = execFileSync('gunzip', ['-c'], { input: memberBytes, maxBuffer: 1 << 24 });
    expect(viaGunzip.equals(whole)).toBe(true);
  });
});
