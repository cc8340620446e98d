// `fileset-ingest status` on what an ingest and a persist left, on real PostgreSQL and on the
// embedded database, and on a data directory with nothing yet (which it must not create).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatStatus, humanBytes, run, statusReport, type StatusReport } from '../../src/commands/status.js';
import { persistResults } from '../../src/db/persist.js';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { silentLogger, testConfig } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime } from '../support/runtime.js';
import { recordFiles, serveZenodoRecord } from '../support/zenodo-site.js';

const RECORD = '7078760';
const KEYS = ['data2.csv', 'data.csv', 'datapackage.json'];
const BYTES = Object.values(recordFiles(RECORD, KEYS)).reduce((sum, body) => sum + body.length, 0);

let server: FixtureServer;
beforeAll(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json', { files: recordFiles(RECORD, KEYS) });
  server.route('/gone.csv', { status: 404, body: 'no' });
});
afterAll(async () => {
  await server.close();
});

async function jsonOf(config: Parameters<typeof run>[0]): Promise<StatusReport> {
  const output = new PassThrough();
  let text = '';
  output.on('data', (d: Buffer) => (text += d.toString()));
  expect(await run(config, silentLogger, [], { json: true, output })).toBe(0);
  return JSON.parse(text) as StatusReport;
}

describe.each([
  ['PostgreSQL', {}],
  ['the embedded database', { FILESET_DATABASE_URL: '' }],
])('status on %s', (_name, env: Record<string, string>) => {
  it('counts captured files, bytes, WARCs, datasets by status and the last runs', async () => {
    const runtime = await testRuntime(server.origin, env, [
      'https://zenodo.org',
      'https://doi.org',
      'https://files.example.org',
    ]);
    try {
      const dataset = await ingestFileset(
        { base_url: `https://zenodo.org/records/${RECORD}`, ingest_type: 'dataset' },
        runtime.deps,
      );
      const missing = await ingestFileset(
        { base_url: 'https://files.example.org/gone.csv', ingest_type: 'dataset' },
        runtime.deps,
      );
      expect([dataset.result.status, missing.result.status]).toEqual(['success', 'terminal-bad-status']);
      const persisted = await persistResults(runtime.db, [dataset.result, missing.result], { logger: silentLogger });
      expect(persisted.rejected).toEqual([]);
      await runtime.close();

      const report = await jsonOf(runtime.config);
      // The landing page, the three files and the 404 page.
      const landing = (await (await fetch(`${server.origin}/records/${RECORD}`)).text()).length;
      const captured = BYTES + landing + 'no'.length;
      expect(report.captures).toMatchObject({ responses: 5, bytes: captured, warc_files: 1, revisits: 0 });
      expect(report.captures.last_capture).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(report.warc_dir).toMatchObject({ path: join(runtime.dataDir, 'warcs'), files: 1, open: 0 });
      expect(report.warc_dir.bytes).toBeGreaterThan(BYTES);
      // Only a result whose platform was identified has a row in ingest_fileset_platform.
      expect(report.datasets).toMatchObject({ total: 1, files: 3, bytes: BYTES, items: 1 });
      expect(report.datasets.by_status).toEqual([{ status: 'success', count: 1, last: expect.any(String) }]);
      expect(report.last_runs).toEqual([
        {
          base_url: `https://zenodo.org/records/${RECORD}`,
          status: 'success',
          updated: expect.any(String),
          file_count: 3,
          total_size: BYTES,
        },
      ]);

      const table = formatStatus(report);
      expect(table).toMatch(new RegExp(`^captured responses +5 \\(${humanBytes(captured)}\\)$`, 'm'));
      expect(table).toMatch(/^datasets +1 \(3 files, /m);
      expect(table).toMatch(/^success +1 +\d{4}-/m);
      expect(table).toContain(`https://zenodo.org/records/${RECORD}  success`);
    } finally {
      await runtime.dispose();
    }
  });
});

describe('status with nothing archived yet', () => {
  it('is all zeros, and creates no embedded database or data directory', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'fileset-status-'));
    try {
      const dataDir = join(parent, 'data');
      const report = await statusReport(testConfig(server.origin, { FILESET_DATA_DIR: dataDir }), silentLogger);
      expect(report).toMatchObject({
        captures: { responses: 0, bytes: 0, warc_files: 0, revisits: 0, last_capture: null },
        warc_dir: { files: 0, bytes: 0, open: 0 },
        datasets: { total: 0, files: 0, bytes: 0, items: 0, by_status: [] },
        last_runs: [],
      });
      expect(formatStatus(report)).toMatch(/^last capture +never$/m);
      expect(report.warc_store).toBeNull();
      expect(await readdir(parent)).toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
