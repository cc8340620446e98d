// Compression bombs: a few hundred KB on the wire that decode to as many bytes as asked, built
// by streaming zeros through the compressor (never holding the decoded bytes).
import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { constants, createBrotliCompress, createDeflate, createGzip } from 'node:zlib';

export type Coding = 'gzip' | 'deflate' | 'br';

function compressor(coding: Coding): Transform {
  if (coding === 'gzip') return createGzip({ level: 1 });
  if (coding === 'deflate') return createDeflate({ level: 1 });
  return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
}

async function compress(source: Buffer | { zeros: number }, coding: Coding): Promise<Buffer> {
  const stream = compressor(coding);
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = once(stream, 'end');
  if (Buffer.isBuffer(source)) {
    stream.end(source);
  } else {
    const zeros = Buffer.alloc(1 << 20);
    for (let left = source.zeros; left > 0; left -= zeros.length) {
      if (!stream.write(zeros.subarray(0, Math.min(left, zeros.length)))) await once(stream, 'drain');
    }
    stream.end();
  }
  await ended;
  return Buffer.concat(chunks);
}

/**
 * `decodedBytes` zeros encoded with `codings` in the order a server applies them (the
 * Content-Encoding header lists them in that order: `gzip, br` is gzip first, then br).
 */
export async function compressionBomb(decodedBytes: number, codings: Coding[]): Promise<Buffer> {
  let body = await compress({ zeros: decodedBytes }, codings[0]!);
  for (const coding of codings.slice(1)) body = await compress(body, coding);
  return body;
}
