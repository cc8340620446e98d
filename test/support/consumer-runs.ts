// Result lines of every platform site and every strategy, made by the real pipeline (each dataset
// ingested twice, so success-existing is among them): what the consumer contract tests
// (test/pipeline/result.test.ts) and the by-hand consumer scripts (scripts/consumers/) read.
import { join } from 'node:path';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FilesetResultSchema, type FilesetResult } from '../../src/schemas/result.js';
import { FixtureServer } from './fixture-server.js';
import { testRuntime, type TestRuntime } from './runtime.js';
import { loadSites } from './sites/index.js';
import { FIXTURES, recordFiles, serveZenodoRecord } from './zenodo-site.js';

const WEB = {};
const ITEM = { FILESET_WEB_MAX_FILES: '1', FILESET_WEB_MAX_FILE_SIZE: '1' };
const BUNDLED = { FILESET_BUNDLE_MIN_FILES: '2' };

/** A request fatcat would take: allowed source and link source, a release named. */
const fatcatRequest = (baseUrl: string) => ({
  base_url: baseUrl,
  ingest_type: 'dataset',
  ingest_request_source: 'fatcat-ingest',
  link_source: 'doi',
  link_source_id: '10.5281/zenodo.0',
  fatcat: { release_ident: 'aaaaaaaaaaaaaaaaaaaaaaaaai' },
});

export interface ConsumerRun {
  name: string;
  /** Closed: its WARCs are final; dispose() removes the data dir and database. */
  rt: TestRuntime;
  results: FilesetResult[];
}

export interface ConsumerRuns {
  runs: ConsumerRun[];
  dispose(): Promise<void>;
}

export async function consumerRuns(): Promise<ConsumerRuns> {
  const runs: ConsumerRun[] = [];
  const servers: FixtureServer[] = [];
  const ingestTwice = async (name: string, server: FixtureServer, origins: string[], url: string, env: object) => {
    const rt = await testRuntime(server.origin, { ...env }, origins);
    const results: FilesetResult[] = [];
    for (let i = 0; i < 2; i++) {
      const { result } = await ingestFileset(fatcatRequest(url), rt.deps);
      results.push(FilesetResultSchema.parse(result));
    }
    await rt.close();
    runs.push({ name, rt, results });
  };
  const dispose = async () => {
    for (const run of runs) await run.rt.dispose();
    for (const server of servers) await server.close();
  };
  try {
    for (const site of await loadSites()) {
      for (const [backend, env] of [
        ['web', WEB],
        ['archiveorg', ITEM],
      ] as const) {
        const server = await FixtureServer.start();
        servers.push(server);
        const dataset = site.serveDataset(server);
        await ingestTwice(`${site.platform} ${backend}`, server, site.origins, dataset.url, env);
      }
    }
    // One-file and bundled datasets: Zenodo records with their real bytes and Zenodo's real zip.
    const three = ['data2.csv', 'data.csv', 'datapackage.json'];
    for (const [name, env, record, keys] of [
      ['web-file', WEB, '7097299', ['datapackage.json']],
      ['archiveorg-file', ITEM, '7097299', ['datapackage.json']],
      ['web-fileset-bundled', BUNDLED, '7078760', three],
      ['archiveorg-fileset-bundled', { ...ITEM, ...BUNDLED }, '7078760', three],
    ] as const) {
      const server = await FixtureServer.start();
      servers.push(server);
      serveZenodoRecord(server, `zenodo_record_${record}.json`, { files: recordFiles(record, [...keys]) });
      server.route(`/api/records/${record}/files-archive`, {
        file: join(FIXTURES, 'bundles', `zenodo-${record}.zip`),
        headers: { 'Content-Type': 'application/zip' },
      });
      const origins = ['https://zenodo.org', 'https://doi.org'];
      await ingestTwice(name, server, origins, `https://doi.org/10.5281/zenodo.${record}`, env);
    }
  } catch (err) {
    await dispose();
    throw err;
  }
  return { runs, dispose };
}
