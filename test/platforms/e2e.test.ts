// `fileset-ingest ingest` on one recorded dataset of every platform, end to end: the built CLI,
// the platform hosts rewritten onto a local server (FILESET_HTTP_REWRITE), the real PostgreSQL,
// and every WARC written read back by jwarc.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { jsonLines, runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer } from '../support/fixture-server.js';
import { expectValidWarc } from '../support/jwarc.js';
import { warcFiles } from '../support/runtime.js';
import { loadSites } from '../support/sites/index.js';

const sites = await loadSites();
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

describe.each(sites.map((s) => [s.platform, s] as const))('fileset-ingest ingest: %s', (_name, site) => {
  it('archives the recorded dataset end to end', async () => {
    const server = await FixtureServer.start();
    const dataDir = await mkdtemp(join(tmpdir(), `fileset-e2e-${site.platform}-`));
    try {
      const dataset = site.serveDataset(server);
      const env = {
        FILESET_DATA_DIR: dataDir,
        FILESET_DATABASE_URL: database.url,
        FILESET_HTTP_REWRITE: site.origins.map((o) => `${o}=${server.origin}`).join(','),
        FILESET_LOG_LEVEL: 'warn',
        FILESET_PLATFORM_BUDGETS: '*:api=8,*:download=8',
      };
      // inspect first: everything the platform says, nothing downloaded or written.
      const inspect = await runCli(['inspect', dataset.url], env);
      const report = JSON.parse(inspect.stdout) as Record<string, unknown> & {
        manifest: Array<Record<string, unknown>>;
      };
      expect(report.status, inspect.stderr).toBe(dataset.status === 'success-existing' ? 'success-existing' : 'ready');
      expect(report).toMatchObject({
        platform_name: site.platform,
        platform_id: dataset.platformId,
        archiveorg_item_name: dataset.itemName,
        limit_hit: null,
      });
      expect(report.platform_domain).toEqual(expect.any(String));
      expect(report.ingest_strategy).toEqual(expect.any(String));
      expect(report.manifest.map((f) => f.path)).toEqual(dataset.paths);
      // Sizes always; hashes as the platform gave them (the 2022 Dryad listing gives none).
      expect(report.manifest.every((f) => typeof f.size === 'number')).toBe(true);
      expect(await warcFiles(join(dataDir, 'warcs'))).toEqual([]);

      const run = await runCli(['ingest', dataset.url], env);
      const lines = jsonLines(run.stdout);
      const result = FilesetResultSchema.parse(lines.at(-1));
      expect(result.status, `${result.error_message ?? ''}\n${run.stderr}`).toBe(dataset.status);
      expect(run.code).toBe(0);
      expect(result).toMatchObject({
        platform_name: site.platform,
        platform_id: dataset.platformId,
        archiveorg_item_name: dataset.itemName,
      });
      expect(result.manifest?.map((f) => f.path)).toEqual(dataset.paths);
      const fileStatuses = new Set(result.manifest?.map((f) => f.status));
      const expected = {
        success: ['success'],
        'success-file': ['success'],
        'success-existing': ['exists'],
        'success-partial': ['success', 'platform-restricted'],
      };
      for (const status of fileStatuses) expect(expected[dataset.status]).toContain(status);
      // A *-file success prints the dataset-file result first.
      expect(lines).toHaveLength(dataset.status === 'success-file' ? 2 : 1);
      const warcDir = join(dataDir, 'warcs');
      const warcs = await warcFiles(warcDir);
      expect(warcs.length).toBeGreaterThan(0);
      for (const warc of warcs) await expectValidWarc(join(warcDir, warc));
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
