// Where a response body goes while it downloads and is hashed: memory for a small body (spilled
// to a file once it outgrows that), a file when the caller keeps the body, or, for a large body
// that will be archived, straight into the deflated part of its WARC record.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import type { DeflatedPayload, DeflatedSpool } from '../stores/warc/deflated-spool.js';
import { LANE_MIN } from '../stores/warc/writer.js';

/** Bodies up to this size stay in memory (unless kept as a file). */
export const IN_MEMORY_MAX = 1 << 20;
/** Bodies declared at least this large are deflated while they download: straight into a lane of the writer. */
export const DEFLATE_WHILE_DOWNLOADING_MIN = LANE_MIN;

/** The body in the form WarcWriter.writeExchange takes it. */
export type SpooledBody = { payload: Buffer } | { payloadPath: string } | { deflatedPayload: DeflatedPayload };

export class BodySpool extends Writable {
  private chunks: Buffer[] = [];
  private length = 0;
  private file: WriteStream | undefined;
  private spooled: SpooledBody | undefined;
  /** A spill to the file that is waiting for its directory. */
  private opening: Promise<void> | undefined;
  private discarded = false;

  private constructor(
    readonly path: string,
    private readonly memoryMax: number,
    private readonly deflated?: DeflatedSpool,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  /** Into the file at `path`, which exists once the body ends, even for an empty body. */
  static toFile(path: string): BodySpool {
    const spool = new BodySpool(path, -1);
    spool.openFile();
    return spool;
  }

  /** In memory up to `memoryMax` bytes, else into the file at `path`. */
  static inMemory(path: string, memoryMax = IN_MEMORY_MAX): BodySpool {
    return new BodySpool(path, memoryMax);
  }

  /** Deflated as it arrives (the spool's file is `path`). */
  static deflating(spool: DeflatedSpool): BodySpool {
    return new BodySpool(spool.path, -1, spool);
  }

  /** The body, once the stream has finished. */
  result(): SpooledBody {
    if (!this.spooled) throw new Error('BodySpool: result() before the body ended');
    return this.spooled;
  }

  /** Removes the spool's file once its body has been written, if it made one (most stay in memory). */
  async removeFile(): Promise<void> {
    if (this.deflated) await this.deflated.release();
    else if (this.file) await rm(this.path, { force: true });
  }

  /** After a failure: stops writing and removes whatever file there is. */
  async discard(): Promise<void> {
    this.discarded = true;
    this.chunks = [];
    await this.opening;
    if (this.deflated) return this.deflated.discard();
    const file = this.file;
    if (file && !file.closed) await new Promise<void>((resolve) => file.destroy().once('close', () => resolve()));
    await rm(this.path, { force: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.deflated) {
      this.deflated.push(chunk).then(() => callback(), callback);
      return;
    }
    if (!this.file && this.length + chunk.length <= this.memoryMax) {
      this.chunks.push(chunk);
      this.length += chunk.length;
      callback();
      return;
    }
    if (this.file) {
      this.writeToFile(this.file, chunk, callback);
      return;
    }
    // Spilling: the spool directory is created only when a body first needs it.
    this.opening = mkdir(dirname(this.path), { recursive: true }).then(
      () => {
        if (this.discarded) callback(new Error('BodySpool: discarded'));
        else this.writeToFile(this.openFile(), chunk, callback);
      },
      (err: Error) => callback(err),
    );
  }

  private writeToFile(file: WriteStream, chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (file.write(chunk)) callback();
    else file.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.deflated) {
      this.deflated.finish().then((deflatedPayload) => {
        this.spooled = { deflatedPayload };
        callback();
      }, callback);
    } else if (this.file) {
      this.file.end((err?: Error | null) => {
        if (!err) this.spooled = { payloadPath: this.path };
        callback(err);
      });
    } else {
      this.spooled = { payload: Buffer.concat(this.chunks, this.length) };
      this.chunks = [];
      callback();
    }
  }

  private openFile(): WriteStream {
    const file = createWriteStream(this.path, { highWaterMark: 1 << 20 });
    file.once('error', (err) => this.destroy(err));
    for (const chunk of this.chunks) file.write(chunk);
    this.chunks = [];
    this.file = file;
    return file;
  }
}
