// WARC 1.1 record serialization: header fields, digests and the stored form of an HTTP response
// head. record-member.ts turns a record into a gzip member; the writer (writer.ts) owns order.
import { randomUUID } from 'node:crypto';

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
