// persistResults and `fileset-ingest persist` on the real PostgreSQL: results made by the real
// pipeline (a local Zenodo) and hand-built variants, row by row; replays, duplicates, refused rows.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as persistCommand } from '../../src/commands/persist.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { PERSIST_TABLES, persistResults, type PersistTable } from '../../src/db/persist.js';
import { TABLES } from '../../src/db/persist-rows.js';
import { InfrastructureError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import type { Cdx, FilesetResult } from '../../src/schemas/result.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { silentLogger, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime } from '../support/runtime.js';
import { recordFiles, serveZenodoRecord } from '../support/zenodo-site.js';

const opts = { logger: silentLogger };
const NOTHING = { ingest_request: 0, ingest_file_result: 0, ingest_fileset_platform: 0, cdx: 0, file_meta: 0 };
let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
  await migrate(db, silentLogger);
});

afterEach(() => db.exec('TRUNCATE ingest_request, ingest_file_result, ingest_fileset_platform, cdx, file_meta'));

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

describe('persistResults with results of the real pipeline', () => {
  const RECORD = '7078760';
  const KEYS = ['data2.csv', 'data.csv', 'datapackage.json'];
  let server: FixtureServer;

  beforeAll(async () => {
    server = await FixtureServer.start();
    serveZenodoRecord(server, 'zenodo_record_7078760.json', { files: recordFiles(RECORD, KEYS) });
  });
  afterAll(async () => server?.close());

  it('stores a web-fileset success and a platform-404 failure in every table they touch', async () => {
    const rt = await testRuntime(server.origin);
    let success: FilesetResult, failure: FilesetResult;
    try {
      const doi = `10.5281/zenodo.${RECORD}`;
      const request = {
        base_url: `https://doi.org/${doi}`,
        ingest_type: 'dataset',
        ext_ids: { doi },
        ingest_request_source: 'fatcat-changelog',
      };
      success = (await ingestFileset(request, rt.deps)).result;
      failure = (
        await ingestFileset(
          {
            base_url: 'https://zenodo.org/records/68358988',
            ingest_type: 'dataset',
            link_source: 'test',
            link_source_id: 'a',
          },
          rt.deps,
        )
      ).result;
    } finally {
      await rt.dispose();
    }
    expect([success.status, success.ingest_strategy, failure.status]).toEqual([
      'success',
      'web-fileset',
      'platform-404',
    ]);

    const outcome = await persistResults(db, [success, failure], opts);
    // file_meta: the three files and both landing pages (ingest_file_result.terminal_sha1hex joins them)
    const rows = { ingest_request: 2, ingest_file_result: 2, ingest_fileset_platform: 1, cdx: 2, file_meta: 5 };
    expect(outcome).toEqual({ results: 2, rows, rejected: [], skipped: {} });
    expect(await rowsIn(db, 'ingest_request')).toEqual([
      {
        link_source: 'doi',
        link_source_id: `10.5281/zenodo.${RECORD}`,
        ingest_type: 'dataset',
        base_url: `https://doi.org/10.5281/zenodo.${RECORD}`,
        ingest_request_source: 'fatcat-changelog',
        release_stage: null,
        request: { ext_ids: { doi: `10.5281/zenodo.${RECORD}` } },
      },
      {
        link_source: 'test',
        link_source_id: 'a',
        ingest_type: 'dataset',
        base_url: 'https://zenodo.org/records/68358988',
        ingest_request_source: null,
        release_stage: null,
        request: null,
      },
    ]);
    expect(await rowsIn(db, 'ingest_file_result')).toEqual([
      {
        ingest_type: 'dataset',
        base_url: `https://doi.org/10.5281/zenodo.${RECORD}`,
        hit: true,
        status: 'success',
        terminal_url: `https://zenodo.org/records/${RECORD}`,
        terminal_dt: success.terminal!.terminal_dt,
        terminal_status_code: 200,
        terminal_sha1hex: success.file_meta!.sha1hex,
      },
      {
        ingest_type: 'dataset',
        base_url: 'https://zenodo.org/records/68358988',
        hit: false,
        status: 'platform-404',
        terminal_url: 'https://zenodo.org/records/68358988',
        terminal_dt: failure.terminal!.terminal_dt,
        terminal_status_code: 404,
        terminal_sha1hex: failure.terminal!.terminal_sha1hex,
      },
    ]);
    expect(await rowsIn(db, 'ingest_fileset_platform')).toEqual([
      {
        ingest_type: 'dataset',
        base_url: `https://doi.org/10.5281/zenodo.${RECORD}`,
        hit: true,
        status: 'success',
        platform_name: 'zenodo',
        platform_domain: 'zenodo.org',
        platform_id: RECORD,
        ingest_strategy: 'web-fileset',
        total_size: 1768,
        file_count: 3,
        archiveorg_item_name: `zenodo.org-${RECORD}`,
        archiveorg_item_bundle_path: null,
        web_bundle_url: null,
        web_bundle_dt: null,
        manifest: success.manifest, // back from JSONB exactly as the result held it
      },
    ]);
    expect(await rowsIn(db, 'cdx')).toEqual(
      [success.cdx!, failure.cdx!]
        .sort((a, b) => (a.url < b.url ? -1 : 1))
        .map((c) => ({
          url: c.url,
          datetime: c.datetime,
          sha1hex: c.sha1hex,
          cdx_sha1hex: null,
          mimetype: c.mimetype,
          warc_path: c.warc_path,
          warc_csize: c.warc_csize,
          warc_offset: c.warc_offset,
        })),
    );
    // file_meta from the files' own bytes, not from what the pipeline said about them
    const bytes = recordFiles(RECORD, KEYS);
    const mimetypes = Object.fromEntries(success.manifest!.map((e) => [e.path, e.mimetype]));
    // the fixture server says application/octet-stream; the pipeline sniffs text
    expect(mimetypes).toEqual({
      'data2.csv': 'text/plain',
      'data.csv': 'text/plain',
      'datapackage.json': 'text/plain',
    });
    expect(await rowsIn(db, 'file_meta')).toEqual(
      [...KEYS.map((k) => fileMeta(bytes[k]!, mimetypes[k]!)), success.file_meta!, failure.file_meta!].sort((a, b) =>
        a.sha1hex < b.sha1hex ? -1 : 1,
      ),
    );
    const joined = await db.query<{ base_url: string }>(
      'SELECT r.base_url FROM ingest_file_result r JOIN file_meta m ON m.sha1hex = r.terminal_sha1hex ORDER BY 1',
    );
    expect(joined.map((r) => r.base_url)).toEqual([
      `https://doi.org/10.5281/zenodo.${RECORD}`,
      'https://zenodo.org/records/68358988',
    ]);
  });
});

describe('persistResults, rows of hand-built results', () => {
  it('stores a success-file: fileset_file gives the file_meta and the cdx rows, a revisit its original too', async () => {
    const result = singleFile('https://doi.org/10.1/one', 'one');
    const outcome = await persistResults(db, [result], opts);
    expect(outcome.rows).toEqual({
      ingest_request: 1,
      ingest_file_result: 1,
      ingest_fileset_platform: 1,
      cdx: 4,
      file_meta: 1,
    });
    expect(await rowsIn(db, 'file_meta')).toEqual([
      {
        sha1hex: hex('sha1', 'one'),
        sha256hex: hex('sha256', 'one'),
        md5hex: hex('md5', 'one'),
        size_bytes: 3,
        mimetype: 'text/csv',
      },
    ]);
    expect((await rowsIn(db, 'cdx')).map((r) => [r.url, r.datetime, r.mimetype])).toEqual([
      ['https://example.org/one', '20240101000000', 'text/html'],
      ['https://example.org/one', '20240101000001', 'warc/revisit'],
      ['https://files.example.org/one.csv', '20230101000000', 'text/csv'],
      ['https://files.example.org/one.csv', '20240101000002', 'warc/revisit'],
    ]);
    expect((await rowsIn(db, 'ingest_fileset_platform'))[0]).toMatchObject({
      status: 'success-file',
      ingest_strategy: 'web-file',
      file_count: 1,
    });
  });

  it('fills the bundle columns from fileset_bundle (web capture) and the item path (archiveorg)', async () => {
    await persistResults(
      db,
      [bundled('https://doi.org/10.1/web', 'web'), bundled('https://doi.org/10.1/ia', 'archiveorg')],
      opts,
    );
    expect(
      (await rowsIn(db, 'ingest_fileset_platform')).map((r) => [
        r.base_url,
        r.archiveorg_item_bundle_path,
        r.web_bundle_url,
        r.web_bundle_dt,
      ]),
    ).toEqual([
      ['https://doi.org/10.1/ia', 'zenodo.org-9/zenodo.org-9_bundle.zip', null, null],
      ['https://doi.org/10.1/web', null, 'https://zenodo.org/records/9/files.zip', '20240101000009'],
    ]);
    expect(await db.query('SELECT count(*)::int AS n FROM file_meta')).toEqual([{ n: 6 }]);
  });

  it('writes file_meta only for files archived or already held, with every hash', async () => {
    const result = dataset('https://doi.org/10.1/m', {
      status: 'mismatch-md5',
      hit: false,
      manifest: [
        {
          path: 'ok.csv',
          size: 2,
          md5: hex('md5', 'ok'),
          sha1: hex('sha1', 'ok'),
          sha256: hex('sha256', 'ok'),
          mimetype: 'text/csv',
          status: 'success',
        },
        {
          path: 'bad.csv',
          size: 3,
          md5: hex('md5', 'bad'),
          sha1: hex('sha1', 'bad'),
          sha256: hex('sha256', 'bad'),
          mimetype: 'text/csv',
          status: 'mismatch-md5',
        },
        { path: 'nosha.csv', size: 5, md5: hex('md5', 'nosha'), mimetype: 'text/csv', status: 'exists' },
      ],
    });
    await persistResults(db, [result], opts);
    expect((await rowsIn(db, 'file_meta')).map((r) => r.sha1hex)).toEqual([hex('sha1', 'ok')]);
  });

  it('keys ingest_request as sandcrawler does: DOI and Save Paper Now defaults, optional fields in request', async () => {
    const outcome = await persistResults(
      db,
      [
        dataset('https://doi.org/10.1/Doi', {
          request: {
            base_url: 'https://doi.org/10.1/Doi',
            ext_ids: { doi: '10.1/Doi' },
            release_stage: '',
            rel: 'repository',
          },
        }),
        dataset('https://example.org/spn', {
          request: {
            base_url: 'https://example.org/spn',
            ingest_type: 'dataset',
            ingest_request_source: 'savepapernow-web',
            fatcat: { release_ident: 'r'.repeat(26) },
            edit_extra: { a: 1 },
            ext_ids: {},
          },
        }),
        dataset('https://example.org/nokey', {
          request: { base_url: 'https://example.org/nokey', ingest_type: 'dataset', link_source: 'doi' },
        }),
      ],
      opts,
    );
    expect(outcome.skipped).toEqual({ 'no-link-source': 1 });
    expect(outcome.rows.ingest_file_result).toBe(3);
    expect(await rowsIn(db, 'ingest_request')).toEqual([
      {
        link_source: 'doi',
        link_source_id: '10.1/Doi',
        ingest_type: 'dataset',
        base_url: 'https://doi.org/10.1/Doi',
        ingest_request_source: null,
        release_stage: null,
        request: { ext_ids: { doi: '10.1/Doi' }, rel: 'repository' },
      },
      {
        link_source: 'spn',
        link_source_id: 'r'.repeat(26),
        ingest_type: 'dataset',
        base_url: 'https://example.org/spn',
        ingest_request_source: 'savepapernow-web',
        release_stage: null,
        request: { release_ident: 'r'.repeat(26), edit_extra: { a: 1 } },
      },
    ]);
  });

  it('skips dataset-file, skip-ingest-type and keyless bad-request results, and rejects what is not a fileset result', async () => {
    const fileResult = {
      hit: true,
      status: 'success',
      request: { base_url: 'https://doi.org/10.1/one', ingest_type: 'dataset-file' },
      file_meta: null,
    };
    const badRequest = {
      hit: false,
      status: 'bad-request',
      request: { value: 5 },
      error_message: 'request: expected object',
    };
    const wrong = {
      ...dataset('https://doi.org/10.1/w'),
      cdx: { ...cdx('https://example.org/w', 'x'), datetime: '2024010100000' },
    };
    const otherType = {
      hit: false,
      status: 'skip-ingest-type',
      request: {
        base_url: 'https://example.org/paper.pdf',
        ingest_type: 'pdf',
        link_source: 'doi',
        link_source_id: 'p',
      },
      error_message: 'ingest_type "pdf" is not a fileset type (dataset)',
    };
    const outcome = await persistResults(db, [fileResult, badRequest, wrong, 'not an object', otherType], opts);
    expect(outcome).toEqual({
      results: 1,
      rows: NOTHING,
      rejected: [
        {
          table: 'result',
          key: { ingest_type: 'dataset', base_url: 'https://doi.org/10.1/w' },
          error: 'cdx.datetime: Invalid string: must match pattern /^\\d{14}$/',
        },
        {
          table: 'result',
          key: { ingest_type: null, base_url: null },
          error: 'result: Invalid input: expected object, received string',
        },
      ],
      skipped: { 'dataset-file': 1, 'no-base-url': 1, 'skip-ingest-type': 1 },
    });
  });
});

describe('persistResults, idempotence and conflicts', () => {
  const batch = () => [
    singleFile('https://doi.org/10.1/a', 'a'),
    dataset('https://doi.org/10.1/b'),
    bundled('https://doi.org/10.1/c', 'web'),
  ];

  async function versions(): Promise<unknown[]> {
    const tables = ['ingest_request', 'ingest_file_result', 'ingest_fileset_platform', 'cdx', 'file_meta'];
    return Promise.all(
      tables.map((t) =>
        db.query(`SELECT xmin::text AS xmin, to_jsonb(t) AS row FROM ${t} t ORDER BY xmin::text, to_jsonb(t)::text`),
      ),
    );
  }

  it('changes nothing when a batch is replayed: no row written, no row version or timestamp changed', async () => {
    const first = await persistResults(db, batch(), opts);
    expect(first.rows).toEqual({
      ingest_request: 3,
      ingest_file_result: 3,
      ingest_fileset_platform: 3,
      cdx: 7,
      file_meta: 4,
    });
    const before = await versions();
    const replay = await persistResults(db, batch(), opts);
    expect(replay).toEqual({ results: 3, rows: NOTHING, rejected: [], skipped: {} });
    expect(await versions()).toEqual(before);
  });

  it('takes a later result for the same URL, and the last of duplicates within one batch', async () => {
    await persistResults(db, [dataset('https://doi.org/10.1/d', { status: 'platform-404', hit: false })], opts);
    const [{ updated: before } = { updated: null }] = await db.query<{ updated: Date }>(
      'SELECT updated FROM ingest_file_result',
    );
    const outcome = await persistResults(
      db,
      [
        dataset('https://doi.org/10.1/d', { status: 'network-error', hit: false }),
        singleFile('https://doi.org/10.1/e', 'same'),
        dataset('https://doi.org/10.1/d', { status: 'success' }),
        singleFile('https://doi.org/10.1/f', 'same'),
      ],
      opts,
    );
    expect(outcome.rows).toEqual({
      ingest_request: 2,
      ingest_file_result: 3,
      ingest_fileset_platform: 3,
      cdx: 6,
      file_meta: 1,
    });
    const results = await db.query<{ base_url: string; status: string; updated: Date }>(
      'SELECT base_url, status, updated FROM ingest_file_result ORDER BY base_url',
    );
    expect(results.map((r) => [r.base_url, r.status])).toEqual([
      ['https://doi.org/10.1/d', 'success'],
      ['https://doi.org/10.1/e', 'success-file'],
      ['https://doi.org/10.1/f', 'success-file'],
    ]);
    expect(results[0]!.updated.getTime()).toBeGreaterThan(before!.getTime());
  });

  it('refuses a result whole (no row in any table) when any of its rows breaks a rule, and lands the rest of the batch', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const logged: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (logged.push(chunk.toString()), cb()) });
    const logger = createLogger('info', sink as unknown as Parameters<typeof createLogger>[1]);
    const good = singleFile('https://doi.org/10.1/good', 'good');
    const entry = good.manifest![0]!;
    // Each bad result would fill several tables; one value in one of them is wrong.
    const bad: Array<[FilesetResult, string, RegExp]> = [
      [singleFile('https://doi.org/10.1/sha1', 'x'), 'file_meta', /sha1hex: "NOT-HEX" is not 40 lowercase hex/],
      [dataset('https://doi.org/10.1/nul-id', { platform_id: '9\0' }), 'ingest_fileset_platform', /platform_id: .*NUL/],
      [dataset(''), 'ingest_request', /: empty/],
      [
        dataset('https://doi.org/10.1/cdx', { cdx: { ...cdx('https://example.org/c', 'c'), sha1hex: 'B'.repeat(40) } }),
        'cdx',
        /sha1hex: "B+" is not 40 lowercase hex/,
      ],
      [
        dataset('https://doi.org/10.1/term', { terminal: { ...good.terminal!, terminal_sha1hex: 'abc' } }),
        'ingest_file_result',
        /terminal_sha1hex/,
      ],
      [
        dataset('https://doi.org/10.1/code', { terminal: { ...good.terminal!, terminal_status_code: 2 ** 40 } }),
        'ingest_file_result',
        /terminal_status_code: 1099511627776 is out of range/,
      ],
      [
        dataset('https://doi.org/10.1/path', { manifest: [{ ...entry, path: 'a\0b' }] }),
        'ingest_fileset_platform',
        /manifest: contains a NUL/,
      ],
      [
        dataset('https://doi.org/10.1/surrogate', { manifest: [{ ...entry, extra: { note: 'x\ud800y' } }] }),
        'ingest_fileset_platform',
        /manifest: contains a lone surrogate/,
      ],
      [
        dataset('https://doi.org/10.1/md5', { manifest: [{ ...entry, md5: entry.md5!.toUpperCase() }] }),
        'file_meta',
        /md5hex: "[0-9A-F]+" is not 32 lowercase hex/,
      ],
      [
        dataset(`https://example.org/${randomBytes(4000).toString('hex')}`, { cdx: null }),
        'ingest_request',
        /indexed columns hold \d+ bytes, more than an index entry can \(2600\)/,
      ],
    ];
    // file_meta sha1 wrong in the manifest (the file result's own file_meta stays right)
    bad[0]![0].manifest = [{ ...bad[0]![0].manifest![0]!, sha1: 'NOT-HEX' }];
    delete bad[0]![0].fileset_file;

    const outcome = await persistResults(db, [...bad.map(([r]) => r), good], { logger, metrics });
    expect(outcome.rejected).toEqual(
      bad.map(([result, table, error]) => ({
        table,
        key: { ingest_type: 'dataset', base_url: (result.request.base_url as string).slice(0, 1024) },
        error: expect.stringMatching(error),
      })),
    );
    // Only the good result's rows, in every table.
    expect((await rowsIn(db, 'ingest_request')).map((r) => r.base_url)).toEqual(['https://doi.org/10.1/good']);
    expect((await rowsIn(db, 'ingest_file_result')).map((r) => r.base_url)).toEqual(['https://doi.org/10.1/good']);
    expect((await rowsIn(db, 'ingest_fileset_platform')).map((r) => r.base_url)).toEqual(['https://doi.org/10.1/good']);
    expect((await rowsIn(db, 'cdx')).map((r) => `${r.url as string} ${r.datetime as string}`).sort()).toEqual(
      [good.cdx!, good.revisit_cdx!, good.fileset_file!.cdx!, good.fileset_file!.revisit_cdx!]
        .map((c) => `${c.url} ${c.datetime}`)
        .sort(),
    );
    expect((await rowsIn(db, 'file_meta')).map((r) => r.sha1hex)).toEqual([entry.sha1]);
    // Counted, and logged once each at warn with the key and the reason, without a stack.
    const rejectedTotal = (await metrics.persistRejected.get()).values.reduce((sum, v) => sum + v.value, 0);
    expect(rejectedTotal).toBe(bad.length);
    const warnings = logged.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(bad.length);
    for (const warning of warnings) {
      expect(warning).toMatchObject({ msg: 'result not persisted', key: { base_url: expect.any(String) } });
      expect(JSON.stringify(warning)).not.toMatch(/stack|\s+at /);
    }
  });

  it('rolls back a result whole when the database refuses a row no check foresaw, keeping the rest', async () => {
    await db.exec(`ALTER TABLE cdx ADD CONSTRAINT test_no_evil CHECK (url NOT LIKE '%evil%')`);
    try {
      const evil = dataset('https://doi.org/10.1/evil', { cdx: cdx('https://example.org/evil', 'e') });
      const outcome = await persistResults(
        db,
        [dataset('https://doi.org/10.1/a'), evil, dataset('https://doi.org/10.1/b')],
        opts,
      );
      expect(outcome.rejected).toEqual([
        {
          table: 'cdx',
          key: { ingest_type: 'dataset', base_url: 'https://doi.org/10.1/evil' },
          error: expect.stringMatching(/constraint test_no_evil; SQLSTATE 23514$/),
        },
      ]);
      expect(outcome.rows).toEqual({
        ingest_request: 2,
        ingest_file_result: 2,
        ingest_fileset_platform: 2,
        cdx: 2,
        file_meta: 0,
      });
      for (const table of ['ingest_request', 'ingest_file_result', 'ingest_fileset_platform'] as const)
        expect((await rowsIn(db, table)).map((r) => r.base_url)).toEqual([
          'https://doi.org/10.1/a',
          'https://doi.org/10.1/b',
        ]);
    } finally {
      await db.exec('ALTER TABLE cdx DROP CONSTRAINT test_no_evil');
    }
  });

  it('throws InfrastructureError when the connection is lost mid-batch, and the tables it wrote before stay empty', async () => {
    // The cdx statement (the fourth table) kills its own connection: the first three were written
    // in the same transaction, which must vanish with it.
    await db.exec(`CREATE FUNCTION lose_connection() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); RETURN NULL; END $$;
      CREATE TRIGGER lose_connection BEFORE INSERT ON cdx FOR EACH STATEMENT EXECUTE FUNCTION lose_connection();`);
    try {
      await expect(persistResults(db, [dataset('https://doi.org/10.1/x')], opts)).rejects.toBeInstanceOf(
        InfrastructureError,
      );
    } finally {
      await db.exec('DROP TRIGGER lose_connection ON cdx; DROP FUNCTION lose_connection();');
    }
    const counts =
      await db.query(`SELECT (SELECT count(*) FROM ingest_request) AS r, (SELECT count(*) FROM ingest_file_result) AS f,
      (SELECT count(*) FROM ingest_fileset_platform) AS p`);
    expect(counts).toEqual([{ r: 0, f: 0, p: 0 }]);
    // the same batch again, once the database is back, goes through whole
    expect((await persistResults(db, [dataset('https://doi.org/10.1/x')], opts)).rows).toEqual({
      ingest_request: 1,
      ingest_file_result: 1,
      ingest_fileset_platform: 1,
      cdx: 1,
      file_meta: 0,
    });
  });
});

describe('persistResults on the embedded PGlite', () => {
  it('writes the same rows as on PostgreSQL', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fileset-persist-'));
    const embedded = await openDatabase({ dataDir, databaseUrl: undefined }, silentLogger);
    try {
      await migrate(embedded, silentLogger);
      const results = [singleFile('https://doi.org/10.1/a', 'a'), bundled('https://doi.org/10.1/c', 'web')];
      expect(await persistResults(embedded, results, opts)).toEqual(await persistResults(db, results, opts));
      for (const table of PERSIST_TABLES) expect(await rowsIn(embedded, table)).toEqual(await rowsIn(db, table));
      expect((await persistResults(embedded, results, opts)).rows).toEqual(NOTHING);
    } finally {
      await embedded.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('fileset-ingest persist', () => {
  const config = () =>
    testConfig('http://127.0.0.1:1', { FILESET_DATABASE_URL: database.url, FILESET_PERSIST_BATCH_SIZE: '2' });

  async function persistLines(text: string, args: string[] = []) {
    const output = new PassThrough();
    const stdout: Buffer[] = [];
    output.on('data', (d: Buffer) => stdout.push(d));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await persistCommand(config(), silentLogger, args, { input: Readable.from([text]), output });
      return {
        code,
        summary: JSON.parse(Buffer.concat(stdout).toString()) as Record<string, unknown>,
        stderr: stderr.mock.calls.map((c) => String(c[0])),
      };
    } finally {
      stderr.mockRestore();
    }
  }

  it('persists JSON lines in batches, skipping dataset-file lines and reporting lines that are not JSON', async () => {
    const lines = [
      JSON.stringify({
        hit: true,
        status: 'success',
        request: { base_url: 'https://doi.org/10.1/a', ingest_type: 'dataset-file' },
      }),
      JSON.stringify(singleFile('https://doi.org/10.1/a', 'a')),
      '',
      '{"truncated": ',
      JSON.stringify(dataset('https://doi.org/10.1/b')),
      JSON.stringify(blank('https://doi.org/10.1/c')),
    ];
    const { code, summary, stderr } = await persistLines(`${lines.join('\n')}\n`);
    expect(code).toBe(1);
    expect(summary).toEqual({
      results: 3,
      rows: { ingest_request: 3, ingest_file_result: 3, ingest_fileset_platform: 2, cdx: 6, file_meta: 1 },
      rejected: [],
      skipped: { 'dataset-file': 1, 'not-json': 1 },
    });
    expect(stderr).toEqual([expect.stringMatching(/^line 4: not JSON \(.+\), skipped\n$/)]);
    const again = await persistLines(`${lines.filter((l) => l !== '{"truncated": ').join('\n')}\n`);
    expect(again.code).toBe(0);
    expect(again.summary.rows).toEqual(NOTHING);
  });

  it('runs as `fileset-ingest persist FILE` (the built CLI): exit 1 listing the refused rows, exit 2 on bad usage', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileset-persist-'));
    try {
      const path = join(dir, 'results.jsonl');
      await writeFile(
        path,
        `${JSON.stringify(dataset('https://doi.org/10.1/ok'))}\n${JSON.stringify(dataset('', { cdx: null }))}\n`,
      );
      const env = { FILESET_DATABASE_URL: database.url, FILESET_DATA_DIR: dir, FILESET_LOG_LEVEL: 'silent' };
      const cli = await runCli(['persist', path], env);
      expect(cli.code).toBe(1);
      const summary = JSON.parse(cli.stdout) as {
        results: number;
        rows: unknown;
        rejected: Array<{ table: string; key: unknown }>;
      };
      expect(summary.results).toBe(2);
      expect(summary.rows).toEqual({
        ingest_request: 1,
        ingest_file_result: 1,
        ingest_fileset_platform: 1,
        cdx: 1,
        file_meta: 0,
      });
      expect(summary.rejected.map((r) => [r.table, r.key])).toEqual([
        ['ingest_request', { ingest_type: 'dataset', base_url: '' }],
      ]);
      expect((await runCli(['persist', path, path], env)).code).toBe(2);
      const missing = await runCli(['persist', join(dir, 'missing')], env);
      expect([missing.code, missing.stderr]).toEqual([
        2,
        expect.stringContaining(`cannot read ${join(dir, 'missing')}`),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---- hand-built results: every hash is the real hash of a short text, so rows can be predicted ----

const hex = (alg: 'md5' | 'sha1' | 'sha256', text: string | Buffer): string =>
  createHash(alg).update(text).digest('hex');
const fileMeta = (bytes: string | Buffer, mimetype: string) => ({
  sha1hex: hex('sha1', bytes),
  sha256hex: hex('sha256', bytes),
  md5hex: hex('md5', bytes),
  size_bytes: Buffer.byteLength(bytes),
  mimetype,
});
const landingOf = (base: string): string => `https://example.org/${base.split('/').pop()}`;

function cdx(url: string, seed: string, datetime = '20240101000000', mimetype = 'text/html'): Cdx {
  return {
    surt: url,
    datetime,
    url,
    mimetype,
    status_code: 200,
    sha1b32: 'A'.repeat(32),
    sha1hex: hex('sha1', seed),
    warc_path: 'FILESET-test.warc.gz',
    warc_offset: 10,
    warc_csize: 20,
  };
}

/** A web-fileset success on zenodo with an empty manifest; `overrides` replace whole fields. */
function dataset(base: string, overrides: Partial<FilesetResult> = {}): FilesetResult {
  const landing = landingOf(base);
  return {
    hit: true,
    status: 'success',
    request: { base_url: base, ingest_type: 'dataset', link_source: 'test', link_source_id: base },
    terminal: {
      terminal_url: landing,
      terminal_dt: '20240101000000',
      terminal_status_code: 200,
      terminal_sha1hex: hex('sha1', landing),
    },
    cdx: cdx(landing, landing),
    platform_name: 'zenodo',
    platform_domain: 'zenodo.org',
    platform_id: '9',
    archiveorg_item_name: 'zenodo.org-9',
    ingest_strategy: 'web-fileset',
    file_count: 0,
    total_size: 0,
    manifest: [],
    ...overrides,
  };
}

/** No platform recognised: only ingest_request, ingest_file_result and the landing cdx. */
function blank(base: string): FilesetResult {
  const { request, terminal, cdx: landing } = dataset(base);
  return {
    hit: false,
    status: 'no-platform-match',
    request,
    terminal,
    cdx: landing,
    error_message: 'no platform helper recognises it',
  };
}

/** A web-file success-file whose landing page and file were both revisits of earlier captures. */
function singleFile(base: string, content: string): FilesetResult {
  const landing = landingOf(base);
  const file = `https://files.example.org/${content}.csv`;
  const meta = fileMeta(content, 'text/csv');
  return dataset(base, {
    status: 'success-file',
    ingest_strategy: 'web-file',
    file_count: 1,
    total_size: meta.size_bytes,
    cdx: cdx(landing, landing, '20240101000001', 'warc/revisit'),
    revisit_cdx: cdx(landing, landing),
    manifest: [
      {
        path: `${content}.csv`,
        size: meta.size_bytes,
        md5: meta.md5hex,
        sha1: meta.sha1hex,
        sha256: meta.sha256hex,
        mimetype: 'text/csv',
        status: 'success',
      },
    ],
    fileset_file: {
      file_meta: meta,
      terminal: {
        terminal_url: file,
        terminal_dt: '20240101000002',
        terminal_status_code: 200,
        terminal_sha1hex: meta.sha1hex,
      },
      cdx: cdx(file, content, '20240101000002', 'warc/revisit'),
      revisit_cdx: cdx(file, content, '20230101000000', 'text/csv'),
    },
  });
}

/** A bundled success: the bundle captured from the web, or stored in the archive.org item. */
function bundled(base: string, kind: 'web' | 'archiveorg'): FilesetResult {
  const entries = [1, 2].map((n) => fileMeta(`${kind}-${n}`, 'text/plain'));
  const zip = fileMeta(`${kind}.zip`, 'application/zip');
  const url = 'https://zenodo.org/records/9/files.zip';
  return dataset(base, {
    ingest_strategy: `${kind}-fileset-bundled`,
    file_count: 2,
    total_size: entries.reduce((sum, e) => sum + e.size_bytes, 0),
    manifest: entries.map((e, i) => ({
      path: `f${i}.txt`,
      size: e.size_bytes,
      md5: e.md5hex,
      sha1: e.sha1hex,
      sha256: e.sha256hex,
      mimetype: e.mimetype,
      status: 'success',
    })),
    fileset_bundle: {
      file_meta: zip,
      terminal: {
        terminal_url: url,
        terminal_dt: '20240101000009',
        terminal_status_code: 200,
        terminal_sha1hex: zip.sha1hex,
      },
      cdx: kind === 'web' ? cdx(url, `${kind}.zip`, '20240101000009', 'application/zip') : null,
      revisit_cdx: null,
      archiveorg_bundle_path: kind === 'archiveorg' ? 'zenodo.org-9/zenodo.org-9_bundle.zip' : null,
    },
  });
}

/** A table's rows (without the timestamps the database sets), in primary key order. */
async function rowsIn(on: Database, table: PersistTable): Promise<Array<Record<string, unknown>>> {
  const spec = TABLES[table];
  const order = spec.key.map((k) => `${k} COLLATE "C"`).join(', ');
  const extra = table === 'cdx' ? ', cdx_sha1hex' : '';
  return on.query(`SELECT ${spec.columns.map(([c]) => c).join(', ')}${extra} FROM ${table} ORDER BY ${order}`);
}
