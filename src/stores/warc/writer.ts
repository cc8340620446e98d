// The process's one WARC writer: a queue of record writes into gzipped WARC 1.1 files that start
// with a warcinfo record, roll over by size, and are renamed from `.open` when closed.
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { constants as zlibConstants } from 'node:zlib';
import { InfrastructureError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  openPayload,
  recoverStaleFiles,
  safeHostname,
  sha1OfFile,
  streamFile,
  syncDir,
  warcFileName,
} from './files.js';
import {
  GzipMemberWriter,
  HTTP_REQUEST_TYPE,
  HTTP_RESPONSE_TYPE,
  RECORD_END,
  REVISIT_PROFILE,
  WARC_CONFORMS_TO,
  WARC_FIELDS_TYPE,
  WARC_FORMAT,
  newRecordId,
  recordIdForm,
  serializeHeader,
  sha1Label,
  storedResponseHead,
  warcDate,
  warcFieldsBlock,
  type HeaderFields,
  type MemberOptions,
} from './record.js';

export { sha1Base32 } from './record.js';

export interface WarcWriterOptions {
  /** Created recursively. */
  dir: string;
  /** First part of file names, e.g. 'FILESET'. */
  prefix: string;
  /** Bytes; checked before each write, so a request+response pair always lands in one file. */
  rolloverSize: number;
  /** e.g. 'fileset-ingest/0.1.0', for warcinfo. */
  software: string;
  /** Contact, for warcinfo. */
  operator?: string;
  /** For warcinfo (http-header-user-agent). */
  userAgent?: string;
  logger: Logger;
  /** Default os.hostname(). */
  hostname?: string;
  now?: () => Date;
  /** zlib level 0-9; default zlib's default (6). 1 is about 2.5 times faster on text, 10% larger. */
  gzipLevel?: number;
}

export interface RecordLocation {
  /** Final file name (never the `.open` one), relative to dir. */
  warcPath: string;
  /** Byte offset of the record's gzip member in the file. */
  offset: number;
  /** Compressed length of that member. */
  csize: number;
  /** '<urn:uuid:…>' */
  recordId: string;
  date: Date;
}

export interface ExchangeInput {
  targetUri: string;
  /** Capture time (WARC-Date). */
  date: Date;
  ipAddress?: string;
  /** Request line + headers + CRLF CRLF, no body. */
  requestHead: Buffer;
  /**
   * Status line + headers + CRLF CRLF. A Transfer-Encoding field is stored renamed to
   * X-Archive-Orig-Transfer-Encoding (the payload is de-chunked), and then blockSha1 is ignored.
   */
  responseHead: Buffer;
  /** The payload bytes; absent when revisit or empty body. */
  payloadPath?: string;
  payloadLength: number;
  /** Raw SHA-1 of the payload (WARC-Payload-Digest). */
  payloadSha1: Buffer;
  /** Raw SHA-1 of responseHead + payload; computed by reading the payload file when absent. */
  blockSha1?: Buffer;
  /**
   * Write a revisit (identical-payload-digest profile, block = responseHead only) instead, naming
   * the original by its WARC-Record-ID (when known) and its exact WARC-Date.
   */
  revisitOf?: { targetUri: string; date: Date; recordId?: string };
  /** WARC-Truncated on the response/revisit record ('length', 'time', ...). */
  warcinfoTruncated?: string;
}

export interface MetadataInput {
  targetUri: string;
  date: Date;
  contentType: string;
  body: Buffer;
  refersTo?: string;
}

export interface ResourceInput {
  targetUri: string;
  date: Date;
  contentType: string;
  path: string;
  length: number;
  sha1?: Buffer;
}

/** A record's block: buffers, then optionally `length` bytes of a file already opened. */
interface Block {
  parts: Buffer[];
  file?: { handle: FileHandle; length: number };
}

interface OpenFile {
  name: string;
  handle: FileHandle;
  size: number;
  warcinfoId: string;
}

// Process-wide, so two writers in one process never pick the same name.
let fileSerial = 0;

export class WarcWriter {
  readonly dir: string;
  private readonly hostname: string;
  private readonly now: () => Date;
  private readonly gzip: MemberOptions;
  private file: OpenFile | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly options: WarcWriterOptions) {
    this.dir = resolve(options.dir);
    this.hostname = safeHostname(options.hostname ?? osHostname());
    this.now = options.now ?? (() => new Date());
    const level = options.gzipLevel ?? zlibConstants.Z_DEFAULT_COMPRESSION;
    if (!Number.isInteger(level) || level < -1 || level > 9) throw new RangeError(`gzipLevel ${level}: not 0-9`);
    this.gzip = {
      level,
      blockSize: 1 << 20,
      inFlight: Math.max(2, Math.min(availableParallelism(), 4)) + 1,
    };
  }

  /** Creates the directory and finishes the `.open` files crashed processes of this host left. */
  static async open(options: WarcWriterOptions): Promise<WarcWriter> {
    const writer = new WarcWriter(options);
    await mkdir(writer.dir, { recursive: true });
    await recoverStaleFiles(writer.dir, writer.hostname, options.logger);
    return writer;
  }

  currentFile(): string | undefined {
    return this.file?.name;
  }

  /** Writes a `request` + `response` (or `revisit`) pair linked by WARC-Concurrent-To; returns both locations. */
  writeExchange(input: ExchangeInput): Promise<{ request: RecordLocation; response: RecordLocation }> {
    return this.enqueue(() => this.exchange(input));
  }

  /** A `metadata` record (e.g. an ingest's result JSON). */
  writeMetadata(input: MetadataInput): Promise<RecordLocation> {
    return this.enqueue(() =>
      this.transaction(async (file) => {
        const id = newRecordId();
        const fields: HeaderFields = [
          ['WARC-Type', 'metadata'],
          ['WARC-Record-ID', id],
          ['WARC-Date', warcDate(input.date)],
          ['WARC-Target-URI', input.targetUri],
          ['WARC-Refers-To', input.refersTo === undefined ? undefined : recordIdForm(input.refersTo)],
          ['WARC-Warcinfo-ID', file.warcinfoId],
          ['Content-Type', input.contentType],
          ['Content-Length', input.body.length],
          ['WARC-Block-Digest', sha1Label(sha1Of([input.body]))],
        ];
        return this.writeRecord(file, id, input.date, fields, { parts: [input.body] });
      }),
    );
  }

  /** A `resource` record from a file on disk (non-HTTP content); block and payload are the file. */
  writeResource(input: ResourceInput): Promise<RecordLocation> {
    return this.enqueue(async () => {
      const handle = await openPayload(input.path, input.length);
      try {
        const digest = sha1Label(input.sha1 ?? (await sha1OfFile([], handle, input.length)));
        return await this.transaction(async (file) => {
          const id = newRecordId();
          const fields: HeaderFields = [
            ['WARC-Type', 'resource'],
            ['WARC-Record-ID', id],
            ['WARC-Date', warcDate(input.date)],
            ['WARC-Target-URI', input.targetUri],
            ['WARC-Warcinfo-ID', file.warcinfoId],
            ['Content-Type', input.contentType],
            ['Content-Length', input.length],
            ['WARC-Block-Digest', digest],
            ['WARC-Payload-Digest', digest],
          ];
          return this.writeRecord(file, id, input.date, fields, { parts: [], file: { handle, length: input.length } });
        });
      } finally {
        await handle.close();
      }
    });
  }

  /** Closes the current file: flush, fsync, rename .open → final name. Later writes open a new file. */
  close(): Promise<void> {
    return this.enqueue(() => this.closeFile());
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async exchange(input: ExchangeInput): Promise<{ request: RecordLocation; response: RecordLocation }> {
    const { head, rewritten } = storedResponseHead(input.responseHead);
    const revisit = input.revisitOf !== undefined;
    const withPayload = !revisit && input.payloadLength > 0;
    if (withPayload && !input.payloadPath) {
      throw new InfrastructureError('WARC write: payloadLength > 0 without payloadPath');
    }
    const payload = withPayload ? await openPayload(input.payloadPath!, input.payloadLength) : undefined;
    try {
      // The digest goes in the header, before the block: a head we rewrote (or a caller that
      // gave none) costs one extra read of the payload file.
      let blockSha1 = revisit || rewritten ? undefined : input.blockSha1;
      if (!blockSha1) blockSha1 = payload ? await sha1OfFile([head], payload, input.payloadLength) : sha1Of([head]);
      const blockLength = head.length + (withPayload ? input.payloadLength : 0);
      const requestId = newRecordId();
      const responseId = newRecordId();
      const date = warcDate(input.date);
      return await this.transaction(async (file) => {
        const request = await this.writeRecord(
          file,
          requestId,
          input.date,
          [
            ['WARC-Type', 'request'],
            ['WARC-Record-ID', requestId],
            ['WARC-Date', date],
            ['WARC-Target-URI', input.targetUri],
            ['WARC-Concurrent-To', responseId],
            ['WARC-IP-Address', input.ipAddress],
            ['WARC-Warcinfo-ID', file.warcinfoId],
            ['Content-Type', HTTP_REQUEST_TYPE],
            ['Content-Length', input.requestHead.length],
            ['WARC-Block-Digest', sha1Label(sha1Of([input.requestHead]))],
          ],
          { parts: [input.requestHead] },
        );
        const response = await this.writeRecord(
          file,
          responseId,
          input.date,
          [
            ['WARC-Type', revisit ? 'revisit' : 'response'],
            ['WARC-Record-ID', responseId],
            ['WARC-Date', date],
            ['WARC-Target-URI', input.targetUri],
            ['WARC-IP-Address', input.ipAddress],
            ['WARC-Warcinfo-ID', file.warcinfoId],
            ['WARC-Profile', revisit ? REVISIT_PROFILE : undefined],
            ['WARC-Refers-To', input.revisitOf?.recordId ? recordIdForm(input.revisitOf.recordId) : undefined],
            ['WARC-Refers-To-Target-URI', input.revisitOf?.targetUri],
            ['WARC-Refers-To-Date', input.revisitOf ? warcDate(input.revisitOf.date) : undefined],
            ['WARC-Truncated', input.warcinfoTruncated],
            ['Content-Type', HTTP_RESPONSE_TYPE],
            ['Content-Length', blockLength],
            ['WARC-Block-Digest', sha1Label(blockSha1)],
            ['WARC-Payload-Digest', sha1Label(input.payloadSha1)],
          ],
          { parts: [head], ...(payload ? { file: { handle: payload, length: input.payloadLength } } : {}) },
        );
        return { request, response };
      });
    } finally {
      await payload?.close();
    }
  }

  /** Runs record writes on the current file (rolling over first); on failure cuts the file back. */
  private async transaction<T>(body: (file: OpenFile) => Promise<T>): Promise<T> {
    if (this.file && this.file.size >= this.options.rolloverSize) await this.closeFile();
    const file = this.file ?? (await this.openFile());
    const start = file.size;
    try {
      return await body(file);
    } catch (err) {
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

  /** One gzip member: header, block (streamed from the payload file), two CRLFs. */
  private async writeRecord(
    file: OpenFile,
    id: string,
    date: Date,
    fields: HeaderFields,
    block: Block,
  ): Promise<RecordLocation> {
    const offset = file.size;
    let position = offset;
    const member = new GzipMemberWriter(async (chunk) => {
      for (let done = 0; done < chunk.length;) {
        const { bytesWritten } = await file.handle.write(chunk, done, chunk.length - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    }, this.gzip);
    try {
      await member.push(serializeHeader(fields));
      for (const part of block.parts) await member.push(part);
      if (block.file) await streamFile(member, block.file.handle, block.file.length);
      await member.push(RECORD_END);
      const csize = await member.finish();
      file.size = offset + csize;
      return { warcPath: file.name, offset, csize, recordId: id, date };
    } catch (err) {
      await member.settle();
      throw err;
    }
  }

  private async openFile(): Promise<OpenFile> {
    for (;;) {
      fileSerial += 1;
      const name = warcFileName(this.options.prefix, this.now(), fileSerial, this.hostname, process.pid);
      let handle: FileHandle;
      try {
        handle = await open(join(this.dir, `${name}.open`), 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new InfrastructureError(`cannot create WARC file in ${this.dir}`, { cause: err });
      }
      const file: OpenFile = { name, handle, size: 0, warcinfoId: newRecordId() };
      try {
        await this.writeWarcinfo(file);
      } catch (err) {
        await handle.close().catch(() => undefined);
        await rm(join(this.dir, `${name}.open`), { force: true }).catch(() => undefined);
        throw new InfrastructureError(`cannot write warcinfo to ${name}`, { cause: err });
      }
      this.file = file;
      this.options.logger.info({ file: name }, 'WARC file opened');
      return file;
    }
  }

  private async writeWarcinfo(file: OpenFile): Promise<void> {
    const date = this.now();
    const body = warcFieldsBlock([
      ['software', this.options.software],
      ['format', WARC_FORMAT],
      ['conformsTo', WARC_CONFORMS_TO],
      ['hostname', this.hostname],
      ['operator', this.options.operator],
      ['http-header-user-agent', this.options.userAgent],
    ]);
    const fields: HeaderFields = [
      ['WARC-Type', 'warcinfo'],
      ['WARC-Record-ID', file.warcinfoId],
      ['WARC-Date', warcDate(date)],
      ['WARC-Filename', file.name],
      ['Content-Type', WARC_FIELDS_TYPE],
      ['Content-Length', body.length],
      ['WARC-Block-Digest', sha1Label(sha1Of([body]))],
    ];
    await this.writeRecord(file, file.warcinfoId, date, fields, { parts: [body] });
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    const openPath = join(this.dir, `${file.name}.open`);
    try {
      await file.handle.sync();
      await file.handle.close();
      await rename(openPath, join(this.dir, file.name));
      await syncDir(this.dir);
    } catch (err) {
      await file.handle.close().catch(() => undefined);
      throw new InfrastructureError(`cannot close WARC file ${file.name}`, { cause: err });
    }
    this.options.logger.info({ file: file.name, bytes: file.size }, 'WARC file closed');
  }
}

function sha1Of(parts: Buffer[]): Buffer {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
}
