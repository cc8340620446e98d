// Gzip members (RFC 1952) around raw deflate: the header, the CRC-32/ISIZE trailer, and the CRC
// of a member assembled from independently compressed parts (crc32 combine).
import { AdaptiveDeflater, type DeflateOptions, type DeflateSummary } from './deflate.js';

// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unix
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

export function gzipTrailer(crc: number, length: number): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return trailer;
}

// CRC-32 (reflected polynomial 0xedb88320) as arithmetic on polynomials over GF(2) modulo P.
const POLY = 0xedb88320;

/** a(x)·b(x) mod P, both reflected (bit 31 is x^0). */
function multModP(a: number, b: number): number {
  let product = 0;
  for (let m = 0x80000000; m !== 0; m >>>= 1) {
    if (a & m) product ^= b;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return product >>> 0;
}

/** X2N[k] = x^(2^k) mod P. */
const X2N: number[] = [0x40000000]; // x^1
for (let k = 1; k < 32; k++) X2N.push(multModP(X2N[k - 1]!, X2N[k - 1]!));

/** x^(n·2^k) mod P, for any safe integer n. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  for (; n > 0; n = Math.floor(n / 2), k++) if (n % 2) p = multModP(X2N[k % 32]!, p);
  return p;
}

/** CRC-32 of A followed by B, from crc(A), crc(B) and B's length (zlib's crc32_combine). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ crcB) >>> 0;
}

/** The CRC and length of parts in order. */
export function combineSummaries(parts: ReadonlyArray<Pick<DeflateSummary, 'crc' | 'length'>>): {
  crc: number;
  length: number;
} {
  let crc = 0;
  let length = 0;
  for (const part of parts) {
    crc = crc32Combine(crc, part.crc, part.length);
    length += part.length;
  }
  return { crc, length };
}

/**
 * Streams one gzip member through `write`: the header goes out with the first compressed block
 * and the trailer with the last, so a small record is a single write.
 */
export class GzipMemberWriter {
  private readonly deflater: AdaptiveDeflater;
  private started = false;

  constructor(write: (chunks: Buffer[]) => Promise<void>, options: DeflateOptions) {
    this.deflater = new AdaptiveDeflater(async (chunks, last) => {
      const out = this.started ? [...chunks] : [GZIP_HEADER, ...chunks];
      this.started = true;
      if (last) {
        // Every block has been dispatched by now, so the CRC and length are final.
        const { crc, length } = this.deflater.summary();
        out.push(gzipTrailer(crc, length));
      }
      await write(out);
    }, options);
  }

  /** Adds bytes; resolves when there is room for more (back-pressure). Keeps a reference to `chunk`. */
  push(chunk: Buffer): Promise<void> {
    return this.deflater.push(chunk);
  }

  /** Compresses the rest, writes the trailer, and resolves with the member's compressed length. */
  async finish(): Promise<number> {
    const { compressedLength } = await this.deflater.end(true);
    return compressedLength + GZIP_HEADER.length + 8;
  }

  /** Waits for every write already started, ignoring failures (before truncating after an error). */
  settle(): Promise<void> {
    return this.deflater.settle();
  }
}
