// The process's one WARC writer: a queue of record writes into gzipped WARC 1.1 files that start
// with a warcinfo record, roll over by size, and are renamed from `.open` when closed.
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { InfrastructureError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { DeflateOptions } from './deflate.js';
import { DeflatedSpool, type DeflatedPayload } from './deflated-spool.js';
import { openPayload, safeHostname, sha1OfFile } from './files.js';
import {
  HTTP_REQUEST_TYPE,
  HTTP_RESPONSE_TYPE,
  REVISIT_PROFILE,
  newRecordId,
  recordIdForm,
  serializeHeader,
  sha1Label,
  storedResponseHead,
  warcDate,
  type HeaderFields,
} from './record.js';
import {
  recordMemberInMemory,
  writeAssembledMember,
  writeMemberAround,
  writeRecordMember,
  type RecordBlock,
} from './record-member.js';
import { recoverStaleFiles } from './recovery.js';
import { WarcFileRotation, appendBuffered, flushBuffered, type OpenFile, type WarcFileOptions } from './warc-file.js';

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
  /**
   * zlib level 0-9 for blocks that compress; blocks that do not are stored whatever the level.
   * Default 5: on CSV-like text about 1% larger than 6 and 1.5 times as fast.
   */
  gzipLevel?: number;
  /** Told of each file closed under its final name (the shipper ships it). */
  onClosed?: (name: string) => void;
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
  /**
   * The payload bytes, in one of three forms: a file, a buffer (small bodies), or a part already
   * deflated while it downloaded (createDeflatedSpool; needs blockSha1). Absent when revisit or
   * empty body.
   */
  payloadPath?: string;
  payload?: Buffer;
  deflatedPayload?: DeflatedPayload;
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

export const DEFAULT_GZIP_LEVEL = 5;

/** What a download tells createDeflatedSpool before its first byte. */
export interface DeflatedSpoolHint {
  /** The declared Content-Length. */
  declaredLength: number;
  /** Bytes of the request head, the response head and twice the URL: what the records around the payload hold. */
  headBytes: number;
}

/** Room for the WARC header fields of a request and a response besides the heads and URLs. */
const HEADER_ROOM = 4096;

/**
 * Payloads declared at least this large (or the rollover size, if smaller) are deflated straight
 * into a lane; smaller ones into a spool file that is copied into the WARC when the record is written.
 */
export const LANE_MIN = 16 << 20;

/** A lane's WARC file while one payload is deflated into it: the size to cut back to if it is not written. */
interface BusyLane {
  lane: WarcFileRotation;
  start: number;
}

export class WarcWriter {
  readonly dir: string;
  private readonly hostname: string;
  private readonly gzip: DeflateOptions;
  private readonly files: WarcFileRotation;
  private readonly fileOptions: WarcFileOptions;
  private readonly rolloverSize: number;
  /**
   * Lanes: WARC files that take large payloads straight from the download, one at a time each
   * (records cannot interleave), as many as there are such downloads at once. A lane takes the
   * next large payload once its record is written, and rolls over by size like the main file.
   */
  private readonly idleLanes: WarcFileRotation[] = [];
  /** Lanes with a payload being written into them, by the path of their file. */
  private readonly busyLanes = new Map<string, BusyLane>();
  private queue: Promise<unknown> = Promise.resolve();
  /** While close() runs: a lane that frees up meanwhile is closed rather than kept. */
  private closed = false;

  private constructor(options: WarcWriterOptions) {
    this.dir = resolve(options.dir);
    this.hostname = safeHostname(options.hostname ?? osHostname());
    const level = options.gzipLevel ?? DEFAULT_GZIP_LEVEL;
    if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzipLevel ${level}: not 0-9`);
    this.gzip = {
      level,
      blockSize: 1 << 20,
      inFlight: Math.max(2, Math.min(availableParallelism(), 4)) + 1,
    };
    this.rolloverSize = options.rolloverSize;
    this.fileOptions = {
      dir: this.dir,
      prefix: options.prefix,
      rolloverSize: options.rolloverSize,
      hostname: this.hostname,
      now: options.now ?? (() => new Date()),
      logger: options.logger,
      deflate: this.gzip,
      warcinfo: { software: options.software, operator: options.operator, userAgent: options.userAgent },
      onClosed: options.onClosed,
    };
    this.files = new WarcFileRotation(this.fileOptions);
  }

  /** Creates the directory and finishes the `.open` files crashed processes of this host left. */
  static async open(options: WarcWriterOptions): Promise<WarcWriter> {
    const writer = new WarcWriter(options);
    await mkdir(writer.dir, { recursive: true });
    await recoverStaleFiles(writer.dir, writer.hostname, options.logger);
    return writer;
  }

  currentFile(): string | undefined {
    return this.files.current()?.name;
  }

  /**
   * A spool that deflates a payload while it downloads, at this writer's level, for
   * writeExchange's `deflatedPayload`. The caller releases it after the write (or discards it).
   *
   * A payload declared large (LANE_MIN) is written straight into a lane's WARC file after room for
   * the request record and the response's header part (filled with empty deflate blocks when the
   * record is written), rather than into a spool file at `path` that would be copied afterwards.
   */
  async createDeflatedSpool(path: string, hint?: DeflatedSpoolHint): Promise<DeflatedSpool> {
    if (!hint || hint.declaredLength < Math.min(LANE_MIN, this.rolloverSize)) {
      return DeflatedSpool.create(path, this.gzip);
    }
    const lane = this.idleLanes.pop() ?? new WarcFileRotation(this.fileOptions);
    let file: OpenFile;
    try {
      file = await lane.transaction(async (opened) => opened);
    } catch (err) {
      await this.settleLane(lane);
      throw err;
    }
    const filePath = resolve(this.dir, `${file.name}.open`);
    const busy: BusyLane = { lane, start: file.size };
    this.busyLanes.set(filePath, busy);
    // The request member and the response's header part each take at most 5 bytes per 64 KiB
    // more than their input (stored blocks), plus gzip framing: twice the input is ample.
    const at = file.size + 2 * (hint.headBytes + HEADER_ROOM);
    return DeflatedSpool.into(filePath, file.handle, at, this.gzip, {
      written: (end) => lane.written(end),
      release: () => this.releaseLane(filePath, busy),
    });
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

  /**
   * Closes the current file and the idle lanes' files: flush, fsync, rename .open → final name.
   * A lane still taking a payload is closed once its record is written (or dropped).
   */
  close(): Promise<void> {
    return this.enqueue(async () => {
      this.closed = true;
      const lanes = this.idleLanes.splice(0);
      const results = await Promise.allSettled([this.files.close(), ...lanes.map((lane) => lane.closeOrDiscard())]);
      this.closed = false;
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
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
    const inMemory = withPayload ? input.payload : undefined;
    const deflated = withPayload ? input.deflatedPayload : undefined;
    if (withPayload && !input.payloadPath && !inMemory && !deflated) {
      throw new InfrastructureError('WARC write: payloadLength > 0 without a payload');
    }
    const length = (inMemory ?? deflated)?.length;
    if (length !== undefined && length !== input.payloadLength) {
      throw new InfrastructureError(`WARC write: payload has ${length} bytes, declared ${input.payloadLength}`);
    }
    const payload =
      withPayload && !inMemory && !deflated ? await openPayload(input.payloadPath!, input.payloadLength) : undefined;
    try {
      // The digest goes in the header, before the block: a head we rewrote (or a caller that
      // gave none) costs one extra read of the payload file; a deflated payload cannot be read.
      let blockSha1 = revisit || rewritten ? undefined : input.blockSha1;
      if (!blockSha1 && deflated)
        throw new TypeError('WARC write: a deflated payload needs blockSha1 and a stored head');
      if (!blockSha1) {
        blockSha1 = payload
          ? await sha1OfFile([head], payload, input.payloadLength)
          : sha1Of([head, ...(inMemory ? [inMemory] : [])]);
      }
      const blockLength = head.length + (withPayload ? input.payloadLength : 0);
      const requestId = newRecordId();
      const responseId = newRecordId();
      const date = warcDate(input.date);
      const own = deflated?.at !== undefined ? this.busyLanes.get(deflated.path) : undefined;
      if (deflated?.at !== undefined && !own) throw new TypeError('WARC write: a payload part in an unknown file');
      const files = own?.lane ?? this.files;
      const written = await files.transaction(async (file) => {
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
          {
            parts: inMemory ? [head, inMemory] : [head],
            ...(payload ? { file: { handle: payload, length: input.payloadLength } } : {}),
            ...(deflated ? { deflated } : {}),
          },
        );
        return { request, response };
      });
      if (own) {
        // The record is written: the lane takes the next large payload.
        this.busyLanes.delete(deflated!.path);
        await this.settleLane(own.lane);
      }
      return written;
    } finally {
      await payload?.close();
    }
  }

  /**
   * A lane whose payload will not be written (a failure, or a revisit): its file is cut back to
   * before the payload, and the lane takes the next one.
   */
  private async releaseLane(path: string, busy: BusyLane): Promise<void> {
    // Once this payload's record is written, the lane (same file, same path) may hold the next
    // payload: a release that comes after that must not touch it.
    if (this.busyLanes.get(path) !== busy) return;
    this.busyLanes.delete(path);
    await busy.lane.cutBack(busy.start);
    await this.settleLane(busy.lane);
  }

  /**
   * Back to the idle lanes, its file closed first if full (so it ships now, not when the lane is
   * next used); closed for good while the writer closes.
   */
  private async settleLane(lane: WarcFileRotation): Promise<void> {
    if (this.closed) return lane.closeOrDiscard();
    if ((lane.current()?.size ?? 0) >= this.rolloverSize) await lane.close();
    this.idleLanes.push(lane);
  }

  private transaction<T>(body: (file: OpenFile) => Promise<T>): Promise<T> {
    return this.files.transaction(body);
  }

  private async writeRecord(
    file: OpenFile,
    id: string,
    date: Date,
    fields: HeaderFields,
    block: RecordBlock,
  ): Promise<RecordLocation> {
    const offset = file.size;
    const header = serializeHeader(fields);
    if (!block.file && !block.deflated) {
      const member = await recordMemberInMemory(header, block.parts, this.gzip);
      appendBuffered(file, member.chunks, member.length);
      return { warcPath: file.name, offset, csize: member.length, recordId: id, date };
    }
    await flushBuffered(file);
    const deflated = block.deflated;
    const csize = deflated
      ? deflated.at === undefined
        ? await writeAssembledMember(file.handle, offset, header, Buffer.concat(block.parts), deflated, this.gzip)
        : await writeMemberAround(
            file.handle,
            offset,
            header,
            Buffer.concat(block.parts),
            { ...deflated, at: deflated.at },
            this.gzip,
          )
      : await writeRecordMember(file.handle, offset, header, block, this.gzip);
    file.size = offset + csize;
    return { warcPath: file.name, offset, csize, recordId: id, date };
  }
}

function sha1Of(parts: Buffer[]): Buffer {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return hash.digest();
}
