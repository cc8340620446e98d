// The whole pipeline against a local server speaking for zenodo.org and doi.org (recorded API
// responses, real file bytes), the real PostgreSQL for the capture index, WARCs checked by jwarc.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import type { PlatformHelper, PlatformItem } from '../../src/platforms/types.js';
import { FilesetResultSchema, type FilesetResult } from '../../src/schemas/result.js';
import { CaptureIndex } from '../../src/stores/warc/capture-index.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime, warcFiles, type TestRuntime } from '../support/runtime.js';
import { recordFiles, recordJson, serveZenodoRecord } from '../support/zenodo-site.js';

const RECORD = '7078760';
const KEYS = ['data2.csv', 'data.csv', 'datapackage.json'];
const json = { 'Content-Type': 'application/json' };

let server: FixtureServer;
const runtimes: TestRuntime[] = [];

async function runtime(env: Record<string, string> = {}, rewritten?: string[]): Promise<TestRuntime> {
  const rt = await testRuntime(server.origin, env, rewritten);
  runtimes.push(rt);
  return rt;
}

async function ingest(rt: TestRuntime, request: unknown) {
  const outcome = await ingestFileset(request, rt.deps);
  FilesetResultSchema.parse(outcome.result);
  return outcome;
}

/** Record types and target URIs of every record in the runtime's WARC files, read back from disk. */
function warcRecords(rt: TestRuntime, warcs: string[]): Array<{ type: string; uri: string }> {
  return warcs.flatMap((name) => {
    const text = gunzipSync(readFileSync(join(rt.warcDir, name))).toString('latin1');
    return [...text.matchAll(/^WARC-Type: (\S+)\r\n(?:[^\r]*\r\n)*?WARC-Target-URI: (\S+)/gm)].map((m) => ({
      type: m[1]!,
      uri: m[2]!,
    }));
  });
}

beforeAll(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json', { files: recordFiles(RECORD, KEYS) });
  // Same record served under another id whose files have the wrong bytes.
  serveZenodoRecord(server, 'zenodo_record_7078768.json', {
    files: { 'capitals.csv': recordFiles(RECORD, ['data.csv'])['data.csv']!, 'table.xls': Buffer.alloc(6144) },
  });
  serveZenodoRecord(server, 'zenodo_record_5244404_newapi_2026-07-24.json', {
    files: { 'Holmes_et_al_(2021)_Cell_Supplementary.pdf': Buffer.from('%PDF-1.4 not the real bytes') },
  });
  server.route('/api/records/7089245', { status: 301, headers: { Location: '/api/records/7089246' } });
  server.route('/api/records/7089246', {
    body: JSON.stringify(
      (JSON.parse(recordJson('zenodo_search_all_versions_fdtester.json')) as { hits: { hits: unknown[] } }).hits
        .hits[4],
    ),
    headers: json,
  });
  server.route('/10.5281/zenodo.7089245', { status: 302, headers: { Location: 'https://zenodo.org/records/7089245' } });
  server.route('/api/records/68358988', {
    status: 404,
    body: recordJson('zenodo_record_68358988_404.json'),
    headers: json,
  });
  server.route('/data/table.csv', { body: 'id,name\n1,english\n2,中国人\n', headers: { 'Content-Type': 'text/csv' } });
  server.route('/about', {
    body: '<html><head><title>x</title></head><body>hello</body></html>',
    headers: { 'Content-Type': 'text/html' },
  });
});

afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

afterAll(async () => {
  await server.close();
});

describe('ingestFileset on a Zenodo dataset', () => {
  it('archives every file of a legacy-shape record, verified and hashed, into valid WARCs; a rerun stores no second copy', async () => {
    const rt = await runtime();
    const { result, fileResult } = await ingest(rt, {
      base_url: `https://doi.org/10.5281/zenodo.${RECORD}`,
      ingest_type: 'dataset',
      link_source: 'doi',
    });
    expect(result.status).toBe('success');
    expect(result.hit).toBe(true);
    expect(fileResult).toBeNull();
    expect(result.request).toEqual({
      base_url: `https://doi.org/10.5281/zenodo.${RECORD}`,
      ingest_type: 'dataset',
      link_source: 'doi',
    });
    expect(result).toMatchObject({
      platform_name: 'zenodo',
      platform_domain: 'zenodo.org',
      platform_id: RECORD,
      archiveorg_item_name: `zenodo.org-${RECORD}`,
      ingest_strategy: 'web-fileset',
      file_count: 3,
      total_size: 1768,
      hops: [`https://doi.org/10.5281/zenodo.${RECORD}`, `https://zenodo.org/records/${RECORD}`],
      terminal: { terminal_url: `https://zenodo.org/records/${RECORD}`, terminal_status_code: 200 },
      html_biblio: { title: 'Frictionless Data Test Dataset', doi: `10.5281/zenodo.${RECORD}` },
    });
    expect(result.cdx).toMatchObject({
      url: `https://zenodo.org/records/${RECORD}`,
      surt: `org,zenodo)/records/${RECORD}`,
      status_code: 200,
    });
    expect(result.manifest).toHaveLength(3);
    for (const entry of result.manifest!) {
      expect(entry.status).toBe('success');
      expect(entry.size).toEqual(expect.any(Number));
      expect(entry.md5).toMatch(/^[0-9a-f]{32}$/);
      expect(entry.sha1).toMatch(/^[0-9a-f]{40}$/);
      expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(entry.mimetype).toEqual(expect.any(String));
      expect(entry.terminal_url).toBe(entry.platform_url);
      expect(entry.terminal_dt).toMatch(/^\d{14}$/);
    }
    expect(result.manifest!.find((e) => e.path === 'data.csv')).toMatchObject({
      size: 114,
      md5: 'c028f525f314c49ea48ed09e82292ed2',
      platform_url: 'https://zenodo.org/api/files/bc520c46-ee9e-4245-8c57-2a7203062e14/data.csv',
    });

    const second = await ingest(rt, { base_url: `https://zenodo.org/records/${RECORD}` });
    expect(second.result.status).toBe('success-existing');
    // success-existing carries the same full hashes and mimetype as the first archive.
    expect(second.result.manifest!.map(({ status, terminal_dt: _dt, ...e }) => [status, e])).toEqual(
      result.manifest!.map(({ status: _s, terminal_dt: _dt, ...e }) => ['exists', e]),
    );

    const warcs = await rt.closeAndValidate();
    const records = warcRecords(rt, warcs);
    const fileResponses = records.filter((r) => r.type === 'response' && r.uri.includes('/api/files/'));
    expect(fileResponses).toHaveLength(3);
    // The landing page was fetched twice: the second, identical payload is a revisit.
    expect(
      records
        .filter((r) => r.uri === `https://zenodo.org/records/${RECORD}` && r.type !== 'metadata')
        .map((r) => r.type),
    ).toEqual(['request', 'response', 'request', 'revisit']);
    expect(records.filter((r) => r.type === 'metadata')).toHaveLength(2);
    expect(records[0]!.type).toBe('warcinfo');
  });

  it('asks the capture index once per ingest for existing copies of all the files', async () => {
    const rt = await runtime();
    const lookups = vi.spyOn(CaptureIndex.prototype, 'existingCopiesOf');
    try {
      const first = await ingest(rt, { base_url: `https://zenodo.org/records/${RECORD}` });
      expect(first.result.status).toBe('success');
      // The check for an existing fileset asked for all three files; the downloads reused its answer.
      expect(lookups.mock.calls.map(([files]) => files.length)).toEqual([3]);
      lookups.mockClear();
      const second = await ingest(rt, { base_url: `https://zenodo.org/records/${RECORD}` });
      expect(second.result.status).toBe('success-existing');
      expect(lookups.mock.calls.map(([files]) => files.length)).toEqual([3]);
    } finally {
      lookups.mockRestore();
    }
  });

  it('reports a file whose bytes differ from the platform md5, per entry and for the dataset', async () => {
    const rt = await runtime();
    const { result } = await ingest(rt, { base_url: 'https://zenodo.org/records/7078768' });
    expect(result.status).toBe('mismatch-size');
    expect(result.hit).toBe(false);
    expect(result.manifest!.map((e) => [e.path, e.status])).toEqual([
      ['capitals.csv', 'mismatch-size'],
      ['table.xls', 'mismatch-md5'],
    ]);
    // The server sent 114 bytes for a 76-byte file: cut off at the declared size, never stored.
    expect(result.error_message).toBe('capitals.csv: server sent more than the 76 bytes the platform declared');
    await rt.closeAndValidate();
  });

  it('archives a post-2023 record shape and reports its wrong bytes as mismatch-md5', async () => {
    const rt = await runtime({ FILESET_MAX_TOTAL_SIZE: '1GiB' });
    const { result } = await ingest(rt, { base_url: 'https://zenodo.org/records/5244404' });
    expect(result.ingest_strategy).toBe('web-fileset');
    expect(result.platform_bundle_url).toBe('https://zenodo.org/api/records/5244404/files-archive');
    const statuses = result.manifest!.map((e) => e.status);
    expect(statuses).toEqual(['mismatch-size', 'error-platform-download', 'error-platform-download']);
    expect(result.status).toBe('mismatch-size');
    await rt.closeAndValidate();
  });

  it('inspects a post-2023 record without downloading a file (dry run)', async () => {
    const rt = await runtime();
    const before = server.requests.length;
    const { result, ready } = await ingestFileset({ base_url: 'https://doi.org/10.5281/zenodo.5244404' }, rt.deps, {
      dryRun: true,
    });
    expect(ready).toBe(true);
    expect(result).toMatchObject({
      platform_id: '5244404',
      ingest_strategy: 'web-fileset',
      file_count: 3,
      total_size: 1376495,
      // what the platform said, though nothing was captured for a consumer to read
      platform_base_url: 'https://zenodo.org/records/5244404',
    });
    expect(result).not.toHaveProperty('web_base_url');
    expect(result.manifest!.map((e) => [e.path, e.status])).toEqual([
      ['Holmes_et_al_(2021)_Cell_Supplementary.pdf', 'not-processed'],
      ['Holmes_et_al_(2021)_Cell.pdf', 'not-processed'],
      ['gisaid_acknowledgement_table.pdf', 'not-processed'],
    ]);
    expect(server.requests.slice(before).filter((p) => p.includes('/files/'))).toEqual([]);
    expect(await rt.closeAndValidate()).toEqual([]);
  });

  it('gives platform-scope for a concept DOI and platform-404 for an unknown record, even without a landing page', async () => {
    const rt = await runtime();
    const concept = await ingest(rt, { base_url: 'doi:10.5281/zenodo.7089245' });
    expect(concept.result.status).toBe('platform-scope');
    expect(concept.result.error_message).toMatch(/latest is 7089246/);
    const missing = await ingest(rt, { base_url: 'https://zenodo.org/records/68358988' });
    expect(missing.result.status).toBe('platform-404');
    expect(missing.result.terminal?.terminal_status_code).toBe(404);
    await rt.closeAndValidate();
  });

  it('applies the file-count and size limits', async () => {
    const rt = await runtime({ FILESET_MAX_FILE_COUNT: '2' });
    const { result } = await ingest(rt, { base_url: `https://zenodo.org/records/${RECORD}` });
    expect(result.status).toBe('too-many-files');
    expect(result.manifest).toHaveLength(3);
    expect(result.manifest!.every((e) => e.status === 'not-processed')).toBe(true);
    const rt2 = await runtime({ FILESET_MAX_TOTAL_SIZE: '1000' });
    expect((await ingest(rt2, { base_url: `https://zenodo.org/records/${RECORD}` })).result.status).toBe(
      'too-large-size',
    );
  });
});

describe('ingestFileset on other input', () => {
  it('archives a landing URL that is itself a file as a web-file dataset with a dataset-file result', async () => {
    const rt = await runtime({}, ['https://data.example.org']);
    const { result, fileResult } = await ingest(rt, {
      base_url: 'https://data.example.org/data/table.csv',
      ingest_type: 'dataset',
    });
    expect(result).toMatchObject({
      status: 'success-file',
      platform_name: 'web',
      ingest_strategy: 'web-file',
      file_count: 1,
    });
    expect(result.fileset_file?.file_meta).toEqual(result.file_meta);
    expect(Array.isArray(result.fileset_file?.file_meta)).toBe(false);
    expect(fileResult).toMatchObject({
      hit: true,
      status: 'success',
      request: { base_url: 'https://data.example.org/data/table.csv', ingest_type: 'dataset-file' },
      file_meta: { mimetype: 'text/csv', size_bytes: 30 },
      terminal: { terminal_url: 'https://data.example.org/data/table.csv', terminal_status_code: 200 },
    });
    expect(fileResult!.cdx?.sha1hex).toBe(fileResult!.file_meta?.sha1hex);
    const warcs = await rt.closeAndValidate();
    // The landing fetch is the file: it is captured once, not twice.
    expect(warcRecords(rt, warcs).filter((r) => r.type === 'response')).toHaveLength(1);
  });

  it('gives no-platform-match for an unknown HTML page, with the landing page captured', async () => {
    const rt = await runtime({}, ['https://data.example.org']);
    const { result } = await ingest(rt, { base_url: 'https://data.example.org/about' });
    expect(result.status).toBe('no-platform-match');
    expect(result.terminal?.terminal_status_code).toBe(200);
    expect(result.file_meta?.mimetype).toBe('text/html');
  });

  it('refuses private addresses, directly and behind a redirect', async () => {
    const rt = await runtime({}, ['https://redirector.example.org']);
    server.route('/to-private', { status: 302, headers: { Location: `${server.origin}/data/table.csv` } });
    const before = server.requests.length;
    const direct = await ingest(rt, { base_url: `${server.origin}/data/table.csv` });
    expect(direct.result.status).toBe('blocked-private-address');
    const redirected = await ingest(rt, { base_url: 'https://redirector.example.org/to-private' });
    expect(redirected.result.status).toBe('blocked-private-address');
    expect(redirected.result.hops).toEqual(['https://redirector.example.org/to-private']);
    expect(redirected.result.error_message).toMatch(/127\.0\.0\.1/);
    expect(server.requests.slice(before)).toEqual(['/to-private']);
  });

  it('answers bad requests with a clear status and echoes them', async () => {
    const rt = await runtime();
    const cases: Array<[unknown, FilesetResult['status'], RegExp]> = [
      [{ ingest_type: 'dataset' }, 'bad-request', /request\.base_url/],
      [{ base_url: 42 }, 'bad-request', /request\.base_url/],
      ['https://zenodo.org/records/1', 'bad-request', /request/],
      [{ base_url: 'ftp://example.org/data.zip' }, 'invalid-url', /not an http/],
      [{ base_url: 'https://web.archive.org/web/2020/https://zenodo.org/' }, 'skip-url-blocklist', /blocklist/],
    ];
    for (const [request, status, message] of cases) {
      const { result } = await ingest(rt, request);
      expect(result.status).toBe(status);
      expect(result.error_message).toMatch(message);
      expect(result.hit).toBe(false);
    }
    const { result } = await ingest(rt, { base_url: 'ftp://x', extra_field: { kept: true } });
    expect(result.request).toEqual({ base_url: 'ftp://x', extra_field: { kept: true } });
  });

  it('refuses a request beyond its bounds before any fetch, echoing it clipped', async () => {
    const rt = await runtime();
    const before = server.requests.length;
    const huge = `https://zenodo.org/records/7078760?${'q'.repeat(10 * 1024 * 1024)}`;
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ base_url: huge }, /request\.base_url: longer than 8192 bytes/],
      [{ base_url: `https://zenodo.org/records/7078760?${'é'.repeat(4100)}` }, /request\.base_url: longer/],
      [{ base_url: 'https://zenodo.org/records/7078760', link_source_id: 'x'.repeat(5000) }, /link_source_id/],
      [{ base_url: 'https://zenodo.org/records/7078760\u0000' }, /NUL/],
      [{ base_url: 'https://zenodo.org/records/7078760', junk: 'x'.repeat(100_000) }, /larger than 65536/],
    ];
    for (const [request, message] of cases) {
      const { result } = await ingest(rt, request);
      expect(result).toMatchObject({
        status: 'bad-request',
        hit: false,
        error_message: expect.stringMatching(message),
      });
      expect(JSON.stringify(result).length).toBeLessThan(80 * 1024);
    }
    expect(server.requests.length).toBe(before);
  });

  it('answers another ingest_type with skip-ingest-type, fetching nothing', async () => {
    const rt = await runtime();
    const before = server.requests.length;
    for (const ingest_type of ['pdf', 'html', 'dataset-file', 'component']) {
      const request = { base_url: 'https://zenodo.org/records/7078760', ingest_type, link_source: 'doi' };
      const { result, fileResult } = await ingest(rt, request);
      expect(result).toEqual({
        hit: false,
        status: 'skip-ingest-type',
        request,
        error_message: expect.stringContaining(ingest_type),
      });
      expect(fileResult).toBeNull();
    }
    expect(server.requests.length).toBe(before);
    expect(await warcFiles(rt.warcDir)).toEqual([]);
  });

  it('gives timeout when the request runs past its deadline', async () => {
    const rt = await runtime({ FILESET_INGEST_DEADLINE_S: '1' }, ['https://slow.example.org']);
    server.route('/never', { handler: () => undefined });
    const { result } = await ingest(rt, { base_url: 'https://slow.example.org/never' });
    expect(result.status).toBe('timeout');
    expect(result.error_message).toMatch(/deadline/);
  });

  it('turns an unexpected exception into internal-error with its message', async () => {
    const rt = await runtime();
    const broken: PlatformHelper = {
      name: 'broken',
      matchRequest: () => true,
      processRequest: async () => {
        throw new TypeError('cannot read properties of undefined');
      },
    };
    const { result } = await ingestFileset(
      { base_url: `https://zenodo.org/records/${RECORD}` },
      { ...rt.deps, platforms: [broken] },
    );
    expect(result.status).toBe('internal-error');
    expect(result.error_message).toBe('TypeError: cannot read properties of undefined');
  });

  it('answers an item that is already an archive with its own hashes and downloads nothing; private files are restricted', async () => {
    const rt = await runtime();
    const file = (path: string, restricted: boolean) => ({
      path,
      size: 10,
      md5: 'a'.repeat(32),
      sha1: 'b'.repeat(40),
      restricted,
      platform_url: `https://archive.example/download/item/${path}?cnt=0`,
    });
    const archive = (manifest: PlatformItem['manifest']): PlatformHelper => ({
      name: 'archiveorg',
      matchRequest: () => true,
      processRequest: async () => ({
        platformName: 'archiveorg',
        platformDomain: 'archive.example',
        platformId: 'item',
        manifest,
        archiveorgItemName: 'item',
        archiveorgItemMeta: {},
        platformBaseUrl: null,
        platformBundleUrl: null,
        alreadyArchived: true,
      }),
    });
    const before = server.requests.length;
    const mixed = await ingestFileset(
      { base_url: `https://zenodo.org/records/${RECORD}` },
      { ...rt.deps, platforms: [archive([file('a.csv', false), file('b.csv', true)])] },
    );
    expect(mixed.result.status).toBe('success-partial');
    expect(mixed.result.manifest?.map((e) => [e.path, e.status, e.md5, e.terminal_url])).toEqual([
      // The platform's own copy is named by platform_url; nothing of it is a capture of ours.
      ['a.csv', 'exists', 'a'.repeat(32), null],
      ['b.csv', 'platform-restricted', 'a'.repeat(32), null],
    ]);
    const open = await ingestFileset(
      { base_url: `https://zenodo.org/records/${RECORD}` },
      { ...rt.deps, platforms: [archive([file('a.csv', false)])] },
    );
    expect(open.result.status).toBe('success-existing');
    const closed = await ingestFileset(
      { base_url: `https://zenodo.org/records/${RECORD}` },
      { ...rt.deps, platforms: [archive([file('b.csv', true)])] },
    );
    expect(closed.result.status).toBe('platform-restricted');
    // Only the landing page was fetched, three times: no file download.
    expect(server.requests.slice(before)).toEqual(Array(3).fill(`/records/${RECORD}`));
  });
});
