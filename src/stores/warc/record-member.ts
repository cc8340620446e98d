// One WARC record as one gzip member at an offset of a WARC file: header, block, two CRLFs.
import type { FileHandle } from 'node:fs/promises';
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
