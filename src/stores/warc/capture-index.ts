// The capture index: where each WARC record we wrote lives (file, offset, compressed length) and
// what it holds, looked up by URL, payload digest or decoded-file sha1, and exported as CDXJ.
import type { Database } from '../../db/database.js';
import type { Capture } from './capture.js';
import { cdxjLine } from './cdxj.js';
import { surt as surtOf } from './surt.js';

export type { Capture } from './capture.js';

export interface CdxjExportOptions {
  /** The CDXJ `filename` for a stored WARC path (default: the path as stored). */
  filename?: (warcPath: string) => string;
  /** Rows fetched per keyset page. */
  batchSize?: number;
}

interface CaptureRow {
  warc_path: string;
  warc_offset: number;
  warc_csize: number;
  url: string;
  surt: string;
  datetime: string;
  record_type: Capture['recordType'];
  status_code: number | null;
  mimetype: string | null;
  payload_sha1b32: string;
  file_mimetype: string | null;
  sha1hex: string | null;
  md5hex: string | null;
  sha256hex: string | null;
  size_bytes: number | null;
  refers_to_url: string | null;
  refers_to_datetime: string | null;
  record_id: string | null;
  warc_date: string | null;
}

const COLUMNS =
  'warc_path, warc_offset, warc_csize, url, surt, datetime, record_type, status_code, mimetype, payload_sha1b32, ' +
  'file_mimetype, sha1hex, md5hex, sha256hex, size_bytes, refers_to_url, refers_to_datetime, record_id, warc_date';
const SELECT = `SELECT ${COLUMNS} FROM capture`;
const LATEST = 'ORDER BY datetime DESC, warc_path DESC, warc_offset DESC LIMIT 1';
const EXPORT_ORDER = 'ORDER BY surt, datetime, warc_path, warc_offset';

const USABLE = "record_type IN ('response', 'revisit') AND status_code BETWEEN 200 AND 299";

function byFileHashSql(column: 'sha1hex' | 'md5hex' | 'sha256hex', param = '$1', select = SELECT): string {
  return `${select} WHERE ${column} = ${param} AND ${USABLE} ORDER BY datetime DESC LIMIT 1`;
}

/** The SELECT of one lookup of `existingCopies`, numbered so its rows come back in order. */
const lookup = (n: number) => `SELECT ${n} AS lookup, ${COLUMNS} FROM capture`;

/** Hashes of a decoded file the index can look up (platforms publish md5, sha1 or sha256). */
export type FileHashAlgorithm = 'sha1' | 'md5' | 'sha256';
/** The hashes of a file a platform gave (null or absent: not given). */
export type FileHashes = Partial<Record<FileHashAlgorithm, string | null>>;

/** Every statement the index runs, exported so a test can EXPLAIN exactly these at scale. */
export const CAPTURE_SQL = {
  insert:
    `INSERT INTO capture (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ` +
    'ON CONFLICT (warc_path, warc_offset) DO NOTHING',
  latestByUrl: `${SELECT} WHERE url = $1 AND ${USABLE} ${LATEST}`,
  latestByUrlAnyStatus: `${SELECT} WHERE url = $1 AND record_type IN ('response', 'revisit', 'resource') ${LATEST}`,
  // Digest lookups order by datetime alone, the index order, so even a digest with thousands of
  // captures is read from the index without a sort; two captures in the same second are equally good.
  byPayloadDigest: `${SELECT} WHERE payload_sha1b32 = $1 AND record_type = 'response' ORDER BY datetime LIMIT 1`,
  bySha1hex: byFileHashSql('sha1hex'),
  byMd5hex: byFileHashSql('md5hex'),
  bySha256hex: byFileHashSql('sha256hex'),
  // For each file n of the arrays $1-$4 (URL, sha1, sha256, md5; a null hash is not asked):
  // latestByUrl, then bySha1hex, bySha256hex and byMd5hex, all files in one round trip; each part
  // is the same index lookup as on its own.
  existingCopies:
    'SELECT f.n AS file, c.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ' +
    'WITH ORDINALITY AS f(url, sha1, sha256, md5, n) CROSS JOIN LATERAL (' +
    `(${lookup(0)} WHERE url = f.url AND ${USABLE} ${LATEST}) ` +
    `UNION ALL (${byFileHashSql('sha1hex', 'f.sha1', lookup(1))}) ` +
    `UNION ALL (${byFileHashSql('sha256hex', 'f.sha256', lookup(2))}) ` +
    `UNION ALL (${byFileHashSql('md5hex', 'f.md5', lookup(3))})) AS c`,
  exportFirst: `${SELECT} ${EXPORT_ORDER} LIMIT $1`,
  exportAfter: `${SELECT} WHERE (surt, datetime, warc_path, warc_offset) > ($1, $2, $3, $4) ${EXPORT_ORDER} LIMIT $5`,
  count: 'SELECT count(*) AS n FROM capture',
} as const;

const EXPORT_BATCH = 5000;
const WRITE_CHUNK = 64 * 1024;

export class CaptureIndex {
  constructor(private readonly db: Database) {}

  /**
   * Records one WARC record; adding the same (warcPath, warcOffset) again changes nothing. The
   * SURT key is computed from the URL unless given. An empty mimetype (a server sending an empty
   * Content-Type) is stored as null.
   */
  async add(
    capture: Omit<Capture, 'surt' | 'fileMimetype' | 'recordId' | 'warcDate'> &
      Partial<Pick<Capture, 'surt' | 'fileMimetype' | 'recordId' | 'warcDate'>>,
  ): Promise<void> {
    await this.db.query(CAPTURE_SQL.insert, [
      capture.warcPath,
      capture.warcOffset,
      capture.warcCsize,
      capture.url,
      capture.surt ?? surtOf(capture.url),
      capture.datetime,
      capture.recordType,
      capture.statusCode,
      capture.mimetype || null,
      capture.payloadSha1b32,
      capture.fileMimetype || null,
      capture.sha1hex,
      capture.md5hex,
      capture.sha256hex,
      capture.sizeBytes,
      capture.refersToUrl,
      capture.refersToDatetime,
      capture.recordId ?? null,
      capture.warcDate ?? null,
    ]);
  }

  /**
   * Latest capture of exactly this URL: by default only 2xx response/revisit records; with
   * anyStatus, responses and revisits of any status and resource records too (never metadata).
   */
  async latestByUrl(url: string, options: { anyStatus?: boolean } = {}): Promise<Capture | null> {
    return this.one(options.anyStatus ? CAPTURE_SQL.latestByUrlAnyStatus : CAPTURE_SQL.latestByUrl, [url]);
  }

  /** The earliest full `response` record (not a revisit) whose payload digest is this (the one a revisit refers to). */
  async byPayloadDigest(payloadSha1b32: string): Promise<Capture | null> {
    return this.one(CAPTURE_SQL.byPayloadDigest, [payloadSha1b32]);
  }

  /** The latest 2xx response/revisit capture whose decoded-file sha1 is this. */
  async bySha1hex(sha1hex: string): Promise<Capture | null> {
    return this.byFileHash('sha1', sha1hex);
  }

  /** Like bySha1hex for any hash a platform publishes; hex digits in either case. */
  async byFileHash(algorithm: FileHashAlgorithm, hex: string): Promise<Capture | null> {
    const sql = { sha1: CAPTURE_SQL.bySha1hex, md5: CAPTURE_SQL.byMd5hex, sha256: CAPTURE_SQL.bySha256hex }[algorithm];
    return this.one(sql, [hex.toLowerCase()]);
  }

  /**
   * Captures that may hold this file, most direct first: the latest 2xx capture of `url`, then the
   * latest of the decoded file by each hash given (as byFileHash), in one round trip. The same
   * capture can appear more than once.
   */
  async existingCopies(url: string, hashes: FileHashes): Promise<Capture[]> {
    return (await this.existingCopiesOf([{ url, hashes }]))[0]!;
  }

  /** existingCopies of several files in one round trip, in the order given. */
  async existingCopiesOf(files: ReadonlyArray<{ url: string; hashes: FileHashes }>): Promise<Capture[][]> {
    if (files.length === 0) return [];
    const hex = (value: string | null | undefined) => (value ? value.toLowerCase() : null);
    const rows = await this.db.query<CaptureRow & { file: string | number; lookup: number }>(
      CAPTURE_SQL.existingCopies,
      [
        files.map((f) => f.url),
        files.map((f) => hex(f.hashes.sha1)),
        files.map((f) => hex(f.hashes.sha256)),
        files.map((f) => hex(f.hashes.md5)),
      ],
    );
    const copies: Capture[][] = files.map(() => []);
    // ORDINALITY is a bigint: a string from node-postgres, a number elsewhere.
    rows.sort((a, b) => Number(a.file) - Number(b.file) || a.lookup - b.lookup);
    for (const row of rows) copies[Number(row.file) - 1]!.push(toCapture(row));
    return copies;
  }

  /**
   * Writes every capture as CDXJ, in SURT then datetime order, and returns the line count. Pages
   * through the index by keyset (no long transaction, nothing held in memory beyond one page) and
   * waits for 'drain' when `out` pushes back. Captures added meanwhile may or may not appear.
   */
  async exportCdxj(out: NodeJS.WritableStream, options: CdxjExportOptions = {}): Promise<number> {
    const batchSize = options.batchSize ?? EXPORT_BATCH;
    const filename = options.filename ?? ((warcPath: string) => warcPath);
    const sink = new Sink(out);
    let count = 0;
    let last: CaptureRow | undefined;
    try {
      for (;;) {
        const rows = last
          ? await this.db.query<CaptureRow>(CAPTURE_SQL.exportAfter, [
              last.surt,
              last.datetime,
              last.warc_path,
              last.warc_offset,
              batchSize,
            ])
          : await this.db.query<CaptureRow>(CAPTURE_SQL.exportFirst, [batchSize]);
        let chunk = '';
        for (const row of rows) {
          chunk += `${cdxjLine(toCapture(row), filename(row.warc_path))}\n`;
          if (chunk.length >= WRITE_CHUNK) {
            await sink.write(chunk);
            chunk = '';
          }
        }
        if (chunk) await sink.write(chunk);
        count += rows.length;
        if (rows.length < batchSize) return count;
        last = rows[rows.length - 1];
      }
    } finally {
      sink.release();
    }
  }

  async count(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(CAPTURE_SQL.count);
    return rows[0]?.n ?? 0;
  }

  private async one(sql: string, params: unknown[]): Promise<Capture | null> {
    const rows = await this.db.query<CaptureRow>(sql, params);
    return rows[0] ? toCapture(rows[0]) : null;
  }
}

function toCapture(row: CaptureRow): Capture {
  return {
    url: row.url,
    surt: row.surt,
    datetime: row.datetime,
    recordType: row.record_type,
    statusCode: row.status_code,
    mimetype: row.mimetype,
    payloadSha1b32: row.payload_sha1b32,
    fileMimetype: row.file_mimetype,
    sha1hex: row.sha1hex,
    md5hex: row.md5hex,
    sha256hex: row.sha256hex,
    sizeBytes: row.size_bytes,
    warcPath: row.warc_path,
    warcOffset: row.warc_offset,
    warcCsize: row.warc_csize,
    refersToUrl: row.refers_to_url,
    refersToDatetime: row.refers_to_datetime,
    recordId: row.record_id,
    warcDate: row.warc_date,
  };
}

/** Writes with backpressure, and turns an 'error' or 'close' of the stream into a rejection. */
class Sink {
  private failure: Error | undefined;
  private readonly onError = (err: Error) => {
    this.failure ??= err;
  };

  constructor(private readonly out: NodeJS.WritableStream) {
    out.on('error', this.onError);
  }

  async write(chunk: string): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.out.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.off('drain', onDrain);
        this.out.off('error', onFail);
        this.out.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onFail = (err: Error) => done(err);
      const onClose = () => done(this.failure ?? new Error('CDXJ output closed before the export finished'));
      this.out.on('drain', onDrain);
      this.out.on('error', onFail);
      this.out.on('close', onClose);
    });
  }

  release(): void {
    this.out.off('error', this.onError);
  }
}
