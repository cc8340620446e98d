// Every strategy through the whole pipeline (ingestFileset), chosen by the thresholds as an
// operator would set them: recorded Zenodo records with the real bytes of their files, the real
// PostgreSQL for the capture index, the fs item store, WARCs checked by jwarc.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { zenodo } from '../../src/platforms/zenodo.js';
import type { PlatformHelper } from '../../src/platforms/types.js';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { FIXTURES, recordFiles, serveZenodoRecord } from '../support/zenodo-site.js';

const DATASET = { record: '7078760', keys: ['data2.csv', 'data.csv', 'datapackage.json'] };
const ONE_FILE = { record: '7097299', keys: ['datapackage.json'] };
const BUNDLE_URL = `https://zenodo.org/api/records/${DATASET.record}/files-archive`;

/** Zenodo as it is today: records offer a "download all" zip (the 2022 recording predates it). */
const zenodoWithBundle: PlatformHelper = {
  ...zenodo,
  async processRequest(request, landing, ctx) {
    const item = await zenodo.processRequest(request, landing, ctx);
    return item.platformId === DATASET.record ? { ...item, platformBundleUrl: BUNDLE_URL } : item;
  },
};

let server: FixtureServer;
const runtimes: TestRuntime[] = [];

async function run(env: Record<string, string>, record: string) {
  const rt = await testRuntime(server.origin, env);
  runtimes.push(rt);
  const ingest = async () => {
    const outcome = await ingestFileset(
      { base_url: `https://zenodo.org/records/${record}` },
      { ...rt.deps, platforms: [zenodoWithBundle] },
    );
    FilesetResultSchema.parse(outcome.result);
    return outcome;
  };
  return { rt, first: await ingest(), second: await ingest() };
}

beforeAll(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, `zenodo_record_${DATASET.record}.json`, {
    files: recordFiles(DATASET.record, DATASET.keys),
  });
  serveZenodoRecord(server, `zenodo_record_${ONE_FILE.record}.json`, {
    files: recordFiles(ONE_FILE.record, ONE_FILE.keys),
  });
  server.route(`/api/records/${DATASET.record}/files-archive`, {
    file: join(FIXTURES, 'bundles', 'zenodo-7078760.zip'),
    headers: { 'Content-Type': 'application/zip' },
  });
});

afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

afterAll(async () => {
  await server.close();
});

const ITEM_STRATEGY = { FILESET_WEB_MAX_FILES: '1', FILESET_WEB_MAX_FILE_SIZE: '1' };
const BUNDLED = { FILESET_BUNDLE_MIN_FILES: '2' };

describe.each([
  ['web-file', {}, ONE_FILE, 'success-file'],
  ['web-fileset', {}, DATASET, 'success'],
  ['web-fileset-bundled', BUNDLED, DATASET, 'success'],
  ['archiveorg-file', ITEM_STRATEGY, ONE_FILE, 'success-file'],
  ['archiveorg-fileset', ITEM_STRATEGY, DATASET, 'success'],
  ['archiveorg-fileset-bundled', { ...ITEM_STRATEGY, ...BUNDLED }, DATASET, 'success'],
] as const)('%s through the pipeline', (strategy, env, dataset, status) => {
  it(`is chosen, archives every file verified (${status}), and a rerun says success-existing`, async () => {
    const { rt, first, second } = await run(env, dataset.record);
    expect(first.result.ingest_strategy).toBe(strategy);
    expect(first.result.status, first.result.error_message ?? '').toBe(status);
    expect(first.result.manifest?.map((e) => e.path)).toEqual(dataset.keys);
    for (const entry of first.result.manifest!) {
      expect(entry).toMatchObject({
        status: 'success',
        md5: expect.stringMatching(/^[0-9a-f]{32}$/),
        sha1: expect.stringMatching(/^[0-9a-f]{40}$/),
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    }
    // A *-file success comes with sandcrawler's dataset-file result.
    expect(first.fileResult !== null).toBe(status === 'success-file');
    if (strategy.endsWith('bundled')) expect(first.result.fileset_bundle?.file_meta?.size_bytes).toBeGreaterThan(0);
    if (strategy.endsWith('-file'))
      expect(first.result.fileset_file?.file_meta?.sha1hex).toBe(first.result.manifest![0]!.sha1);

    // web-fileset-bundled fetches the bundle again (a revisit record), the others answer from what they stored.
    expect(second.result.status).toBe(strategy === 'web-fileset-bundled' ? 'success' : 'success-existing');
    expect(second.result.ingest_strategy).toBe(strategy);

    const item = `zenodo.org-${dataset.record}`;
    if (strategy.startsWith('archiveorg')) {
      const notes = await rt.deps.items.listNotes(item);
      expect(notes.map((n) => [n.strategy, n.status])).toEqual([
        [strategy, status],
        [strategy, 'success-existing'],
      ]);
      expect((await rt.deps.items.listFiles(item)).length).toBeGreaterThan(0);
      expect(await readdir(rt.deps.workDir)).toEqual([]);
    } else {
      expect(await rt.deps.items.listFiles(item)).toEqual([]);
    }
    await rt.closeAndValidate();
  });
});
