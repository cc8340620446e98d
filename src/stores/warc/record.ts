// WARC 1.1 record serialization: header fields, digests, the stored form of an HTTP response
// head, and the gzip member each record becomes. The writer (writer.ts) owns files and order.
import { randomUUID } from 'node:crypto';
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';

export const WARC_VERSION = 'WARC/1.1';
export const WARC_FORMAT = 'WARC File Format 1.1';
export const WARC_CONFORMS_TO = 'http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/';
export const REVISIT_PROFILE = 'http://netpreserve.org/warc/1.1/revisit/identical-payload-digest';
export const HTTP_REQUEST_TYPE = 'application/http;msgtype=request';
export const HTTP_RESPONSE_TYPE = 'application/http;msgtype=response';
export const WARC_FIELDS_TYPE = 'application/warc-fields';
/** Two CRLFs end every record, after its block. */
export const RECORD_END = Buffer.from('\r\n\r\n', 'latin1');

export type WarcType = 'warcinfo' | 'request' | 'response' | 'revisit' | 'metadata' | 'resource';

/** Header fields in output order; an undefined value leaves the field out. */
export type HeaderFields = ReadonlyArray<readonly [name: string, value: string | number | undefined]>;

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, upper case, padded (a 20-byte SHA-1 gives 32 characters and no padding). */
export function sha1Base32(digest: Buffer): string {
  let out = '';
  let value = 0;
  let bits = 0;
  for (const byte of digest) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** The bytes of an RFC 4648 base32 text (padding optional); throws on other characters. */
export function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let value = 0;
  let bits = 0;
  for (const char of text.replace(/=+$/, '')) {
    const index = BASE32_ALPHABET.indexOf(char.toUpperCase());
    if (index < 0) throw new Error(`not base32: ${text}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** `sha1:<BASE32>`, the labelled digest form WARC-Block-Digest and WARC-Payload-Digest use. */
export function sha1Label(digest: Buffer): string {
  return `sha1:${sha1Base32(digest)}`;
}

export function newRecordId(): string {
  return `<urn:uuid:${randomUUID()}>`;
}

/** A record ID in its header form, whether or not the caller kept the angle brackets. */
export function recordIdForm(id: string): string {
  return id.startsWith('<') ? id : `<${id}>`;
}

/** ISO 8601 UTC; milliseconds only when the date has them (WARC 1.1 allows both). */
export function warcDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TypeError('WARC-Date: invalid date');
  const iso = date.toISOString();
  return date.getUTCMilliseconds() === 0 ? `${iso.slice(0, 19)}Z` : iso;
}

// Control characters (CR and LF above all) would let a value end its field and start another.
// eslint-disable-next-line no-control-regex
const UNSAFE_VALUE = /[\x00-\x1f\x7f]/;

/** `WARC/1.1` line, the fields, and the blank line that ends the header. */
export function serializeHeader(fields: HeaderFields): Buffer {
  let text = `${WARC_VERSION}\r\n`;
  for (const [name, value] of fields) {
    if (value === undefined) continue;
    const str = String(value);
    if (UNSAFE_VALUE.test(str)) throw new TypeError(`WARC header ${name}: control character in value`);
    text += `${name}: ${str}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, 'utf8');
}

/** An `application/warc-fields` block (warcinfo contents). */
export function warcFieldsBlock(fields: HeaderFields): Buffer {
  let text = '';
  for (const [name, value] of fields) {
    if (value === undefined) continue;
    const str = String(value).replace(/[\r\n]+/g, ' ');
    text += `${name}: ${str}\r\n`;
  }
  return Buffer.from(text, 'utf8');
}

const ORIGINAL_TRANSFER_ENCODING = 'X-Archive-Orig-Transfer-Encoding';

/**
 * The response head as stored. Payloads reach the writer with the transfer coding already
 * removed (de-chunked), so a `Transfer-Encoding` field would make the record's HTTP framing
 * lie: it is kept under the name `X-Archive-Orig-Transfer-Encoding` instead (what Heritrix and
 * warcprox do). `rewritten` tells the caller that any block digest computed over the original
 * head no longer holds.
 */
export function storedResponseHead(head: Buffer): { head: Buffer; rewritten: boolean } {
  const text = head.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const fieldsEnd = end < 0 ? text.length : end;
  const firstLineEnd = text.indexOf('\r\n');
  if (firstLineEnd < 0 || firstLineEnd >= fieldsEnd) return { head, rewritten: false };
  const lines = text.slice(firstLineEnd + 2, fieldsEnd).split('\r\n');
  let rewritten = false;
  const stored = lines.map((line) => {
    const match = /^transfer-encoding[ \t]*:/i.exec(line);
    if (!match) return line;
    rewritten = true;
    return `${ORIGINAL_TRANSFER_ENCODING}:${line.slice(match[0].length)}`;
  });
  if (!rewritten) return { head, rewritten: false };
  const rebuilt = `${text.slice(0, firstLineEnd + 2)}${stored.join('\r\n')}${text.slice(fieldsEnd)}`;
  return { head: Buffer.from(rebuilt, 'latin1'), rewritten: true };
}

const DICTIONARY_SIZE = 32 * 1024;
// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unix
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

export interface MemberOptions {
  level: number;
  /** Uncompressed bytes per parallel block. */
  blockSize: number;
  /** Blocks compressing or waiting to be written at once. */
  inFlight: number;
}

function deflateBlock(block: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    deflateRaw(block, options, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * Streams one gzip member to `write`. The input is cut into blocks; each is raw-deflated on its
 * own (primed with the previous 32 KiB as dictionary, ended by a sync flush so the pieces join
 * byte-aligned), so several compress at once while the output stays one ordinary member that
 * any gunzip reads. Writes happen in order, one at a time.
 */
export class GzipMemberWriter {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private dictionary: Buffer | undefined;
  private crc = 0;
  private inputLength = 0;
  private outputLength = 0;
  private started = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly inFlight: Promise<void>[] = [];

  constructor(
    private readonly write: (chunk: Buffer) => Promise<void>,
    private readonly options: MemberOptions,
  ) {}

  /** Adds bytes; resolves when there is room for more (back-pressure). Keeps a reference to `chunk`. */
  async push(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    // Cut only while more than a block is pending: the last block is compressed by finish().
    while (this.pendingLength > this.options.blockSize) {
      await this.dispatch(this.take(this.options.blockSize), false);
    }
  }

  /** Compresses the rest, writes the trailer, and resolves with the member's compressed length. */
  async finish(): Promise<number> {
    await this.dispatch(this.take(this.pendingLength), true);
    await this.chain;
    return this.outputLength;
  }

  /** Waits for every write already started, ignoring failures (before truncating after an error). */
  async settle(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  private take(length: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    const block = all.subarray(0, length);
    const rest = all.subarray(length);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingLength = rest.length;
    return block;
  }

  private async dispatch(block: Buffer, last: boolean): Promise<void> {
    const options: ZlibOptions = {
      level: this.options.level,
      // One output buffer big enough for the whole block: a single trip to the pool.
      chunkSize: Math.max(64 * 1024, block.length + (block.length >>> 8) + 1024),
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      ...(this.dictionary ? { dictionary: this.dictionary } : {}),
    };
    this.dictionary =
      block.length >= DICTIONARY_SIZE
        ? block.subarray(block.length - DICTIONARY_SIZE)
        : Buffer.concat([this.dictionary ?? Buffer.alloc(0), block]).subarray(-DICTIONARY_SIZE);
    this.crc = crc32(block, this.crc);
    this.inputLength += block.length;
    const compressed = deflateBlock(block, options);
    compressed.catch(() => undefined); // surfaced through the chain
    const first = !this.started;
    this.started = true;
    const trailer = last ? this.trailer() : undefined;
    const step = this.chain.then(async () => {
      const body = await compressed;
      const pieces = [first ? GZIP_HEADER : undefined, body, trailer].filter((b): b is Buffer => b !== undefined);
      const out = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      await this.write(out);
      this.outputLength += out.length;
    });
    step.catch(() => undefined); // surfaced through the chain
    this.chain = step;
    this.inFlight.push(step);
    while (this.inFlight.length >= this.options.inFlight) await this.inFlight.shift();
  }

  private trailer(): Buffer {
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.inputLength % 2 ** 32, 4);
    return trailer;
  }
}
