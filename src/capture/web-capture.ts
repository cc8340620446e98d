// Captures one HTTP response into the WARC store: spools the body (memory, disk, or deflated for
// its record) while hashing it in one pass, writes a response (or a revisit when the payload is
// already stored), and indexes it.
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { BodyTooLargeError, describeError, PlatformDownloadError } from '../errors.js';
import { contentDecoder } from '../http/body.js';
import { BodySpool, DEFLATE_WHILE_DOWNLOADING_MIN } from './body-spool.js';
import { OffThreadHash } from './hash-thread.js';
import type { HttpResponse } from '../http/client.js';
import { chooseMimetype, mediaType } from '../mimetype.js';
import type { Cdx, FileMeta, Terminal } from '../schemas/result.js';
import type { Capture, CaptureIndex } from '../stores/warc/capture-index.js';
import { base32Decode, warcDate } from '../stores/warc/record.js';
import { wireWarcPath, type WarcLocator } from '../stores/warc/location.js';
import { cdxMime } from '../stores/warc/cdxj.js';
import { surt } from '../stores/warc/surt.js';
import { sha1Base32, type RecordLocation, type WarcWriter } from '../stores/warc/writer.js';

export interface WebCaptureDeps {
  writer: WarcWriter | null; // null: hash only, write nothing (inspect, dry runs)
  index: CaptureIndex | null;
  tmpDir: string;
  now: () => Date;
  /** Where a WARC file will live once shipped (FILESET_WARC_STORE); unset: `warcs/<file>`. */
  warcLocation?: WarcLocator | undefined;
}

export interface CaptureOptions {
  /** Abort with BodyTooLargeError when the body exceeds this many bytes, as transferred or as decoded. */
  maxBytes?: number;
  /**
   * Keep the decoded body for the caller. `file`: on disk, its path returned as `bodyPath` (the
   * caller deletes it). `memory`: returned as `body` when it fits in memory (IN_MEMORY_MAX) and
   * arrived unencoded, else as `bodyPath` like `file`.
   */
  keepBody?: 'file' | 'memory' | undefined;
  signal?: AbortSignal;
}

export interface CapturedResponse {
  url: string;
  statusCode: number;
  date: Date;
  datetime: string; // 14 digits UTC
  contentType: string | null; // media type the server declared
  location: string | undefined;
  fileMeta: FileMeta; // of the decoded body
  payloadSha1b32: string;
  terminal: Terminal;
  cdx: Cdx | null; // null when nothing was written
  revisitCdx: Cdx | null; // the original capture, when this one is a revisit
  /** The decoded body, when the caller asked to keep it (`keepBody`): in memory or as a file. */
  body?: Buffer;
  bodyPath?: string;
}

const SNIFF_BYTES = 512;
/**
 * Bodies declared at least this large have their md5, sha256 and payload sha1 computed on the
 * hash thread, the block sha1 here (this thread also parses HTTP and frames the deflate blocks);
 * for smaller ones a message to the thread costs more than it saves.
 */
const OFF_THREAD_MIN = DEFLATE_WHILE_DOWNLOADING_MIN;

export function warcDatetime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export function cdxFromCapture(capture: Capture, warcLocation?: WarcLocator): Cdx {
  return {
    surt: capture.surt,
    datetime: capture.datetime,
    url: capture.url,
    mimetype: cdxMime(capture),
    status_code: capture.statusCode,
    sha1b32: capture.payloadSha1b32,
    sha1hex: base32Decode(capture.payloadSha1b32).toString('hex'),
    warc_path: wireWarcPath(capture.warcPath, warcLocation),
    warc_offset: capture.warcOffset,
    warc_csize: capture.warcCsize,
  };
}

export async function captureResponse(
  deps: WebCaptureDeps,
  response: HttpResponse,
  options: CaptureOptions = {},
): Promise<CapturedResponse> {
  const date = deps.now();
  const datetime = warcDatetime(date);
  const responseHead = httpResponseHead(response);
  const spoolPath = join(deps.tmpDir, `spool-${randomUUID()}`);
  const encoding = response.header('content-encoding');
  // An unknown coding is hashed as transferred.
  const decoder = contentDecoder(encoding) ?? null;
  // A kept body is the decoded bytes: the spool itself for identity encoding (in memory when asked
  // and small enough, else its file), else a second file.
  const decodedPath = options.keepBody && decoder ? `${spoolPath}.body` : undefined;
  const keptSpool = options.keepBody !== undefined && !decoder;
  // Most bodies stay in memory: the spool directory is made only where a file is (here for the
  // decoded copy, in openSpool for its files; an in-memory spool makes it when it spills).
  if (decodedPath) await mkdir(deps.tmpDir, { recursive: true });

  const declared = Number(response.header('content-length') ?? 0);
  const offThread = !decoder && declared >= OFF_THREAD_MIN;
  const spool = await openSpool(deps, response, spoolPath, keptSpool ? options.keepBody : undefined, responseHead);
  const hashes = new BodyHashes(responseHead, encoding, decoder, options.maxBytes, decodedPath, offThread);
  let file: { size: number; sha1hex: string; md5hex: string; sha256hex: string };
  let payloadSha1: Buffer;
  try {
    await pipeline(response.body, hashes, spool, { signal: options.signal });
    await hashes.decoded();
    ({ payloadSha1, file } = await hashes.digests());
  } catch (err) {
    hashes.dropOffThread();
    await Promise.all([spool.discard(), decodedPath ? rm(decodedPath, { force: true }) : null]);
    throw err;
  }
  const spooled = spool.result();
  let kept: { body: Buffer } | { bodyPath: string } | undefined;
  if (decodedPath) kept = { bodyPath: decodedPath };
  else if (keptSpool) kept = 'payload' in spooled ? { body: spooled.payload } : { bodyPath: spoolPath };
  const bodyPath = kept && 'bodyPath' in kept ? kept.bodyPath : undefined;

  const contentType = mediaType(response.header('content-type'));
  const payloadSha1b32 = sha1Base32(payloadSha1);
  const fileMeta: FileMeta = {
    size_bytes: file.size,
    sha1hex: file.sha1hex,
    sha256hex: file.sha256hex,
    md5hex: file.md5hex,
    mimetype: chooseMimetype(response.header('content-type'), hashes.head()),
  };
  const terminal: Terminal = {
    terminal_url: response.url,
    terminal_dt: datetime,
    terminal_status_code: response.statusCode,
    terminal_sha1hex: file.sha1hex,
  };
  const base = {
    url: response.url,
    statusCode: response.statusCode,
    date,
    datetime,
    contentType,
    location: response.header('location'),
    fileMeta,
    payloadSha1b32,
    terminal,
    ...kept,
  };

  try {
    if (!deps.writer || !deps.index) return { ...base, cdx: null, revisitCdx: null };
    const original =
      hashes.rawLength > 0 && response.statusCode >= 200 && response.statusCode < 300
        ? await deps.index.byPayloadDigest(payloadSha1b32)
        : null;
    const written = await deps.writer.writeExchange({
      targetUri: response.url,
      date,
      ...(response.remoteAddress ? { ipAddress: response.remoteAddress } : {}),
      requestHead: httpRequestHead(response),
      responseHead,
      ...spooled,
      payloadLength: hashes.rawLength,
      payloadSha1,
      blockSha1: hashes.blockSha1.digest(),
      ...(original ? { revisitOf: revisitTarget(original) } : {}),
    });
    const capture = captureRow(written.response, {
      url: response.url,
      datetime,
      recordType: original ? 'revisit' : 'response',
      statusCode: response.statusCode,
      mimetype: declaredMime(response.header('content-type')),
      payloadSha1b32,
      fileMeta,
      refersTo: original,
    });
    await deps.index.add(capture);
    return {
      ...base,
      cdx: cdxFromCapture(capture, deps.warcLocation),
      revisitCdx: original ? cdxFromCapture(original, deps.warcLocation) : null,
    };
  } catch (err) {
    // The caller never learns the kept body's path when this fails: remove it here.
    if (bodyPath) await rm(bodyPath, { force: true });
    throw err;
  } finally {
    if (bodyPath !== spoolPath) await spool.removeFile();
  }
}

/**
 * A body kept as the caller's file goes to that file; a large one that will be archived is
 * deflated as it arrives (declared size, so the choice is made before the first byte), unless the
 * caller keeps it; the rest stay in memory unless they outgrow it.
 */
async function openSpool(
  deps: WebCaptureDeps,
  response: HttpResponse,
  path: string,
  kept: 'file' | 'memory' | undefined,
  responseHead: Buffer,
): Promise<BodySpool> {
  if (kept === 'file') {
    await mkdir(dirname(path), { recursive: true });
    return BodySpool.toFile(path);
  }
  const declared = Number(response.header('content-length') ?? 0);
  if (deps.writer && !kept && declared >= DEFLATE_WHILE_DOWNLOADING_MIN) {
    await mkdir(dirname(path), { recursive: true });
    const headBytes = httpRequestHead(response).length + responseHead.length + 2 * Buffer.byteLength(response.url);
    return BodySpool.deflating(await deps.writer.createDeflatedSpool(path, { declaredLength: declared, headBytes }));
  }
  return BodySpool.inMemory(path);
}

function captureRow(
  location: RecordLocation,
  fields: {
    url: string;
    datetime: string;
    recordType: 'response' | 'revisit';
    statusCode: number;
    mimetype: string | null;
    payloadSha1b32: string;
    fileMeta: FileMeta;
    refersTo: Capture | null;
  },
): Capture {
  return {
    url: fields.url,
    surt: surt(fields.url),
    datetime: fields.datetime,
    recordType: fields.recordType,
    statusCode: fields.statusCode,
    mimetype: fields.mimetype,
    payloadSha1b32: fields.payloadSha1b32,
    fileMimetype: fields.fileMeta.mimetype,
    sha1hex: fields.fileMeta.sha1hex,
    md5hex: fields.fileMeta.md5hex,
    sha256hex: fields.fileMeta.sha256hex,
    sizeBytes: fields.fileMeta.size_bytes,
    warcPath: location.warcPath,
    warcOffset: location.offset,
    warcCsize: location.csize,
    refersToUrl: fields.refersTo?.url ?? null,
    refersToDatetime: fields.refersTo?.datetime ?? null,
    recordId: location.recordId,
    warcDate: warcDate(location.date),
  };
}

/** What a revisit repeats of its original: the record ID and the exact WARC-Date, when indexed. */
function revisitTarget(original: Capture): { targetUri: string; date: Date; recordId?: string } {
  return {
    targetUri: original.url,
    date: original.warcDate ? new Date(original.warcDate) : parseDatetime(original.datetime),
    ...(original.recordId ? { recordId: original.recordId } : {}),
  };
}

/**
 * The CDX mimetype: the declared Content-Type up to its first `;` or space, as it was sent (what
 * pywb's indexer keeps); null when the response declared none.
 */
function declaredMime(contentType: string | undefined): string | null {
  return contentType?.trim().split(/[; ]/, 1)[0] || null;
}

export function parseDatetime(datetime: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(datetime);
  if (!m) throw new Error(`bad 14-digit datetime: ${datetime}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/** The request as sent: request line plus the headers the client reports. */
export function httpRequestHead(response: HttpResponse): Buffer {
  const url = new URL(response.url);
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`];
  for (const [name, value] of response.requestHeaders) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/**
 * The response head as stored. The body we hold is de-chunked, so a Transfer-Encoding header
 * would make the record lie about its framing: it is kept under another name.
 */
export function httpResponseHead(response: HttpResponse): Buffer {
  const lines = [`HTTP/${response.httpVersion} ${response.statusCode} ${response.statusText}`.trimEnd()];
  for (const [name, value] of response.headers) {
    const stored = name.toLowerCase() === 'transfer-encoding' ? 'X-Archive-Orig-Transfer-Encoding' : name;
    lines.push(`${stored}: ${value.replace(/[\r\n]+/g, ' ')}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/**
 * Hashes the raw payload (WARC digests) and the decoded file (md5, sha1, sha256) in one pass.
 * With identity encoding raw and decoded are the same bytes, so the file sha1 is the payload sha1.
 * `offThread` (identity encoding only): md5, sha256 and the payload sha1 on the hash thread, the
 * block sha1 here (the block digest covers the head too, so it cannot be derived from the other).
 */
class BodyHashes extends Transform {
  private readonly payloadSha1: Hash | null;
  readonly blockSha1 = createHash('sha1');
  rawLength = 0;
  private readonly md5: Hash | null;
  private readonly sha256: Hash | null;
  private readonly offThread: OffThreadHash | null;
  private readonly decodedSha1: Hash | null;
  private decodedLength = 0;
  private readonly sniff: Buffer[] = [];
  private sniffLength = 0;
  private readonly decoderDone: Promise<void>;

  constructor(
    responseHead: Buffer,
    encoding: string | undefined,
    private readonly decoder: Transform | null,
    private readonly maxBytes: number | undefined,
    decodedPath: string | undefined,
    offThread: boolean,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.offThread = offThread && !decoder ? new OffThreadHash(['md5', 'sha256', 'sha1']) : null;
    this.payloadSha1 = this.offThread ? null : createHash('sha1');
    this.md5 = this.offThread ? null : createHash('md5');
    this.sha256 = this.offThread ? null : createHash('sha256');
    this.blockSha1.update(responseHead);
    this.decodedSha1 = this.decoder ? createHash('sha1') : null;
    if (this.decoder) {
      const sink = new Writable({
        write: (chunk: Buffer, _enc, cb) => {
          // Decoded bytes are bounded as they come: a compression bomb stops here, not at the end.
          if (this.maxBytes !== undefined && this.decodedLength + chunk.length > this.maxBytes) {
            cb(new BodyTooLargeError(`decoded body exceeds the limit of ${this.maxBytes} bytes`));
            return;
          }
          this.onDecoded(chunk);
          cb();
        },
      });
      const decoder = this.decoder;
      this.decoderDone = pipeline(decoder, decodedPath ? tee(sink, decodedPath) : sink).catch((err: unknown) => {
        // A body that is not what its Content-Encoding says: stop the transfer (a stalled decoder
        // would never drain) and say why.
        const failure =
          err instanceof BodyTooLargeError
            ? err
            : new PlatformDownloadError(`body could not be decoded as ${encoding}: ${describeError(err)}`);
        this.destroy(failure);
        throw failure;
      });
      this.decoderDone.catch(() => undefined);
    } else {
      this.decoderDone = Promise.resolve();
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.rawLength += chunk.length;
    if (this.maxBytes !== undefined && this.rawLength > this.maxBytes) {
      callback(new BodyTooLargeError(`body exceeds the limit of ${this.maxBytes} bytes`));
      return;
    }
    this.payloadSha1?.update(chunk);
    this.blockSha1.update(chunk);
    if (this.decoder) {
      if (!this.decoder.write(chunk)) {
        this.decoder.once('drain', () => callback(null, chunk));
        return;
      }
    } else {
      this.onDecoded(chunk);
      const ready = this.offThread?.ready();
      if (ready) {
        ready.then(() => callback(null, chunk), callback);
        return;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.decoder?.end();
    callback();
  }

  decoded(): Promise<void> {
    return this.decoderDone;
  }

  private onDecoded(chunk: Buffer): void {
    this.decodedLength += chunk.length;
    this.offThread?.update(chunk);
    this.md5?.update(chunk);
    this.sha256?.update(chunk);
    this.decodedSha1?.update(chunk);
    if (this.sniffLength < SNIFF_BYTES) {
      this.sniff.push(chunk.subarray(0, SNIFF_BYTES - this.sniffLength));
      this.sniffLength += Math.min(chunk.length, SNIFF_BYTES - this.sniffLength);
    }
  }

  head(): Buffer {
    return Buffer.concat(this.sniff);
  }

  /**
   * The payload's sha1 (WARC-Payload-Digest) and the decoded file's digests; with identity
   * encoding the file's sha1 is the payload's.
   */
  async digests(): Promise<{
    payloadSha1: Buffer;
    file: { size: number; sha1hex: string; md5hex: string; sha256hex: string };
  }> {
    const [md5hex, sha256hex, sha1hex] = this.offThread
      ? await this.offThread.digest()
      : [this.md5!.digest('hex'), this.sha256!.digest('hex'), this.payloadSha1!.digest('hex')];
    const payloadSha1 = Buffer.from(sha1hex!, 'hex');
    return {
      payloadSha1,
      file: {
        size: this.decodedLength,
        sha1hex: this.decodedSha1 ? this.decodedSha1.digest('hex') : sha1hex!,
        md5hex: md5hex!,
        sha256hex: sha256hex!,
      },
    };
  }

  /** Ends the hash thread's session after a failure. */
  dropOffThread(): void {
    this.offThread?.drop();
  }
}

function tee(sink: Writable, path: string): Writable {
  const file = createWriteStream(path);
  const both = new Writable({
    write(chunk: Buffer, _enc, cb) {
      // The sink refuses what is past the limit: that ends the tee too.
      sink.write(chunk, (err) => {
        if (err) cb(err);
        else if (!file.write(chunk)) file.once('drain', () => cb());
        else cb();
      });
    },
    final(cb) {
      sink.end();
      file.end(cb);
    },
  });
  file.once('error', (err) => both.destroy(err));
  sink.once('error', (err) => both.destroy(err));
  return both;
}
