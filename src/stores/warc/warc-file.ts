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

export class WarcFileRotation {
  private file: OpenFile | undefined;

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
      return result;
    } catch (err) {
      file.buffered = [];
      file.bufferedLength = 0;
      try {
        await file.handle.truncate(start);
        file.size = start;
      } catch (truncateErr) {
        // The file can no longer be trusted; leave it `.open` for recovery by a later process.
        this.options.logger.error({ err: truncateErr, file: file.name }, 'WARC truncate after failed write failed');
        this.file = undefined;
        await file.handle.close().catch(() => undefined);
      }
      if (err instanceof InfrastructureError || err instanceof TypeError) throw err;
      throw new InfrastructureError(`WARC write failed: ${describeError(err)}`, { cause: err });
    }
  }

  /** Flush, fsync, rename .open → final name. Later writes open a new file. */
  async close(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    const { dir, logger } = this.options;
    try {
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
      const file: OpenFile = { name, handle, size: 0, warcinfoId: newRecordId(), buffered: [], bufferedLength: 0 };
      try {
        file.size = await this.writeWarcinfo(file);
      } catch (err) {
        await handle.close().catch(() => undefined);
        await rm(join(dir, `${name}.open`), { force: true }).catch(() => undefined);
        throw new InfrastructureError(`cannot write warcinfo to ${name}`, { cause: err });
      }
      this.file = file;
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
