// `fileset-ingest verify` (the built CLI) on a data directory the real pipeline filled: a WARC
// backend ingest and an archiveorg backend ingest of recorded Zenodo datasets. Intact: exit 0.
// One flipped byte in a WARC payload and one in an item file: both named, exit 1.
import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSince } from '../../src/commands/verify.js';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FixtureServer } from '../support/fixture-server.js';
import { jsonLines, runCli } from '../support/cli.js';
import { testRuntime, warcFiles, type TestRuntime } from '../support/runtime.js';
import { readWarc } from '../support/warcio.js';
import { recordFiles, serveZenodoRecord } from '../support/zenodo-site.js';

const KEYS = ['data2.csv', 'data.csv', 'datapackage.json'];
const ITEM = 'zenodo.org-7078760';
let server: FixtureServer;
let rt: TestRuntime;

beforeAll(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json', { files: recordFiles('7078760', KEYS) });
  serveZenodoRecord(server, 'zenodo_record_7097299.json', { files: recordFiles('7097299', ['datapackage.json']) });
  rt = await testRuntime(server.origin);
  const web = await ingestFileset({ base_url: 'https://zenodo.org/records/7078760' }, rt.deps);
  // A second ingest of the same files: revisits, whose originals verify checks.
  const again = await ingestFileset({ base_url: 'https://zenodo.org/records/7078760', force_recrawl: true }, rt.deps);
  expect([web.result.status, again.result.status]).toEqual(['success', 'success']);
  const items = await ingestFileset(
    { base_url: 'https://zenodo.org/records/7078760' },
    { ...rt.deps, config: { ...rt.config, thresholds: { ...rt.config.thresholds, webMaxFiles: 1 } } },
  );
  expect([items.result.ingest_strategy, items.result.status]).toEqual(['archiveorg-fileset', 'success']);
  await rt.closeAndValidate();
}, 120_000);

afterAll(async () => {
  await rt.dispose();
  await server.close();
});

const verify = (...args: string[]) =>
  runCli(['verify', ...args], { FILESET_DATA_DIR: rt.dataDir, FILESET_LOG_LEVEL: 'warn' });

/** XORs one byte of a file. */
async function flip(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0]! ^= 0x20;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

describe('fileset-ingest verify', () => {
  it('exits 0 on an intact data directory, having read every record and item file', async () => {
    const run = await verify('--metrics-file', join(rt.dataDir, 'verify.prom'));
    expect(run.stdout.trim().split('\n'), run.stderr).toHaveLength(1);
    const summary = jsonLines(run.stdout)[0]!;
    const records = (await Promise.all((await warcFiles(rt.warcDir)).map((w) => readWarc(join(rt.warcDir, w))))).flat();
    expect(summary).toMatchObject({
      warc_files: (await warcFiles(rt.warcDir)).length,
      records: records.length,
      items: 1,
      item_files: KEYS.length,
      problems: 0,
      unchecked_revisits: 0,
    });
    expect(records.some((r) => r.type === 'revisit')).toBe(true);
    expect(run.code).toBe(0);
    const metrics = await readFile(join(rt.dataDir, 'verify.prom'), 'utf8');
    expect(metrics).toMatch(/^fileset_verify_problems 0$/m);
    expect(metrics).toMatch(new RegExp(`^fileset_verify_warc_records ${records.length}$`, 'm'));
  });

  it('names a flipped byte in a WARC payload (file and offset) and in an item file (item and path), exit 1', async () => {
    const [warc] = await warcFiles(rt.warcDir);
    const path = join(rt.warcDir, warc!);
    const records = await readWarc(path);
    const response = records.find(
      (r) => r.type === 'response' && r.headers.get('warc-target-uri')!.endsWith('/data.csv'),
    )!;
    // The middle of the record's gzip member: compressed payload bytes.
    const next = records[records.indexOf(response) + 1]!.offset;
    await flip(path, Math.floor((response.offset + next) / 2) + 40);
    await flip(join(rt.dataDir, 'items', ITEM, 'data2.csv'), 10);

    const run = await verify();
    const lines = run.stdout.trim().split('\n');
    const summary = JSON.parse(lines.pop()!) as { problems: number };
    expect(lines.length).toBe(summary.problems);
    expect(lines.some((l) => l.startsWith(`${warc}@${response.offset}: `))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${ITEM}/data2.csv: `) && /sha1 [0-9a-f]{40}, files.json says/.test(l))).toBe(
      true,
    );
    // Nothing else is named, but the damaged record's revisits (their original no longer reads back).
    const others = lines.filter(
      (l) => !l.startsWith(`${warc}@${response.offset}: `) && !/data2\.csv|\.blobs\//.test(l),
    );
    expect(others.every((l) => l.includes(': revisit'))).toBe(true);
    expect(run.code).toBe(1);
  });

  it('names a WARC file crash recovery set aside as corrupt', async () => {
    const name = 'FILESET-20260101000000000-00001-host-1.warc.gz.corrupt';
    await writeFile(join(rt.warcDir, name), Buffer.from([0x1f, 0x8b]));
    try {
      const run = await verify('--since', '2999-01-01');
      expect(run.stdout.split('\n')[0]).toBe(`${name}: set aside by crash recovery: no complete record`);
      expect(run.code).toBe(1);
    } finally {
      await rm(join(rt.warcDir, name));
    }
  });

  it('reads only what was written since --since, and refuses a --since that is no time', async () => {
    const future = await verify('--since', '2999-01-01');
    expect(jsonLines(future.stdout).at(-1)).toMatchObject({ warc_files: 0, items: 0, problems: 0 });
    expect(future.code).toBe(0);
    const bad = await verify('--since', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since yesterday');
    expect(parseSince('1700000000').toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(await readdir(rt.warcDir)).not.toContain('verify.prom');
  });
});
