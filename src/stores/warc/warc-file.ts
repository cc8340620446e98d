// The writer's current WARC file: created as `.open` with a warcinfo record first, rolled over by
// size, cut back to its last whole record when a write fails, and fsynced and renamed when closed.
import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { InfrastructureError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { DeflateOptions } from './deflate.js';
import { syncDir, warcFileName, writeAllAt } from './files.js';
import {
  WARC_CONFORMS_TO,
  WARC_FIELDS_TYPE,
  WARC_FORMAT,
  newRecordId,
  serializeHeader,
  sha1Label,
  warcDate,
  warcFieldsBlock,
  type HeaderFields,
} from './record.js';
import { writeRecordMember } from './record-member.js';

export interface OpenFile {
  /** Final name (without `.open`). */
  name: string;
  handle: FileHandle;
  /** Bytes of whole records written, buffered ones included. */
  size: number;
  warcinfoId: string;
  /** Bytes of the warcinfo record that starts the file. */
  warcinfoSize: number;
  /** Members compressed in memory, not yet written: they end at `size`. See appendBuffered(). */
  buffered: Buffer[];
  bufferedLength: number;
}

/**
 * Queues a member compressed in memory, to be written with the ones around it in one call (a
 * request and its small response, say) when the transaction ends or a streamed record follows.
 */
export function appendBuffered(file: OpenFile, member: Buffer[], length: number): void {
  file.buffered.push(...member);
  file.bufferedLength += length;
  file.size += length;
}

/** Writes what appendBuffered() queued. */
export async function flushBuffered(file: OpenFile): Promise<void> {
  if (file.bufferedLength === 0) return;
  const chunks = file.buffered;
  const from = file.size - file.bufferedLength;
  file.buffered = [];
  file.bufferedLength = 0;
  await writeAllAt(file.handle, chunks, from);
}

export interface WarcFileOptions {
  dir: string;
  prefix: string;
  rolloverSize: number;
  hostname: string;
  now: () => Date;
  logger: Logger;
  deflate: DeflateOptions;
  /** The warcinfo record's fields besides format, conformsTo and hostname. */
  warcinfo: { software: string; operator?: string | undefined; userAgent?: string | undefined };
  /** Told of each file closed under its final name (the shipper ships it). */
  onClosed?: ((name: string) => void) | undefined;
}

// Process-wide, so two writers in one process never pick the same name.
let fileSerial = 0;

/**
 * Unsynced bytes after which a datasync starts in the background: the disk writes while the rest
 * downloads, so the fsync at close finds little left (it took seconds on a large file otherwise).
 */
const SYNC_EVERY = 64 << 20;

export class WarcFileRotation {
  private file: OpenFile | undefined;
  /** The current file's background datasync: its progress and its first failure. */
  private sync: { synced: number; running?: Promise<void>; failure?: unknown } = { synced: 0 };

  constructor(private readonly options: WarcFileOptions) {}

  current(): OpenFile | undefined {
    return this.file;
  }

  /** Runs record writes on the current file (rolling over first); on failure cuts the file back. */
  async transaction<T>(body: (file: OpenFile) => Promise<T>): Promise<T> {
    if (this.file && this.file.size >= this.options.rolloverSize) await this.close();
    const file = this.file ?? (await this.openFile());
    const start = file.size;
    try {
      const result = await body(file);
      await flushBuffered(file);
      this.written(file.size);
      return result;
    } catch (err) {
      await this.cutBack(start);
      if (err instanceof InfrastructureError || err instanceof TypeError) throw err;
      throw new InfrastructureError(`WARC write failed: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Cuts the current file back to its first `size` bytes (whole records), dropping what was written
   * after them. If that fails the file can no longer be trusted: it is let go, left `.open` for
   * recovery by a later process, and the next write opens a new one.
   */
  async cutBack(size: number): Promise<void> {
    const file = this.file;
    if (!file) return;
    file.buffered = [];
    file.bufferedLength = 0;
    try {
      await file.handle.truncate(size);
      file.size = size;
    } catch (err) {
      this.options.logger.error({ err, file: file.name }, 'WARC truncate after failed write failed');
      this.file = undefined;
      await file.handle.close().catch(() => undefined);
    }
  }

  /** Closes the current file, or removes it if it holds nothing but its warcinfo record. */
  async closeOrDiscard(): Promise<void> {
    if (this.file && this.file.size <= this.file.warcinfoSize) await this.discard();
    else await this.close();
  }

  /**
   * The current file holds data up to `end` (written in a transaction, or beside one): past
   * SYNC_EVERY unsynced bytes a datasync starts in the background (close() waits for it).
   */
  written(end: number): void {
    const state = this.sync;
    if (!this.file || state.running || end - state.synced < SYNC_EVERY) return;
    state.running = this.file.handle.datasync().then(
      () => void (state.synced = end),
      (err: unknown) => void (state.failure ??= err),
    );
    void state.running.finally(() => (state.running = undefined));
  }

  /** Closes and removes the current file (a record that will not be written): nothing to recover. */
  async discard(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    await this.sync.running;
    await file.handle.close().catch(() => undefined);
    await rm(join(this.options.dir, `${file.name}.open`), { force: true });
  }

  /** Flush, fsync, rename .open → final name. Later writes open a new file. */
  async close(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    const { dir, logger } = this.options;
    try {
      await this.sync.running;
      // A failed datasync may have marked the pages clean: a later fsync would not report it.
      if (this.sync.failure) throw this.sync.failure;
      await file.handle.sync();
      await file.handle.close();
      await rename(join(dir, `${file.name}.open`), join(dir, file.name));
      await syncDir(dir);
    } catch (err) {
      await file.handle.close().catch(() => undefined);
      throw new InfrastructureError(`cannot close WARC file ${file.name}`, { cause: err });
    }
    logger.info({ file: file.name, bytes: file.size }, 'WARC file closed');
    this.options.onClosed?.(file.name);
  }

  private async openFile(): Promise<OpenFile> {
    const { dir, prefix, hostname, now, logger } = this.options;
    for (;;) {
      fileSerial += 1;
      const name = warcFileName(prefix, now(), fileSerial, hostname, process.pid);
      let handle: FileHandle;
      try {
        handle = await open(join(dir, `${name}.open`), 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new InfrastructureError(`cannot create WARC file in ${dir}`, { cause: err });
      }
      const file: OpenFile = {
        name,
        handle,
        size: 0,
        warcinfoSize: 0,
        warcinfoId: newRecordId(),
        buffered: [],
        bufferedLength: 0,
      };
      try {
        file.size = file.warcinfoSize = await this.writeWarcinfo(file);
      } catch (err) {
        await handle.close().catch(() => undefined);
        await rm(join(dir, `${name}.open`), { force: true }).catch(() => undefined);
        throw new InfrastructureError(`cannot write warcinfo to ${name}`, { cause: err });
      }
      this.file = file;
      this.sync = { synced: 0 };
      logger.info({ file: name }, 'WARC file opened');
      return file;
    }
  }

  private writeWarcinfo(file: OpenFile): Promise<number> {
    const date = this.options.now();
    const { software, operator, userAgent } = this.options.warcinfo;
    const body = warcFieldsBlock([
      ['software', software],
      ['format', WARC_FORMAT],
      ['conformsTo', WARC_CONFORMS_TO],
      ['hostname', this.options.hostname],
      ['operator', operator],
      ['http-header-user-agent', userAgent],
    ]);
    const fields: HeaderFields = [
      ['WARC-Type', 'warcinfo'],
      ['WARC-Record-ID', file.warcinfoId],
      ['WARC-Date', warcDate(date)],
      ['WARC-Filename', file.name],
      ['Content-Type', WARC_FIELDS_TYPE],
      ['Content-Length', body.length],
      ['WARC-Block-Digest', sha1Label(createHash('sha1').update(body).digest())],
    ];
    return writeRecordMember(file.handle, 0, serializeHeader(fields), { parts: [body] }, this.options.deflate);
  }
}
