// One WARC record as one gzip member at an offset of a WARC file: header, block, two CRLFs.
import type { FileHandle } from 'node:fs/promises';
import { InfrastructureError } from '../../errors.js';
import { AdaptiveDeflater, type DeflateOptions, type DeflateSummary } from './deflate.js';
import type { DeflatedPayload } from './deflated-spool.js';
import { copyFileInto, streamFile, writeAllAt } from './files.js';
import { GZIP_HEADER, GzipMemberWriter, combineSummaries, gzipTrailer } from './gzip-member.js';
import { RECORD_END } from './record.js';

/**
 * A record's block: buffers, then optionally `length` bytes of a file already opened, or a
 * payload deflated beforehand.
 */
export interface RecordBlock {
  parts: Buffer[];
  file?: { handle: FileHandle; length: number };
  deflated?: DeflatedPayload;
}

/** The member of a record whose block is all in memory, compressed in memory. */
export async function recordMemberInMemory(
  header: Buffer,
  parts: Buffer[],
  options: DeflateOptions,
): Promise<{ chunks: Buffer[]; length: number }> {
  const chunks: Buffer[] = [];
  const member = new GzipMemberWriter(async (out) => void chunks.push(...out), options);
  await member.push(header);
  for (const part of parts) await member.push(part);
  await member.push(RECORD_END);
  return { chunks, length: await member.finish() };
}

/** Compresses the record into `handle` from `offset` on; resolves with the member's length. */
export async function writeRecordMember(
  handle: FileHandle,
  offset: number,
  header: Buffer,
  block: RecordBlock,
  options: DeflateOptions,
): Promise<number> {
  let position = offset;
  const member = new GzipMemberWriter(async (chunks) => {
    position += await writeAllAt(handle, chunks, position);
  }, options);
  try {
    await member.push(header);
    for (const part of block.parts) await member.push(part);
    if (block.file) await streamFile(member, block.file.handle, block.file.length);
    await member.push(RECORD_END);
    return await member.finish();
  } catch (err) {
    await member.settle();
    throw err;
  }
}

/**
 * A record whose payload was compressed while it downloaded: the member is assembled from three
 * independently compressed parts (header and HTTP head, the spooled payload part, the closing
 * CRLFs), its CRC combined from theirs. Resolves with the member's length.
 */
export async function writeAssembledMember(
  handle: FileHandle,
  offset: number,
  header: Buffer,
  head: Buffer,
  payload: DeflatedPayload,
  options: DeflateOptions,
): Promise<number> {
  const first = await deflatePart([header, head], false, options);
  const last = await deflatePart([RECORD_END], true, options);
  const { crc, length } = combineSummaries([first.summary, payload, last.summary]);
  let position = offset + (await writeAllAt(handle, [GZIP_HEADER, ...first.chunks], offset));
  await copyFileInto(payload.path, payload.compressedLength, handle, position);
  position += payload.compressedLength;
  position += await writeAllAt(handle, [...last.chunks, gzipTrailer(crc, length)], position);
  return position - offset;
}

/**
 * Empty deflate blocks (no output) taking exactly `length` bytes, from a byte boundary to a byte
 * boundary: an empty stored block is 5 bytes (what a sync flush emits); an empty fixed-Huffman
 * block (10 bits) before it shifts the stored block's padding, which gives 6, 7 and 9. Any length
 * but 1-4 and 8 is a sum of those.
 */
export function emptyBlocks(length: number): Buffer {
  const STORED = [0x00, 0x00, 0x00, 0xff, 0xff];
  // One, two and three empty fixed blocks (BFINAL 0, BTYPE 01, end-of-block code 0000000), then
  // the stored block's 3 header bits and padding: 13, 23 and 33 bits round up to 2, 3 and 5 bytes.
  const LEAD: Record<number, number[]> = { 1: [0x02, 0x00], 2: [0x02, 0x08, 0x00], 4: [0x02, 0x08, 0x20, 0x00, 0x00] };
  if (length === 0) return Buffer.alloc(0);
  const rest = length % 5;
  // Bytes taken by the leading mixed blocks: 6 (r=1), 7 (r=2), 6 + 7 (r=3), 9 (r=4).
  const lead = [[], [6], [7], [6, 7], [9]][rest]!;
  const leadLength = lead.reduce((sum, n) => sum + n, 0);
  if (length < leadLength) throw new RangeError(`no empty deflate blocks take exactly ${length} bytes`);
  const out: number[] = [];
  for (const n of lead) out.push(...LEAD[n - 5]!, ...STORED.slice(1));
  for (let i = 0; i < (length - leadLength) / 5; i++) out.push(...STORED);
  return Buffer.from(out);
}

/**
 * The member around a payload part written beforehand into the file at `payload.at` (the part
 * went straight into this WARC file while it downloaded): the gzip header and the compressed
 * header part from `offset`, empty deflate blocks up to the payload, and the closing CRLFs and
 * trailer after it. One gzip member, its CRC combined from the parts'. Resolves with its length.
 */
export async function writeMemberAround(
  handle: FileHandle,
  offset: number,
  header: Buffer,
  head: Buffer,
  payload: DeflatedPayload & { at: number },
  options: DeflateOptions,
): Promise<number> {
  const first = await deflatePart([header, head], false, options);
  const last = await deflatePart([RECORD_END], true, options);
  const { crc, length } = combineSummaries([first.summary, payload, last.summary]);
  const start = [GZIP_HEADER, ...first.chunks];
  const gap = payload.at - offset - start.reduce((sum, chunk) => sum + chunk.length, 0);
  if (gap < 0 || (gap > 0 && gap < 5) || gap === 8) {
    throw new InfrastructureError(`WARC write: ${gap} bytes left before the payload part, cannot be filled`);
  }
  await writeAllAt(handle, [...start, emptyBlocks(gap)], offset);
  const end = payload.at + payload.compressedLength;
  const tail = await writeAllAt(handle, [...last.chunks, gzipTrailer(crc, length)], end);
  return end + tail - offset;
}

/** A small raw deflate part compressed in memory. */
async function deflatePart(
  inputs: Buffer[],
  final: boolean,
  options: DeflateOptions,
): Promise<{ chunks: Buffer[]; summary: DeflateSummary }> {
  const chunks: Buffer[] = [];
  const deflater = new AdaptiveDeflater(async (out) => void chunks.push(...out), options);
  for (const input of inputs) await deflater.push(input);
  return { summary: await deflater.end(final), chunks };
}
