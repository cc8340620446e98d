// A payload compressed while it downloads: the raw deflate part that becomes the middle of its
// WARC record's gzip member, spooled to a file of its own until the record is written. The
// record's header (which needs digests known only at the end) is compressed then, as its own part.
import { open, rm, type FileHandle } from 'node:fs/promises';
import { InfrastructureError } from '../../errors.js';
import { AdaptiveDeflater, type DeflateOptions } from './deflate.js';
import { writeAllAt } from './files.js';

/** A finished spool: a non-final raw deflate part of `length` payload bytes with CRC-32 `crc`. */
export interface DeflatedPayload {
  path: string;
  crc: number;
  length: number;
  compressedLength: number;
}

export class DeflatedSpool {
  private position = 0;
  private readonly deflater: AdaptiveDeflater;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    options: DeflateOptions,
  ) {
    this.deflater = new AdaptiveDeflater(async (chunks) => {
      this.position += await writeAllAt(this.handle, chunks, this.position);
    }, options);
  }

  /** Creates the spool file (it must not exist). */
  static async create(path: string, options: DeflateOptions): Promise<DeflatedSpool> {
    try {
      return new DeflatedSpool(path, await open(path, 'wx'), options);
    } catch (err) {
      throw new InfrastructureError(`cannot create spool file ${path}`, { cause: err });
    }
  }

  /** Adds payload bytes; resolves when there is room for more. Keeps a reference to `chunk`. */
  push(chunk: Buffer): Promise<void> {
    return this.deflater.push(chunk);
  }

  /** Compresses the rest and closes the file; the part ends byte-aligned, not final. */
  async finish(): Promise<DeflatedPayload> {
    try {
      const { crc, length, compressedLength } = await this.deflater.end(false);
      return { path: this.path, crc, length, compressedLength };
    } finally {
      await this.deflater.settle();
      await this.handle.close();
    }
  }

  /** Stops and removes the file, whatever state it is in. */
  async discard(): Promise<void> {
    await this.deflater.settle();
    await this.handle.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
