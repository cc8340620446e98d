// Manifest paths where no item of ours is written (the WARC strategies, an archive.org item that is
// its own archive): a fileset is still unpacked by them, so a path an item would refuse is refused
// there too, with the item's status. Found by the property test: a Dryad file named `a\..\..\b`
// came back as a success of web-fileset, and the same name in an archive.org item as success-existing.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { archiveorgFixture, minimalDetailsPage } from '../support/sites/archiveorg.js';
import { recordFiles, recordJson } from '../support/zenodo-site.js';

const RECORD = '7078760';
let server: FixtureServer;
let rt: TestRuntime;

beforeAll(async () => {
  server = await FixtureServer.start();
  rt = await testRuntime(server.origin, {}, ['https://zenodo.org', 'https://archive.org']);
});

afterAll(async () => {
  await rt?.dispose();
  await server?.close();
});

it.each(['a\\..\\..\\b', '../../etc/passwd', '/etc/passwd', 'a/./b'])(
  'web-fileset marks the file named %j unsafe-path and archives the others',
  async (name) => {
    // The recorded record with one file's key changed; its download link stays the recorded one.
    const record = JSON.parse(recordJson(`zenodo_record_${RECORD}.json`)) as {
      files: Array<{ key: string; links: { self: string } }>;
    };
    const bytes = recordFiles(RECORD, ['data2.csv', 'data.csv', 'datapackage.json']);
    for (const file of record.files) {
      server.route(new URL(file.links.self).pathname, { body: bytes[file.key]! });
    }
    const renamed = record.files.find((f) => f.key === 'data.csv')!;
    renamed.key = name;
    server.route(`/api/records/${RECORD}`, {
      body: JSON.stringify(record),
      headers: { 'Content-Type': 'application/json' },
    });
    const { result } = await ingestFileset(
      { base_url: `https://zenodo.org/records/${RECORD}`, force_recrawl: true },
      rt.deps,
    );
    FilesetResultSchema.parse(result);
    expect(result.ingest_strategy).toBe('web-fileset');
    expect(result.status).toBe('unsafe-path');
    expect(result.manifest!.map((e) => [e.path, e.status])).toEqual([
      ['data2.csv', 'success'],
      [name, 'unsafe-path'],
      ['datapackage.json', 'success'],
    ]);
  },
);

it('an archive.org item with a file named a\\..\\..\\b is unsafe-path, not success-existing', async () => {
  const item = JSON.parse(archiveorgFixture('nawarian-test.json')) as { files: Array<{ name: string }> };
  item.files[1]!.name = 'a\\..\\..\\b';
  server.route('/metadata/nawarian-test', {
    body: JSON.stringify(item),
    headers: { 'Content-Type': 'application/json' },
  });
  server.route('/details/nawarian-test', {
    body: minimalDetailsPage('nawarian-test'),
    headers: { 'Content-Type': 'text/html; charset=UTF-8' },
  });
  const { result } = await ingestFileset({ base_url: 'https://archive.org/details/nawarian-test' }, rt.deps);
  FilesetResultSchema.parse(result);
  expect([result.status, result.error_message]).toEqual([
    'unsafe-path',
    'unsafe path in the manifest: "a\\\\..\\\\..\\\\b"',
  ]);
  expect(result.manifest!.filter((e) => e.status !== 'exists').map((e) => [e.path, e.status])).toEqual([
    ['a\\..\\..\\b', 'unsafe-path'],
  ]);
});
