// A payload compressed while it downloads: the raw deflate part that becomes the middle of its
// WARC record's gzip member, spooled to a file of its own until the record is written. The
// record's header (which needs digests known only at the end) is compressed then, as its own part.
import { open, rm, type FileHandle } from 'node:fs/promises';
import { InfrastructureError } from '../../errors.js';
import { AdaptiveDeflater, type DeflateOptions } from './deflate.js';
import { writeAllAt } from './files.js';

/**
 * A finished spool: a non-final raw deflate part of `length` payload bytes with CRC-32 `crc`, in
 * the file at `path` from offset `at` (a WARC file the part was written into directly), or from
 * its start (a spool file of its own).
 */
export interface DeflatedPayload {
  path: string;
  crc: number;
  length: number;
  compressedLength: number;
  at?: number;
}

/** The owner of a file a spool writes into. */
export interface OwnerHooks {
  /** Bytes were written up to `end`. */
  written(end: number): void;
  /** The part will not be (or was already) used: drop the file unless it became a record. */
  release(): Promise<void>;
}

export class DeflatedSpool {
  private position: number;
  private readonly deflater: AdaptiveDeflater;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    options: DeflateOptions,
    /** Where the part starts in a file the spool does not own (close and remove), else undefined. */
    private readonly at: number | undefined,
    private readonly owner?: OwnerHooks,
  ) {
    this.position = at ?? 0;
    this.deflater = new AdaptiveDeflater(async (chunks) => {
      this.position += await writeAllAt(this.handle, chunks, this.position);
      this.owner?.written(this.position);
    }, options);
  }

  /** Creates the spool file (it must not exist). */
  static async create(path: string, options: DeflateOptions): Promise<DeflatedSpool> {
    try {
      return new DeflatedSpool(path, await open(path, 'wx'), options, undefined);
    } catch (err) {
      throw new InfrastructureError(`cannot create spool file ${path}`, { cause: err });
    }
  }

  /** Writes the part into an open file that `owner` owns (the file at `path`), from `at` on. */
  static into(path: string, handle: FileHandle, at: number, options: DeflateOptions, owner: OwnerHooks): DeflatedSpool {
    return new DeflatedSpool(path, handle, options, at, owner);
  }

  /** Adds payload bytes; resolves when there is room for more. Keeps a reference to `chunk`. */
  push(chunk: Buffer): Promise<void> {
    return this.deflater.push(chunk);
  }

  /** Compresses the rest and closes the file (if its own); the part ends byte-aligned, not final. */
  async finish(): Promise<DeflatedPayload> {
    try {
      const { crc, length, compressedLength } = await this.deflater.end(false);
      return { path: this.path, crc, length, compressedLength, ...(this.at === undefined ? {} : { at: this.at }) };
    } finally {
      await this.deflater.settle();
      if (this.at === undefined) await this.handle.close();
    }
  }

  /** Stops and removes the file (its owner's: the owner drops it), whatever state it is in. */
  async discard(): Promise<void> {
    await this.deflater.settle();
    if (this.owner) return this.owner.release();
    await this.handle.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }

  /** After the record was written (or not): removes the spool file, or lets its owner drop an unused one. */
  async release(): Promise<void> {
    if (this.owner) await this.owner.release();
    else await rm(this.path, { force: true });
  }
}
