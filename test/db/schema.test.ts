// The sandcrawler tables (sql/002_sandcrawler_tables.sql) on the real PostgreSQL: they apply, and
// apply again, cleanly; their columns and keys are sandcrawler's; every check refuses a bad row.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate, sqlDirectory } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { silentLogger } from '../support/context.js';

const SHA1 = 'a'.repeat(40);
const GOOD: Record<string, Record<string, unknown>> = {
  ingest_request: {
    link_source: 'doi',
    link_source_id: '10.5281/zenodo.1',
    ingest_type: 'dataset',
    base_url: 'https://doi.org/10.5281/zenodo.1',
    ingest_request_source: 'fatcat-changelog',
    release_stage: 'published',
    request: '{"ext_ids":{"doi":"10.5281/zenodo.1"}}',
  },
  ingest_file_result: {
    ingest_type: 'dataset',
    base_url: 'https://doi.org/10.5281/zenodo.1',
    hit: true,
    status: 'success',
    terminal_url: 'https://zenodo.org/records/1',
    terminal_dt: '20240102030405',
    terminal_status_code: 200,
    terminal_sha1hex: SHA1,
  },
  ingest_fileset_platform: {
    ingest_type: 'dataset',
    base_url: 'https://doi.org/10.5281/zenodo.1',
    hit: true,
    status: 'success',
    platform_name: 'zenodo',
    platform_domain: 'zenodo.org',
    platform_id: '1',
    ingest_strategy: 'web-fileset-bundled',
    total_size: 10,
    file_count: 2,
    archiveorg_item_name: 'zenodo.org-1',
    archiveorg_item_bundle_path: 'zenodo.org-1/files.zip',
    web_bundle_url: 'https://zenodo.org/records/1/files.zip',
    web_bundle_dt: '20240102030406',
    manifest: '[]',
  },
  cdx: {
    url: 'https://zenodo.org/records/1',
    datetime: '20240102030405',
    sha1hex: SHA1,
    cdx_sha1hex: 'b'.repeat(40),
    mimetype: 'text/html',
    warc_path: 'FILESET-1.warc.gz',
    warc_csize: 100,
    warc_offset: 0,
  },
  file_meta: { sha1hex: SHA1, sha256hex: 'c'.repeat(64), md5hex: 'd'.repeat(32), size_bytes: 10, mimetype: 'text/csv' },
};

/** [table, column, bad value, constraint it breaks]; CHECK violations unless the name ends in _not_null. */
const BAD: Array<[string, string, unknown, string]> = [
  ...['link_source', 'link_source_id', 'ingest_type', 'base_url', 'ingest_request_source', 'release_stage'].map(
    (c): [string, string, unknown, string] => ['ingest_request', c, '', `ingest_request_${c}_check`],
  ),
  ['ingest_request', 'request', '[]', 'ingest_request_request_check'],
  ...['ingest_type', 'base_url', 'status', 'terminal_url'].map((c): [string, string, unknown, string] => [
    'ingest_file_result',
    c,
    '',
    `ingest_file_result_${c}_check`,
  ]),
  ['ingest_file_result', 'terminal_dt', '2024010203040', 'ingest_file_result_terminal_dt_check'],
  ['ingest_file_result', 'terminal_dt', '2024-01-02T03:', 'ingest_file_result_terminal_dt_check'],
  ['ingest_file_result', 'terminal_sha1hex', 'A'.repeat(40), 'ingest_file_result_terminal_sha1hex_check'],
  ['ingest_file_result', 'terminal_sha1hex', 'a'.repeat(39), 'ingest_file_result_terminal_sha1hex_check'],
  ...[
    'ingest_type',
    'base_url',
    'status',
    'platform_name',
    'platform_domain',
    'platform_id',
    'ingest_strategy',
    'archiveorg_item_name',
    'archiveorg_item_bundle_path',
    'web_bundle_url',
  ].map((c): [string, string, unknown, string] => [
    'ingest_fileset_platform',
    c,
    '',
    `ingest_fileset_platform_${c}_check`,
  ]),
  ['ingest_fileset_platform', 'total_size', -1, 'ingest_fileset_platform_total_size_check'],
  ['ingest_fileset_platform', 'file_count', -1, 'ingest_fileset_platform_file_count_check'],
  ['ingest_fileset_platform', 'web_bundle_dt', '202401020304060', 'ingest_fileset_platform_web_bundle_dt_check'],
  ['ingest_fileset_platform', 'manifest', '{}', 'ingest_fileset_platform_manifest_check'],
  ['cdx', 'url', '', 'cdx_url_check'],
  ['cdx', 'datetime', '2024010203040', 'cdx_datetime_check'],
  ['cdx', 'datetime', '2024010203040x', 'cdx_datetime_check'],
  ['cdx', 'sha1hex', 'g'.repeat(40), 'cdx_sha1hex_check'],
  ['cdx', 'cdx_sha1hex', 'b'.repeat(41), 'cdx_cdx_sha1hex_check'],
  ['cdx', 'mimetype', '', 'cdx_mimetype_check'],
  ['cdx', 'warc_path', '', 'cdx_warc_path_check'],
  ['cdx', 'warc_csize', 0, 'cdx_warc_csize_check'],
  ['cdx', 'warc_offset', -1, 'cdx_warc_offset_check'],
  ['file_meta', 'sha1hex', 'a'.repeat(32), 'file_meta_sha1hex_check'],
  ['file_meta', 'sha256hex', 'C'.repeat(64), 'file_meta_sha256hex_check'],
  ['file_meta', 'md5hex', 'd'.repeat(40), 'file_meta_md5hex_check'],
  ['file_meta', 'size_bytes', -1, 'file_meta_size_bytes_check'],
  ['file_meta', 'mimetype', '', 'file_meta_mimetype_check'],
];

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
});

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

/** Inserts one row (column → value) and rolls it back, so every case starts from empty tables. */
async function tryInsert(table: string, row: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(row);
  await db
    .transaction(async (tx) => {
      await tx.query(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
        Object.values(row),
      );
      throw new RolledBack();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RolledBack)) throw err;
    });
}
class RolledBack extends Error {}

describe('002_sandcrawler_tables', () => {
  it('applies after 001 (003 and 004 after it), a second migrate applies nothing, and running the files again changes nothing', async () => {
    expect(await migrate(db, silentLogger)).toEqual([
      '001_capture_index',
      '002_sandcrawler_tables',
      '003_capture_record_ids',
      '004_request_budgets',
    ]);
    expect(await migrate(db, silentLogger)).toEqual([]);
    const before = await db.query(
      "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname",
    );
    for (const file of ['002_sandcrawler_tables.sql', '003_capture_record_ids.sql', '004_request_budgets.sql']) {
      await db.exec(await readFile(join(sqlDirectory(), file), 'utf8'));
    }
    expect(
      await db.query("SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname"),
    ).toEqual(before);
  });

  it("has sandcrawler's columns, types and primary keys", async () => {
    const columns = await db.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
      `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_name = 'ingest_fileset_platform' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => [c.column_name, c.data_type, c.is_nullable])).toEqual([
      ['ingest_type', 'text', 'NO'],
      ['base_url', 'text', 'NO'],
      ['updated', 'timestamp with time zone', 'NO'],
      ['hit', 'boolean', 'NO'],
      ['status', 'text', 'YES'],
      ['platform_name', 'text', 'NO'],
      ['platform_domain', 'text', 'NO'],
      ['platform_id', 'text', 'NO'],
      ['ingest_strategy', 'text', 'YES'],
      ['total_size', 'bigint', 'YES'],
      ['file_count', 'bigint', 'YES'],
      ['archiveorg_item_name', 'text', 'YES'],
      ['archiveorg_item_bundle_path', 'text', 'YES'],
      ['web_bundle_url', 'text', 'YES'],
      ['web_bundle_dt', 'text', 'YES'],
      ['manifest', 'jsonb', 'YES'],
    ]);
    const keys = await db.query<{ table: string; key: string }>(
      `SELECT c.conrelid::regclass::text COLLATE "C" AS table, pg_get_constraintdef(c.oid) AS key FROM pg_constraint c
       WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace ORDER BY 1`,
    );
    expect(keys.filter((k) => k.table !== 'schema_migrations' && !k.table.startsWith('fileset_budget'))).toEqual([
      { table: 'capture', key: 'PRIMARY KEY (warc_path, warc_offset)' },
      { table: 'cdx', key: 'PRIMARY KEY (url, datetime)' },
      { table: 'file_meta', key: 'PRIMARY KEY (sha1hex)' },
      { table: 'ingest_file_result', key: 'PRIMARY KEY (ingest_type, base_url)' },
      { table: 'ingest_fileset_platform', key: 'PRIMARY KEY (ingest_type, base_url)' },
      { table: 'ingest_request', key: 'PRIMARY KEY (link_source, link_source_id, ingest_type, base_url)' },
    ]);
  });

  it('takes a good row in every table', async () => {
    for (const [table, row] of Object.entries(GOOD)) await tryInsert(table, row);
  });

  it.each(BAD)('%s refuses %s = %j (%s)', async (table, column, value, constraint) => {
    await expect(tryInsert(table, { ...GOOD[table], [column]: value })).rejects.toMatchObject({
      code: '23514',
      constraint,
    });
  });

  it('names every check constraint it declares, and the cases above break each one', async () => {
    const checks = await db.query<{ conname: string }>(
      `SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid::regclass::text IN
       ('ingest_request', 'ingest_file_result', 'ingest_fileset_platform', 'cdx', 'file_meta') ORDER BY conname COLLATE "C"`,
    );
    expect(checks.map((c) => c.conname)).toEqual([...new Set(BAD.map((b) => b[3]))].sort());
  });

  it('refuses a platform row without a platform (NOT NULL, as sandcrawler)', async () => {
    await expect(
      tryInsert('ingest_fileset_platform', { ...GOOD.ingest_fileset_platform, platform_id: null }),
    ).rejects.toMatchObject({
      code: '23502',
      column: 'platform_id',
    });
  });
});
