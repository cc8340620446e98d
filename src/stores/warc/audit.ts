// The read side of the WARC store: a fixity audit from the files alone. Each gzip member is read
// with the native inflater (members.ts) and its record parsed by warcio's streaming WARCParser, an
// implementation independent of our writer. Checked: one record per member, every block and
// payload digest, Content-Length, request/response pairing by WARC-Concurrent-To, and every
// revisit's original (WARC-Refers-To, its target URI, exact date and payload digest).
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { WARCParser, type WARCRecord } from 'warcio';
import { describeError } from '../../errors.js';
import { gzipMembers } from './members.js';
import { base32Decode } from './record.js';

export interface AuditProblem {
  /** `<file>@<offset>` of a record's gzip member, or `<item>/<path>`. */
  where: string;
  message: string;
}

interface Original {
  uri: string;
  date: string;
  digest: string | null;
}

interface Revisit {
  where: string;
  refersTo: string | null;
  uri: string | null;
  date: string | null;
  digest: string | null;
}

/** The end of an HTTP head: the payload starts after it. */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEAD = 1 << 20;
const ALGORITHMS: Record<string, { node: string; bytes: number }> = {
  sha1: { node: 'sha1', bytes: 20 },
  'sha-1': { node: 'sha1', bytes: 20 },
  sha256: { node: 'sha256', bytes: 32 },
  'sha-256': { node: 'sha256', bytes: 32 },
  md5: { node: 'md5', bytes: 16 },
};

/** A labelled digest (`sha1:<base32>` or hex) as algorithm and bytes; undefined when unreadable. */
function parseDigest(label: string): { node: string; bytes: Buffer } | undefined {
  const colon = label.indexOf(':');
  const algorithm = ALGORITHMS[label.slice(0, colon).toLowerCase()];
  if (colon < 0 || !algorithm) return undefined;
  const value = label.slice(colon + 1).trim();
  try {
    const bytes =
      /^[0-9a-f]+$/i.test(value) && value.length === algorithm.bytes * 2
        ? Buffer.from(value, 'hex')
        : base32Decode(value);
    return bytes.length === algorithm.bytes ? { node: algorithm.node, bytes } : undefined;
  } catch {
    return undefined;
  }
}

/** Hashes a block, and the payload after the HTTP head when the block is an HTTP message. */
class BlockDigests {
  readonly block: Hash | undefined;
  readonly payload: Hash | undefined;
  length = 0;
  payloadLength = 0;
  /** Head bytes held until its end is found (HTTP messages only). */
  private head: Buffer[] | undefined;
  private headLength = 0;
  headTooLong = false;

  constructor(
    blockAlgorithm: string | undefined,
    payloadAlgorithm: string | undefined,
    private readonly http: boolean,
  ) {
    this.block = blockAlgorithm ? createHash(blockAlgorithm) : undefined;
    this.payload = payloadAlgorithm ? createHash(payloadAlgorithm) : undefined;
    this.head = http ? [] : undefined;
  }

  update(chunk: Buffer): void {
    this.length += chunk.length;
    this.block?.update(chunk);
    if (!this.head) return this.onPayload(chunk);
    // Only the last 3 bytes of earlier chunks can start the separator.
    const tail = this.head.length ? this.head[this.head.length - 1]!.subarray(-3) : Buffer.alloc(0);
    const joined = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    const end = joined.indexOf(HEAD_END);
    if (end < 0) {
      this.head.push(chunk);
      this.headLength += chunk.length;
      if (this.headLength > MAX_HEAD) {
        this.headTooLong = true;
        this.head = undefined;
      }
      return;
    }
    this.head = undefined;
    this.onPayload(chunk.subarray(end + HEAD_END.length - tail.length));
  }

  /** True when the block was an HTTP message whose head never ended. */
  get headUnended(): boolean {
    return this.http && (this.head !== undefined || this.headTooLong);
  }

  private onPayload(chunk: Buffer): void {
    this.payloadLength += chunk.length;
    this.payload?.update(chunk);
  }
}

/** Iterates without closing the source when the consumer stops early (the rest is drained later). */
function unclosable(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  return { [Symbol.asyncIterator]: () => ({ next: () => iterator.next() }) };
}

export class WarcAudit {
  files = 0;
  records = 0;
  /** Payload bytes of the response and resource records read (the benchmark's throughput unit). */
  payloadBytes = 0;
  readonly problems: AuditProblem[] = [];
  /** Revisits whose original lies outside what was read (only with a partial audit). */
  uncheckedRevisits = 0;
  private readonly originals = new Map<string, Original>();
  private readonly originalByUriDate = new Map<string, string>();
  private readonly revisits: Revisit[] = [];

  /**
   * @param partial Not every WARC file is read (verify --since): a revisit whose original is not
   *   among the files read is counted as unchecked, not as a problem.
   */
  constructor(private readonly partial = false) {}

  /** Reads one WARC file; `name` is how problems name it. */
  async file(path: string, name: string): Promise<void> {
    this.files += 1;
    const handle = await open(path, 'r');
    // Request record → the response/revisit it names, and the captures of this file.
    const requests: Array<{ where: string; concurrentTo: string[] }> = [];
    const captures = new Map<string, string>();
    try {
      for await (const member of gzipMembers(handle)) {
        const where = `${name}@${member.offset}`;
        const body = unclosable(member.body);
        let count = 0;
        try {
          for await (const record of new WARCParser(body, { parseHttp: false })) {
            count += 1;
            // Past a block the member ends inside, warcio would skip the missing bytes for ever
            // (its skip loop never sees the end): the member is done with.
            if (!(await this.record(record, where, requests, captures))) break;
          }
        } catch (err) {
          this.problem(where, `unreadable WARC record: ${describeError(err)}`);
          count = -1;
        }
        for await (const _rest of body) {
          // drain what the parser left, so the member's trailer is checked
        }
        const end = await member.end;
        if (end.damage) this.problem(where, end.damage);
        else if (count === 0) this.problem(where, 'gzip member holds no WARC record');
        else if (count > 1) this.problem(where, `gzip member holds ${count} records (one per member is expected)`);
      }
    } finally {
      await handle.close();
    }
    const answered = new Set<string>();
    for (const request of requests) {
      const partner = request.concurrentTo.find((id) => captures.has(id));
      if (partner) answered.add(partner);
      else this.problem(request.where, 'request names no response or revisit of this file (WARC-Concurrent-To)');
    }
    for (const [id, where] of captures) {
      if (!answered.has(id)) this.problem(where, 'response without its request record (WARC-Concurrent-To)');
    }
  }

  /** Checks every revisit against the originals read; call once, after the last file. */
  finish(): void {
    for (const revisit of this.revisits) {
      const id =
        revisit.refersTo ??
        (revisit.uri && revisit.date ? this.originalByUriDate.get(`${revisit.uri} ${revisit.date}`) : undefined);
      const original = id ? this.originals.get(id) : undefined;
      if (!original) {
        if (this.partial) this.uncheckedRevisits += 1;
        else this.problem(revisit.where, `revisit of ${revisit.refersTo ?? revisit.uri ?? '?'}: no such original`);
        continue;
      }
      if (revisit.uri !== null && revisit.uri !== original.uri) {
        this.problem(revisit.where, `revisit: WARC-Refers-To-Target-URI ${revisit.uri}, original is ${original.uri}`);
      }
      if (revisit.date !== null && revisit.date !== original.date) {
        this.problem(
          revisit.where,
          `revisit: WARC-Refers-To-Date ${revisit.date}, original's WARC-Date is ${original.date}`,
        );
      }
      if (revisit.digest !== null && original.digest !== null && revisit.digest !== original.digest) {
        this.problem(revisit.where, "revisit: payload digest differs from the original's");
      }
    }
  }

  private problem(where: string, message: string): void {
    this.problems.push({ where, message });
  }

  private async record(
    record: WARCRecord,
    where: string,
    requests: Array<{ where: string; concurrentTo: string[] }>,
    captures: Map<string, string>,
  ): Promise<boolean> {
    this.records += 1;
    const type = record.warcType;
    const id = record.warcHeader('WARC-Record-ID') ?? null;
    const http = (record.warcContentType ?? '').toLowerCase().startsWith('application/http');
    const blockLabel = record.warcBlockDigest ?? null;
    // A revisit's payload digest is its original's: there is no payload to check it against.
    const payloadLabel = type === 'revisit' ? null : (record.warcPayloadDigest ?? null);
    const blockDigest = blockLabel ? parseDigest(blockLabel) : undefined;
    const payloadDigest = payloadLabel ? parseDigest(payloadLabel) : undefined;
    if (blockLabel && !blockDigest) this.problem(where, `unreadable WARC-Block-Digest ${blockLabel}`);
    if (payloadLabel && !payloadDigest) this.problem(where, `unreadable WARC-Payload-Digest ${payloadLabel}`);

    const digests = new BlockDigests(blockDigest?.node, payloadDigest?.node, http);
    for await (const chunk of record.reader) digests.update(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    if (digests.length !== record.warcContentLength) {
      this.problem(where, `block is ${digests.length} bytes, Content-Length says ${record.warcContentLength}`);
      if (digests.length < record.warcContentLength) return false;
    }
    if (blockDigest && !digests.block!.digest().equals(blockDigest.bytes)) {
      this.problem(where, `WARC-Block-Digest does not match the block (${type} ${record.warcTargetURI ?? ''})`);
    }
    if (payloadDigest) {
      if (digests.headUnended) this.problem(where, 'HTTP head has no end: payload digest not checked');
      else if (!digests.payload!.digest().equals(payloadDigest.bytes)) {
        this.problem(where, `WARC-Payload-Digest does not match the payload (${type} ${record.warcTargetURI ?? ''})`);
      }
    }
    if (type === 'response' || type === 'resource') this.payloadBytes += http ? digests.payloadLength : digests.length;

    if (type === 'request') {
      requests.push({ where, concurrentTo: record.warcConcurrentTo ?? [] });
    } else if ((type === 'response' || type === 'revisit') && id) {
      captures.set(id, where);
    }
    if (type === 'response' && id) {
      const uri = record.warcTargetURI ?? '';
      const date = record.warcDate ?? '';
      this.originals.set(id, { uri, date, digest: record.warcPayloadDigest ?? null });
      this.originalByUriDate.set(`${uri} ${date}`, id);
    } else if (type === 'revisit') {
      this.revisits.push({
        where,
        refersTo: record.warcHeader('WARC-Refers-To') ?? null,
        uri: record.warcRefersToTargetURI ?? null,
        date: record.warcRefersToDate ?? null,
        digest: record.warcPayloadDigest ?? null,
      });
    }
    return true;
  }
}
