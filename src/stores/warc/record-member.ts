// One WARC record as one gzip member at an offset of a WARC file: header, block, two CRLFs.
import type { FileHandle } from 'node:fs/promises';
import type { DeflateOptions } from './deflate.js';
import { streamFile, writeAllAt } from './files.js';
import { GzipMemberWriter } from './gzip-member.js';
import { RECORD_END } from './record.js';

/** A record's block: buffers, then optionally `length` bytes of a file already opened. */
export interface RecordBlock {
  parts: Buffer[];
  file?: { handle: FileHandle; length: number };
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
