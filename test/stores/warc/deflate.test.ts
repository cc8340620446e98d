import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AdaptiveDeflater, storedBlocks, storedSize } from '../../../src/stores/warc/deflate.js';
import { csvText } from '../../support/csv-text.js';

async function deflate(
  parts: Buffer[],
  options: { level?: number; blockSize?: number; final?: boolean } = {},
): Promise<{ out: Buffer; crc: number; length: number; compressedLength: number; stored: number; total: number }> {
  const written: Buffer[] = [];
  const deflater = new AdaptiveDeflater(
    async (chunks) => {
      for (const chunk of chunks) written.push(Buffer.from(chunk));
    },
    { level: options.level ?? 5, blockSize: options.blockSize ?? 256 * 1024, inFlight: 3 },
  );
  for (const part of parts) await deflater.push(part);
  const summary = await deflater.end(options.final ?? true);
  return { out: Buffer.concat(written), ...summary, ...deflater.blocks() };
}

const text = (bytes: number, seed = 7): Buffer => csvText(bytes, seed);

describe('storedBlocks', () => {
  it('frames any length as stored blocks that inflate to the input, 5 bytes per 64 KiB', () => {
    for (const length of [0, 1, 65_535, 65_536, 200_000]) {
      const input = randomBytes(length);
      const out = Buffer.concat(storedBlocks(input, true));
      expect(out.length).toBe(storedSize(length));
      expect(inflateRawSync(out).equals(input)).toBe(true);
    }
  });

  it('frames parts as one input, blocks crossing the parts, slicing them rather than copying', () => {
    const input = randomBytes(300_000);
    // Cuts off the 64 KiB grid, an empty part, parts shorter than a block and longer than one.
    const cuts = [0, 1, 1, 65_536, 70_000, 131_070, 131_071, 290_000, 300_000];
    const parts = cuts.slice(1).map((end, i) => input.subarray(cuts[i], end));
    const out = storedBlocks(parts, true);
    expect(Buffer.concat(out).equals(Buffer.concat(storedBlocks(input, true)))).toBe(true);
    expect(inflateRawSync(Buffer.concat(out)).equals(input)).toBe(true);
    const payload = out.filter((piece) => piece.buffer === input.buffer);
    expect(payload.reduce((n, piece) => n + piece.length, 0)).toBe(input.length);
  });
});

describe('AdaptiveDeflater', () => {
  it('cuts blocks across many small chunks: the same stream, digests and block choices as from one buffer', async () => {
    const input = Buffer.concat([randomBytes(700_000), text(600_000), randomBytes(50_000)]);
    const whole = await deflate([input]);
    // Chunks of odd sizes (as sockets deliver them), so block and dictionary edges fall inside chunks.
    const chunks: Buffer[] = [];
    for (let at = 0, i = 0; at < input.length; i++) {
      const size = [1, 4093, 65_536, 16_384, 333][i % 5]!;
      chunks.push(Buffer.from(input.subarray(at, at + size)));
      at += size;
    }
    const chunked = await deflate(chunks);
    expect(chunked.out.equals(whole.out)).toBe(true);
    expect({ crc: chunked.crc, length: chunked.length, stored: chunked.stored, total: chunked.total }).toEqual({
      crc: whole.crc,
      length: input.length,
      stored: whole.stored,
      total: whole.total,
    });
    expect(inflateRawSync(chunked.out).equals(input)).toBe(true);
  });

  it('stores blocks of random bytes and deflates blocks of text, per block in one stream', async () => {
    const random = randomBytes(1 << 20);
    const csv = text(1 << 20);
    const { out, stored, total } = await deflate([random, csv, random.subarray(0, 300_000)]);
    expect(inflateRawSync(out).equals(Buffer.concat([random, csv, random.subarray(0, 300_000)]))).toBe(true);
    // 4 random blocks + 1 short random tail stored; the 4 text blocks deflated.
    expect({ stored, total }).toEqual({ stored: 6, total: 10 });
    // The random part costs its framing only; the text part shrinks to about a third.
    expect(out.length).toBeLessThan(storedSize(1 << 20) + storedSize(300_000) + 0.4 * csv.length);
  });

  it('is never more than the stored framing over the input, however the probe decides', async () => {
    const input = Buffer.concat([randomBytes(100_000), Buffer.alloc(20_000), randomBytes(500_000)]);
    const { out, compressedLength } = await deflate([input], { blockSize: 64 * 1024 });
    expect(compressedLength).toBe(out.length);
    expect(out.length).toBeLessThanOrEqual(storedSize(input.length) + 5 * 10);
    expect(inflateRawSync(out).equals(input)).toBe(true);
  });

  it('judges a block by its own first 16 KiB: repeats within the sample compress, repeats further apart do not count', async () => {
    // Blocks repeating a 4 KiB random unit: the probe sees the repeats and the block is deflated.
    const short = randomBytes(4 * 1024);
    const near = Buffer.concat(Array.from({ length: 64 }, () => short));
    const nearOut = await deflate([near], { blockSize: 64 * 1024 });
    expect(inflateRawSync(nearOut.out).equals(near)).toBe(true);
    expect({ stored: nearOut.stored, total: nearOut.total }).toEqual({ stored: 0, total: 4 });
    expect(nearOut.out.length).toBeLessThan(40 * 1024);
    // A 32 KiB unit: a block's first 16 KiB is random, so every block is stored.
    const long = randomBytes(32 * 1024);
    const far = Buffer.concat(Array.from({ length: 8 }, () => long));
    const farOut = await deflate([far], { blockSize: 64 * 1024 });
    expect(inflateRawSync(farOut.out).equals(far)).toBe(true);
    expect({ stored: farOut.stored, total: farOut.total }).toEqual({ stored: 4, total: 4 });
  });

  it('shares zlib engines between blocks and streams: no block refers to bytes another block left in an engine', async () => {
    // Blocks alternate between two texts, each four copies of a 16 KiB unit (well inside zlib's
    // 32 KiB window). An engine that kept the last block it compressed would find long matches
    // into it: into bytes the decoder does not have just before that block (its neighbour there
    // is the other text), so the output would not inflate to the input.
    const x = Buffer.concat(Array.from({ length: 4 }, () => text(16 * 1024, 3)));
    const y = Buffer.concat(Array.from({ length: 4 }, () => text(16 * 1024, 4)));
    const streams = Array.from({ length: 6 }, (_, i) =>
      Buffer.concat(Array.from({ length: 8 }, (_, block) => ((block + i) % 2 ? x : y))),
    );
    const results = await Promise.all(streams.map((input) => deflate([input], { blockSize: 64 * 1024 })));
    results.forEach((result, i) => {
      expect(result.stored).toBe(0);
      expect(inflateRawSync(result.out).equals(streams[i]!)).toBe(true);
    });
    // Blocks compress alone: the 8 blocks take about 8 times one block's output.
    const one = await deflate([x], { blockSize: 64 * 1024 });
    expect(results[0]!.out.length).toBeGreaterThan(7 * one.out.length);
  });

  it('stores everything at level 0 and deflates compressible blocks at the level asked', async () => {
    const csv = text(600_000);
    const level0 = await deflate([csv], { level: 0 });
    expect(level0.out.length).toBe(storedSize(256 * 1024) * 2 + storedSize(600_000 - 512 * 1024));
    expect(inflateRawSync(level0.out).equals(csv)).toBe(true);
    const level1 = await deflate([csv], { level: 1 });
    const level9 = await deflate([csv], { level: 9 });
    expect(level9.out.length).toBeLessThan(level1.out.length);
    expect(inflateRawSync(level9.out).equals(csv)).toBe(true);
  });

  it('ends a non-final part byte-aligned and open, so another stream can follow it', async () => {
    const first = await deflate([text(300_000, 1)], { final: false });
    const second = await deflate([randomBytes(300_000)], { final: false });
    const last = await deflate([Buffer.from('\r\n\r\n')], { final: true });
    const joined = Buffer.concat([first.out, second.out, last.out]);
    const inflated = inflateRawSync(joined);
    expect(inflated.length).toBe(first.length + second.length + last.length);
    // A non-final part alone is an unfinished stream.
    expect(() => inflateRawSync(first.out, { finishFlush: 4 /* Z_FINISH */ })).toThrow();
  });

  it('reports the CRC-32 and length of what it was given, and an empty stream is valid', async () => {
    const { crc32 } = await import('node:zlib');
    const input = text(700_000);
    const summary = await deflate([input.subarray(0, 123), input.subarray(123)]);
    expect(summary.crc).toBe(crc32(input));
    expect(summary.length).toBe(input.length);
    const empty = await deflate([]);
    expect(inflateRawSync(empty.out).length).toBe(0);
    expect(empty.crc).toBe(0);
  });

  it('rejects end() when a write fails, and settle() then resolves', async () => {
    const deflater = new AdaptiveDeflater(
      async () => {
        throw new Error('disk full');
      },
      { level: 1, blockSize: 1024, inFlight: 2 },
    );
    const pushing = deflater.push(randomBytes(10_000)).then(() => deflater.end(true));
    await expect(pushing).rejects.toThrow('disk full');
    await expect(deflater.settle()).resolves.toBeUndefined();
  });
});
