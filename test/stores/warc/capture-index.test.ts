// The capture index on both backends (embedded PGlite and the real PostgreSQL), then its queries
// EXPLAINed at 200k rows on PostgreSQL to prove they are index lookups, not scans.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../src/db/database.js';
import { migrate } from '../../../src/db/migrate.js';
import { CAPTURE_SQL, CaptureIndex, type Capture } from '../../../src/stores/warc/capture-index.js';
import { cdxjLine } from '../../../src/stores/warc/cdxj.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { silentLogger } from '../../support/context.js';

const WARC = 'FILESET-20240101000000-00000-host-1.warc.gz';

/** A stand-in base32 SHA-1 (32 chars of [A-Z2-7]) derived from a label. */
function b32(label: string): string {
  return hex('sha1', label)
    .slice(0, 32)
    .replace(/[0-9a-f]/g, (c) => 'ABCDEFGHIJKLMNOP'[parseInt(c, 16)]!);
}

function hex(algorithm: string, label: string): string {
  return createHash(algorithm).update(label).digest('hex');
}

let nextOffset = 0;

function capture(fields: Partial<Capture> = {}): Omit<Capture, 'surt'> {
  const body = fields.url ?? 'body';
  return {
    url: 'https://zenodo.org/api/records/7078725',
    datetime: '20240101000000',
    recordType: 'response',
    statusCode: 200,
    mimetype: 'application/json',
    fileMimetype: 'application/json',
    payloadSha1b32: b32(body),
    sha1hex: hex('sha1', body),
    md5hex: hex('md5', body),
    sha256hex: hex('sha256', body),
    sizeBytes: 1234,
    warcPath: WARC,
    warcOffset: (nextOffset += 1000),
    warcCsize: 512,
    refersToUrl: null,
    refersToDatetime: null,
    recordId: null,
    warcDate: null,
    ...fields,
  };
}

async function exportLines(
  index: CaptureIndex,
  options?: Parameters<CaptureIndex['exportCdxj']>[1],
): Promise<{ count: number; lines: string[] }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const count = await index.exportCdxj(out, options);
  out.end();
  const text = Buffer.concat(chunks).toString('utf8');
  return { count, lines: text ? text.replace(/\n$/, '').split('\n') : [] };
}

interface Backend {
  name: string;
  open(): Promise<Database>;
  dispose(): Promise<void>;
}

const pglite = (): Backend => {
  let dataDir = '';
  return {
    name: 'pglite',
    async open() {
      dataDir = await mkdtemp(join(tmpdir(), 'fileset-capture-'));
      return openDatabase({ dataDir, databaseUrl: undefined }, silentLogger);
    },
    async dispose() {
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
};

const postgres = (): Backend => {
  let database: TestDatabase | undefined;
  return {
    name: 'postgres',
    async open() {
      database = await createTestDatabase();
      return openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
    },
    async dispose() {
      await database?.drop();
    },
  };
};

describe.each([pglite(), postgres()])('CaptureIndex on $name', (backend) => {
  let db: Database;
  let index: CaptureIndex;

  beforeAll(async () => {
    db = await backend.open();
    await migrate(db, silentLogger);
    index = new CaptureIndex(db);
  });

  afterAll(async () => {
    await db?.close();
    await backend.dispose();
  });

  beforeEach(async () => {
    await db.query('DELETE FROM capture');
  });

  it('adds a capture, computing its SURT, and adding it again changes nothing', async () => {
    const c = capture();
    await index.add(c);
    await index.add({ ...c, statusCode: 500 });
    expect(await index.count()).toBe(1);
    expect(await index.latestByUrl(c.url)).toEqual({ ...c, surt: 'org,zenodo)/api/records/7078725' });
  });

  it('keeps a SURT given by the caller', async () => {
    await index.add({ ...capture(), surt: 'org,zenodo)/custom' });
    expect((await index.latestByUrl(capture().url))!.surt).toBe('org,zenodo)/custom');
  });

  it('returns offsets and sizes past 2^32 as exact numbers', async () => {
    await index.add(capture({ warcOffset: 5_000_000_123, warcCsize: 4_300_000_001, sizeBytes: 6_000_000_007 }));
    const found = await index.latestByUrl(capture().url);
    expect(found).toMatchObject({ warcOffset: 5_000_000_123, warcCsize: 4_300_000_001, sizeBytes: 6_000_000_007 });
    expect(typeof found!.warcOffset).toBe('number');
  });

  it.each([
    ['an empty url', { url: '' }],
    ['a datetime that is not 14 digits', { datetime: '2024-01-01T00:00:00Z' }],
    ['a 13-digit datetime', { datetime: '2024010100000' }],
    ['an unknown record type', { recordType: 'request' as Capture['recordType'] }],
    ['a payload digest that is not base32 SHA-1', { payloadSha1b32: 'sha1:ABC' }],
    ['an upper-case sha1hex', { sha1hex: hex('sha1', 'x').toUpperCase() }],
    ['a status outside 100-599', { statusCode: 42 }],
    ['a negative offset', { warcOffset: -1 }],
    [
      'a revisit target without its date',
      { recordType: 'revisit' as const, refersToUrl: 'https://a.example/', refersToDatetime: null },
    ],
  ])('rejects %s', async (_, fields) => {
    await expect(index.add(capture(fields))).rejects.toMatchObject({ code: '23514' });
    expect(await index.count()).toBe(0);
  });

  it('rejects an empty or spaced SURT given by the caller', async () => {
    await expect(index.add({ ...capture(), surt: '' })).rejects.toMatchObject({ code: '23514' });
    await expect(index.add({ ...capture(), surt: 'org,x)/a b' })).rejects.toMatchObject({ code: '23514' });
  });

  it("keeps the file's resolved mimetype apart from the declared one", async () => {
    await index.add(
      capture({ url: 'https://example.org/sniffed', mimetype: 'application/octet-stream', fileMimetype: 'text/csv' }),
    );
    expect(await index.latestByUrl('https://example.org/sniffed')).toMatchObject({
      mimetype: 'application/octet-stream',
      fileMimetype: 'text/csv',
    });
  });

  it('stores an empty mimetype as null', async () => {
    await index.add(capture({ mimetype: '' }));
    expect((await index.latestByUrl(capture().url))!.mimetype).toBeNull();
  });

  describe('latestByUrl', () => {
    const url = 'https://zenodo.org/records/1/files/data.csv';

    beforeEach(async () => {
      await index.add(capture({ url, datetime: '20230101000000', warcOffset: 10 }));
      await index.add(
        capture({
          url,
          datetime: '20240601000000',
          recordType: 'revisit',
          refersToUrl: url,
          refersToDatetime: '20230101000000',
          warcOffset: 20,
        }),
      );
      await index.add(capture({ url, datetime: '20240101000000', warcOffset: 30 }));
      await index.add(capture({ url, datetime: '20250101000000', statusCode: 404, warcOffset: 40 }));
      await index.add(
        capture({ url, datetime: '20260101000000', recordType: 'metadata', statusCode: null, warcOffset: 50 }),
      );
      await index.add(capture({ url: `${url}?download=1`, datetime: '20270101000000', warcOffset: 60 }));
      await index.add(
        capture({ url: 'https://zenodo.org/records/1/files/DATA.csv', datetime: '20270101000000', warcOffset: 70 }),
      );
    });

    it('returns the newest 2xx response or revisit of exactly this URL', async () => {
      expect(await index.latestByUrl(url)).toMatchObject({
        datetime: '20240601000000',
        recordType: 'revisit',
        warcOffset: 20,
      });
    });

    it('with anyStatus also returns failures, but never metadata records', async () => {
      expect(await index.latestByUrl(url, { anyStatus: true })).toMatchObject({
        datetime: '20250101000000',
        statusCode: 404,
      });
    });

    it('breaks a tie within one second by WARC position, latest written first', async () => {
      await index.add(capture({ url, datetime: '20240601000000', warcPath: WARC, warcOffset: 25 }));
      expect(await index.latestByUrl(url)).toMatchObject({ warcOffset: 25 });
    });

    it('returns null for a URL never captured', async () => {
      expect(await index.latestByUrl('https://zenodo.org/records/1/files/data.csv/')).toBeNull();
      expect(await index.latestByUrl('https://nowhere.example/')).toBeNull();
    });
  });

  describe('revisit lookups', () => {
    const original = capture({ url: 'https://a.example/file.bin', datetime: '20230101000000', warcOffset: 100 });
    const digest = original.payloadSha1b32;

    beforeEach(async () => {
      await index.add(
        capture({
          url: 'https://b.example/same.bin',
          payloadSha1b32: digest,
          datetime: '20240101000000',
          warcOffset: 200,
        }),
      );
      await index.add(original);
      await index.add(
        capture({
          url: 'https://c.example/copy.bin',
          payloadSha1b32: digest,
          sha1hex: original.sha1hex,
          md5hex: original.md5hex,
          datetime: '20250101000000',
          recordType: 'revisit',
          refersToUrl: original.url,
          refersToDatetime: original.datetime,
          warcOffset: 300,
        }),
      );
    });

    it('byPayloadDigest finds the earliest full response, never a revisit', async () => {
      expect(await index.byPayloadDigest(digest)).toMatchObject({
        url: original.url,
        recordType: 'response',
        warcOffset: 100,
      });
      await db.query("DELETE FROM capture WHERE record_type = 'response'");
      expect(await index.byPayloadDigest(digest)).toBeNull();
    });

    it('bySha1hex finds the latest 2xx capture of the decoded file, revisits included', async () => {
      await index.add(
        capture({
          url: 'https://d.example/gone.bin',
          sha1hex: original.sha1hex,
          statusCode: 410,
          datetime: '20260101000000',
        }),
      );
      expect(await index.bySha1hex(original.sha1hex!)).toMatchObject({
        url: 'https://c.example/copy.bin',
        recordType: 'revisit',
        refersToUrl: original.url,
        refersToDatetime: '20230101000000',
      });
      expect(await index.bySha1hex(hex('sha1', 'never seen'))).toBeNull();
    });

    it('byFileHash looks up md5 and sha256 the same way, in either case', async () => {
      expect(await index.byFileHash('md5', original.md5hex!.toUpperCase())).toMatchObject({
        url: 'https://c.example/copy.bin',
      });
      expect(await index.byFileHash('sha256', original.sha256hex!)).toMatchObject({
        url: 'https://a.example/file.bin',
      });
      expect(await index.byFileHash('sha1', original.sha1hex!)).toMatchObject({ url: 'https://c.example/copy.bin' });
      expect(await index.byFileHash('md5', hex('md5', 'never seen'))).toBeNull();
    });

    it('existingCopies gives what latestByUrl and byFileHash give, in that order, in one statement', async () => {
      const url = 'https://a.example/file.bin';
      const hashes = { sha1: original.sha1hex, sha256: original.sha256hex, md5: original.md5hex!.toUpperCase() };
      const expected = [
        await index.latestByUrl(url),
        await index.byFileHash('sha1', hashes.sha1!),
        await index.byFileHash('sha256', hashes.sha256!),
        await index.byFileHash('md5', hashes.md5),
      ];
      expect(expected.map((c) => c?.url)).toEqual([
        url,
        'https://c.example/copy.bin',
        url,
        'https://c.example/copy.bin',
      ]);
      expect(await index.existingCopies(url, hashes)).toEqual(expected);
      // A hash not given is not asked; a URL never captured gives only the hash lookups.
      expect(await index.existingCopies(url, { sha1: null })).toEqual([expected[0]]);
      expect(await index.existingCopies('https://nowhere.example/x', { md5: hashes.md5 })).toEqual([expected[3]]);
      expect(await index.existingCopies('https://nowhere.example/x', {})).toEqual([]);
    });

    it('existingCopiesOf gives each file what existingCopies gives it, in the order asked, in one statement', async () => {
      const url = 'https://a.example/file.bin';
      const asked = [
        { url: 'https://nowhere.example/x', hashes: {} },
        { url, hashes: { sha1: original.sha1hex, md5: original.md5hex } },
        { url: 'https://nowhere.example/y', hashes: { sha256: original.sha256hex } },
        { url, hashes: {} },
      ];
      const each = [];
      for (const file of asked) each.push(await index.existingCopies(file.url, file.hashes));
      expect(each.map((copies) => copies.length)).toEqual([0, 3, 1, 1]);
      expect(await index.existingCopiesOf(asked)).toEqual(each);
      expect(await index.existingCopiesOf([])).toEqual([]);
    });
  });

  describe('exportCdxj', () => {
    it('writes pywb CDXJ lines sorted by SURT then datetime', async () => {
      const rows = [
        capture({ url: 'https://zenodo.org/records/2', datetime: '20240102000000' }),
        capture({ url: 'https://www.example.com/b', datetime: '20240101000000' }),
        capture({ url: 'https://zenodo.org/records/2', datetime: '20230101000000' }),
        capture({ url: 'https://example.com/a?z=1&a=2', datetime: '20240101000000' }),
        capture({ url: 'https://example.com:8443/', datetime: '20240101000000' }),
        capture({ url: 'https://example.com/A', datetime: '20220101000000' }),
      ];
      for (const row of rows) await index.add(row);
      const { count, lines } = await exportLines(index);
      expect(count).toBe(6);
      expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
        'com,example)/a 20220101000000',
        'com,example)/a?a=2&z=1 20240101000000',
        'com,example)/b 20240101000000',
        'com,example:8443)/ 20240101000000',
        'org,zenodo)/records/2 20230101000000',
        'org,zenodo)/records/2 20240102000000',
      ]);
      // byte order, as pywb's binary search needs
      expect([...lines].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(lines);
    });

    it('formats each line as pywb indexes it: strings for numbers, bare digest, warc/revisit without status, unk', async () => {
      const response = capture({
        url: 'https://zenodo.org/records/3',
        datetime: '20240101120000',
        warcOffset: 4_500_000_000,
        warcCsize: 2048,
        mimetype: 'text/csv',
        payloadSha1b32: 'B2LTWWPUOYAH7UIPQ7ZUPQ4VMBSVC36A',
      });
      const revisit = capture({
        url: 'https://zenodo.org/records/3',
        datetime: '20240202000000',
        recordType: 'revisit',
        refersToUrl: response.url,
        refersToDatetime: response.datetime,
        payloadSha1b32: 'B2LTWWPUOYAH7UIPQ7ZUPQ4VMBSVC36A',
      });
      const metadata = capture({
        url: 'metadata://fileset-ingest/zenodo/3',
        datetime: '20240101120001',
        recordType: 'metadata',
        statusCode: null,
        mimetype: 'application/json',
      });
      const untyped = capture({ url: 'https://zenodo.org/records/4', datetime: '20240101120002', mimetype: null });
      for (const c of [response, revisit, metadata, untyped]) await index.add(c);
      const { lines } = await exportLines(index);
      expect(lines).toContain(
        'org,zenodo)/records/3 20240101120000 {"url":"https://zenodo.org/records/3","mime":"text/csv","status":"200",' +
          '"digest":"B2LTWWPUOYAH7UIPQ7ZUPQ4VMBSVC36A","length":"2048","offset":"4500000000",' +
          `"filename":"${WARC}"}`,
      );
      const byType = (datetime: string) =>
        JSON.parse(
          lines
            .find((l) => l.includes(` ${datetime} `))!
            .split(' ')
            .slice(2)
            .join(' '),
        );
      expect(byType('20240202000000')).toMatchObject({ mime: 'warc/revisit' });
      expect(byType('20240202000000')).not.toHaveProperty('status');
      expect(byType('20240101120001')).not.toHaveProperty('status');
      expect(byType('20240101120002')).toMatchObject({ mime: 'unk', status: '200' });
      expect(lines.every((l) => /^\S+ \d{14} \{.*\}$/.test(l))).toBe(true);
    });

    it('maps WARC paths to CDXJ filenames when asked', async () => {
      await index.add(capture({ warcPath: 'warcs/2024/x.warc.gz' }));
      const { lines } = await exportLines(index, { filename: (p) => p.split('/').pop()! });
      expect(JSON.parse(lines[0]!.split(' ').slice(2).join(' ')).filename).toBe('x.warc.gz');
    });

    it('pages through ties on (surt, datetime) without losing or repeating a line', async () => {
      const expected: string[] = [];
      for (let i = 0; i < 23; i += 1) {
        const c = capture({
          url: `https://example.org/${i % 3}`,
          datetime: `2024010100000${i % 2}`,
          warcPath: `W-${i % 4}.warc.gz`,
          warcOffset: 1000 + i,
        });
        await index.add(c);
        expected.push(cdxjLine({ ...c, surt: `org,example)/${i % 3}` }));
      }
      const { count, lines } = await exportLines(index, { batchSize: 5 });
      expect(count).toBe(23);
      expect(new Set(lines).size).toBe(23);
      expect([...lines].sort()).toEqual([...expected].sort());
    });

    it('writes nothing for an empty index', async () => {
      expect(await exportLines(index)).toEqual({ count: 0, lines: [] });
    });

    it('waits for a slow reader (backpressure) and still delivers every line', async () => {
      // 300 lines of ~1.2 kB in pages of 50: ~60 kB per page, 360 kB in all
      for (let i = 0; i < 300; i += 1)
        await index.add(capture({ url: `https://example.org/${'x'.repeat(1000)}/${i}`, warcOffset: 10_000 + i }));
      const received: string[] = [];
      let maxBuffered = 0;
      const slow = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, done) {
          maxBuffered = Math.max(maxBuffered, slow.writableLength);
          setTimeout(() => {
            received.push(chunk.toString('utf8'));
            done();
          }, 10);
        },
      });
      const count = await index.exportCdxj(slow, { batchSize: 50 });
      await new Promise<void>((resolve) => slow.end(resolve));
      expect(count).toBe(300);
      expect(received.join('').split('\n').filter(Boolean)).toHaveLength(300);
      // the export waited for 'drain' instead of queueing the whole output in the stream
      expect(maxBuffered).toBeLessThan(128 * 1024);
    });

    it('rejects when the output fails', async () => {
      await index.add(capture());
      const broken = new Writable({
        write(_chunk, _enc, done) {
          done(new Error('disk full'));
        },
      });
      broken.on('error', () => undefined);
      await expect(index.exportCdxj(broken)).rejects.toThrow('disk full');
    });
  });
});

describe('CaptureIndex queries at 200k rows (PostgreSQL EXPLAIN)', () => {
  const ROWS = 200_000;
  let database: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
    await migrate(db, silentLogger);
    const started = Date.now();
    // Loading 200k rows into five live btrees takes ~6 s; building the indexes afterwards from
    // their own definitions (exactly what the migration created) takes a fraction of that.
    const indexes = await db.query<{ name: string; def: string }>(
      "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'capture' AND indexname <> 'capture_pkey'",
    );
    expect(indexes.map((i) => i.name).sort()).toEqual([
      'capture_md5hex_datetime_idx',
      'capture_payload_datetime_idx',
      'capture_sha1hex_datetime_idx',
      'capture_sha256hex_datetime_idx',
      'capture_surt_datetime_idx',
      'capture_url_datetime_idx',
    ]);
    for (const { name } of indexes) await db.exec(`DROP INDEX ${name}`);
    // 50k URLs captured 4 times each, one response in 10 a revisit, one in 7 a 404; digests repeat
    // every 150k rows so some have two captures.
    await db.query(`
      INSERT INTO capture (warc_path, warc_offset, warc_csize, url, surt, datetime, record_type, status_code, mimetype,
                           payload_sha1b32, sha1hex, md5hex, sha256hex, size_bytes, refers_to_url, refers_to_datetime)
      SELECT 'FILESET-' || lpad((i / 10000)::text, 5, '0') || '.warc.gz', (i % 10000) * 2000, 1500,
             'https://example.org/file/' || (i % 50000), 'org,example)/file/' || (i % 50000),
             to_char(timestamp '2020-01-01' + i * interval '1 minute', 'YYYYMMDDHH24MISS'),
             CASE WHEN i % 10 = 0 THEN 'revisit' ELSE 'response' END,
             CASE WHEN i % 7 = 0 THEN 404 ELSE 200 END,
             'application/octet-stream',
             translate(upper(md5((i % 150000)::text)), '0189', 'WXYZ'),
             md5(i::text) || substr(md5((i + 1)::text), 1, 8), md5(i::text), md5(i::text) || md5((i + 2)::text), i,
             CASE WHEN i % 10 = 0 THEN 'https://example.org/original' END,
             CASE WHEN i % 10 = 0 THEN '20200101000000' END
      FROM generate_series(1, ${ROWS}) AS i`);
    for (const { def } of indexes) await db.exec(def);
    await db.exec('ANALYZE capture');
    console.info(`EXPLAIN fixture: ${ROWS} rows inserted and analyzed in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  const digestOf = (i: number) =>
    hex('md5', String(i % 150_000))
      .toUpperCase()
      .replace(/[0189]/g, (c) => ({ '0': 'W', '1': 'X', '8': 'Y', '9': 'Z' })[c]!);
  const sha1Of = (i: number) => hex('md5', String(i)) + hex('md5', String(i + 1)).slice(0, 8);

  interface PlanNode {
    'Node Type': string;
    'Index Name'?: string;
    'Index Cond'?: string;
    'Actual Loops'?: number;
    Plans?: PlanNode[];
  }

  function nodes(plan: PlanNode): PlanNode[] {
    return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
  }

  async function explain(sql: string, params: unknown[]): Promise<{ nodes: PlanNode[]; ms: number }> {
    const [row] = await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
      params,
    );
    const [result] = row!['QUERY PLAN'];
    return { nodes: nodes(result.Plan), ms: result['Execution Time'] };
  }

  it.each([
    ['latestByUrl', CAPTURE_SQL.latestByUrl, ['https://example.org/file/12345'], 'capture_url_datetime_idx'],
    [
      'latestByUrlAnyStatus',
      CAPTURE_SQL.latestByUrlAnyStatus,
      ['https://example.org/file/12345'],
      'capture_url_datetime_idx',
    ],
    ['byPayloadDigest', CAPTURE_SQL.byPayloadDigest, [digestOf(12345)], 'capture_payload_datetime_idx'],
    ['bySha1hex', CAPTURE_SQL.bySha1hex, [sha1Of(12345)], 'capture_sha1hex_datetime_idx'],
    ['byMd5hex', CAPTURE_SQL.byMd5hex, [hex('md5', '12345')], 'capture_md5hex_datetime_idx'],
    [
      'bySha256hex',
      CAPTURE_SQL.bySha256hex,
      [hex('md5', '12345') + hex('md5', '12347')],
      'capture_sha256hex_datetime_idx',
    ],
    ['exportFirst', CAPTURE_SQL.exportFirst, [5000], 'capture_surt_datetime_idx'],
    [
      'exportAfter',
      CAPTURE_SQL.exportAfter,
      ['org,example)/file/30000', '20200101000000', 'FILESET-00000.warc.gz', 0, 5000],
      'capture_surt_datetime_idx',
    ],
  ])('%s is an index scan on its index, with no sequential scan or full sort', async (name, sql, params, indexName) => {
    const { nodes: plan, ms } = await explain(sql, params);
    console.info(
      `EXPLAIN ${name}: ${plan.map((n) => n['Node Type'] + (n['Index Name'] ? ` ${n['Index Name']}` : '')).join(' > ')}; ${ms.toFixed(3)} ms`,
    );
    expect(plan.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    expect(plan.map((n) => n['Node Type'])).not.toContain('Sort');
    expect(plan.map((n) => n['Index Name'])).toContain(indexName);
  });

  it.each([1, 3])(
    'existingCopies of %i file(s) is four index scans per file, one on each of its indexes, with no sequential scan or sort',
    async (files) => {
      const ids = Array.from({ length: files }, (_, i) => 12345 + 10 * i);
      const { nodes: plan } = await explain(CAPTURE_SQL.existingCopies, [
        ids.map((id) => `https://example.org/file/${id}`),
        ids.map((id) => sha1Of(id)),
        ids.map((id) => hex('md5', String(id)) + hex('md5', String(id + 2))),
        ids.map((id) => hex('md5', String(id))),
      ]);
      const types = plan.map((n) => n['Node Type']);
      expect(types).not.toContain('Seq Scan');
      expect(types).not.toContain('Sort');
      // The lateral part is planned once and run per file: its four scans appear once.
      expect(
        plan
          .map((n) => n['Index Name'])
          .filter(Boolean)
          .sort(),
      ).toEqual([
        'capture_md5hex_datetime_idx',
        'capture_sha1hex_datetime_idx',
        'capture_sha256hex_datetime_idx',
        'capture_url_datetime_idx',
      ]);
      expect(plan.filter((n) => n['Index Name'] === 'capture_url_datetime_idx')[0]).toMatchObject({
        'Actual Loops': files,
      });
    },
  );

  it('starts each export page at its key inside the index (a condition, not a filter from the start)', async () => {
    const { nodes: plan } = await explain(CAPTURE_SQL.exportAfter, [
      'org,example)/file/30000',
      '20200101000000',
      'FILESET-00000.warc.gz',
      0,
      5000,
    ]);
    expect(plan.find((n) => n['Index Name'] === 'capture_surt_datetime_idx')?.['Index Cond']).toMatch(
      /^\(ROW\(surt, datetime, warc_path, warc_offset\) > ROW\(/,
    );
  });

  it('answers lookups in milliseconds and exports every row in order', async () => {
    const index = new CaptureIndex(db);
    let started = performance.now();
    const latest = await index.latestByUrl('https://example.org/file/12345');
    const original = await index.byPayloadDigest(digestOf(12345));
    const bySha1 = await index.bySha1hex(sha1Of(12345));
    const lookupMs = performance.now() - started;
    expect(latest).toMatchObject({ url: 'https://example.org/file/12345', statusCode: 200 });
    expect(original).toMatchObject({ recordType: 'response', payloadSha1b32: digestOf(12345) });
    expect(bySha1).toMatchObject({ sha1hex: sha1Of(12345) });

    started = performance.now();
    let lines = 0;
    let previous = '';
    let ordered = true;
    let rest = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        const parts = (rest + chunk.toString('utf8')).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          const key = line.slice(0, line.indexOf(' {'));
          if (key < previous) ordered = false;
          previous = key;
          lines += 1;
        }
        done();
      },
    });
    const count = await index.exportCdxj(sink);
    const exportMs = performance.now() - started;
    console.info(`3 lookups: ${lookupMs.toFixed(1)} ms; CDXJ export of ${count} lines: ${exportMs.toFixed(0)} ms`);
    expect(count).toBe(ROWS);
    expect(lines).toBe(ROWS);
    expect(ordered).toBe(true);
    expect(lookupMs).toBeLessThan(500);
  });
});
