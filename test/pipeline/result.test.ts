// Results as their real consumers read them, over result lines the pipeline produced for every
// platform site and every strategy (each run twice, so success-existing is covered too):
// - fatcat's importers (test/support/fatcat.ts): want() + parse_record() never raise, and every
//   URL they build is a capture our WARCs hold or a file of the item;
// - sandcrawler's persist: every CDX row kept (warc_path holds a `/`) and naming a real file;
// - no local path in any wire field;
// - pywb's indexer rules: every record it would index under an http(s) URL is a capture.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOfResult } from '../../src/db/persist-rows.js';
import { consumerFields } from '../../src/pipeline/result.js';
import type { FilesetResult } from '../../src/schemas/result.js';
import { NOTE_URI_PREFIX } from '../../src/stores/warc/note.js';
import {
  FatcatRaise,
  parseFilesetFileRecord,
  parseFilesetRecord,
  wantFileset,
  wantFilesetFile,
  type Parsed,
} from '../support/fatcat.js';
import { jwarcCdx } from '../support/jwarc.js';
import { consumerRuns, type ConsumerRun, type ConsumerRuns } from '../support/consumer-runs.js';
import { warcFiles, type TestRuntime } from '../support/runtime.js';
import { readWarc } from '../support/warcio.js';

let made: ConsumerRuns;
let runs: ConsumerRun[];

beforeAll(async () => {
  made = await consumerRuns();
  runs = made.runs;
}, 600_000);

afterAll(async () => {
  await made?.dispose();
});

/** url + 14-digit time of every capture jwarc's indexer finds in a run's WARCs. */
async function capturesOf(rt: TestRuntime): Promise<Set<string>> {
  const warcs = await warcFiles(rt.warcDir);
  const lines = await jwarcCdx(warcs.map((w) => join(rt.warcDir, w)));
  return new Set(lines.map((l) => `${l.timestamp}/${l.url}`));
}

/** Every URL an import built resolves to an archived copy: a WARC capture or a file of the item. */
async function expectArchivedCopies(run: ConsumerRun, result: FilesetResult, parsed: Parsed): Promise<void> {
  if ('skipped' in parsed) return;
  const captures = await capturesOf(run.rt);
  const built = [
    ...parsed.urls.map((u) => u.url),
    ...(parsed.manifest ?? []).flatMap((f) => Object.values(f.extra ?? {})),
  ];
  for (const url of built) {
    const wayback = /^https:\/\/web\.archive\.org\/web\/(\d{14})\/(.+)$/.exec(url);
    const item = /^https:\/\/archive\.org\/download\/([^/]+)\/(.*)$/.exec(url);
    if (wayback) {
      expect(captures, `${url} (${run.name})`).toContain(`${wayback[1]}/${wayback[2]}`);
    } else if (item && result.platform_name === 'archiveorg') {
      // The platform is archive.org itself: the URL names the platform's own item.
      expect(item[1]).toBe(result.platform_id);
    } else if (item) {
      expect(item[1]).toBe(result.archiveorg_item_name);
      const files = await run.rt.deps.items.listFiles(item[1]!);
      if (item[2])
        expect(
          files.map((f) => f.path),
          url,
        ).toContain(decodeURIComponent(item[2]));
      else expect(files.length, url).toBeGreaterThan(0);
    } else {
      // A platform URL (repository base or bundle, the file's original URL): the platform's own.
      expect(url).toMatch(/^https?:\/\/[^/]/);
      expect(url).not.toContain('web.archive.org');
    }
  }
}

/** Every string anywhere in a value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

describe('result lines of every platform site and strategy', () => {
  it('covers every strategy, and success and success-existing', () => {
    const strategies = new Set(runs.flatMap((r) => r.results.map((res) => res.ingest_strategy)));
    expect([...strategies].sort()).toEqual([
      'archiveorg-file',
      'archiveorg-fileset',
      'archiveorg-fileset-bundled',
      'web-file',
      'web-fileset',
      'web-fileset-bundled',
    ]);
    const statuses = new Set(runs.flatMap((r) => r.results.map((res) => res.status)));
    for (const status of ['success', 'success-file', 'success-existing']) expect(statuses).toContain(status);
  });

  it("import through fatcat's fileset importers without a raise, every URL naming an archived copy", async () => {
    let imported = 0;
    for (const run of runs) {
      for (const result of run.results) {
        const row = JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
        const label = `${run.name}: ${result.status} ${result.ingest_strategy}`;
        try {
          if (wantFileset(row)) {
            const parsed = parseFilesetRecord(row);
            // A complete multi-file success imports; only a partial one may be skipped.
            if (result.status !== 'success-partial') expect(parsed, label).not.toHaveProperty('skipped');
            await expectArchivedCopies(run, result, parsed);
            imported += 'skipped' in parsed ? 0 : 1;
          }
          if (wantFilesetFile(row)) {
            const parsed = parseFilesetFileRecord(row);
            expect(parsed, label).not.toHaveProperty('skipped');
            await expectArchivedCopies(run, result, parsed);
            imported += 1;
          }
        } catch (err) {
          if (err instanceof FatcatRaise) throw new Error(`${label}: fatcat raises ${err.message}`);
          throw err;
        }
      }
    }
    expect(imported).toBeGreaterThanOrEqual(runs.length);
  });

  it('name item files and bundles by item and path, never by a local path or a capture no WARC holds', async () => {
    for (const run of runs) {
      const captures = await capturesOf(run.rt);
      for (const result of run.results) {
        for (const text of strings(result)) {
          expect(text).not.toContain(run.rt.dataDir);
          expect(text.startsWith(tmpdir())).toBe(false);
        }
        if (result.ingest_strategy?.startsWith('archiveorg-') && result.platform_name !== 'archiveorg') {
          for (const entry of result.manifest ?? [])
            expect([entry.terminal_url ?? null, entry.terminal_dt ?? null]).toEqual([null, null]);
        }
        for (const capture of [result.fileset_file, result.fileset_bundle]) {
          const terminal = capture?.terminal;
          if (terminal) expect(captures).toContain(`${terminal.terminal_dt}/${terminal.terminal_url}`);
        }
        if (result.ingest_strategy === 'archiveorg-fileset-bundled' && result.hit) {
          expect(result.fileset_bundle?.archiveorg_bundle_path).toBe(`_bundle/${result.archiveorg_item_name}.zip`);
        }
      }
    }
  });

  it("keep every CDX row through sandcrawler's persist rule, each naming a WARC file that exists", () => {
    for (const run of runs) {
      for (const result of run.results) {
        const cdx = [result.cdx, result.revisit_cdx, result.fileset_file?.cdx, result.fileset_bundle?.cdx].filter(
          (c) => !!c,
        );
        const rows = rowsOfResult(result).rows.cdx ?? [];
        expect(rows.length).toBeGreaterThanOrEqual(cdx.length);
        for (const row of rows) {
          // sandcrawler's persist: cdx_batch = [r for r in batch if r.get("warc_path") and ("/" in r["warc_path"])]
          expect(String(row.warc_path)).toContain('/');
          expect(existsSync(join(run.rt.dataDir, String(row.warc_path))), String(row.warc_path)).toBe(true);
        }
      }
    }
  });

  it("hold no record that pywb's indexer would serve under an http(s) URL unless it is a capture", async () => {
    for (const run of runs) {
      let notes = 0;
      for (const warc of await warcFiles(run.rt.warcDir)) {
        for (const record of await readWarc(join(run.rt.warcDir, warc))) {
          // pywb's indexer (include_all) indexes every record with a WARC-Target-URI but warcinfo.
          const uri = record.headers.get('warc-target-uri') ?? '';
          if (record.type === 'metadata') {
            expect(uri.startsWith(NOTE_URI_PREFIX)).toBe(true);
            notes += 1;
          }
          if (/^https?:/.test(uri)) expect(['request', 'response', 'revisit', 'resource']).toContain(record.type);
        }
      }
      expect(notes, run.name).toBe(run.results.length);
    }
  });
});

describe('consumerFields', () => {
  const base: FilesetResult = {
    hit: true,
    status: 'success',
    request: { base_url: 'https://zenodo.org/records/1' },
    ingest_strategy: 'web-fileset',
    platform_base_url: 'https://zenodo.org/records/1',
    platform_bundle_url: null,
  };

  it('drops platform_base_url where fatcat would read a null platform_bundle_url or a missing web_base_url', () => {
    expect(consumerFields(base).platform_base_url).toBeNull();
    const bundled = { ...base, platform_bundle_url: 'https://zenodo.org/api/records/1/files-archive' };
    // web-* with no landing capture: the importer would read web_base_url_dt and raise KeyError.
    expect(consumerFields(bundled).platform_base_url).toBeNull();
    expect(consumerFields({ ...bundled, ingest_strategy: 'archiveorg-fileset' }).platform_base_url).toBe(
      base.platform_base_url,
    );
  });

  it('names the landing capture only when it is a 2xx capture the WARCs hold', () => {
    const terminal = {
      terminal_url: 'https://zenodo.org/records/1',
      terminal_dt: '20260101000000',
      terminal_status_code: 200,
    };
    const cdx = {
      surt: 'org,zenodo)/records/1',
      datetime: '20260101000000',
      url: terminal.terminal_url,
      sha1b32: 'A'.repeat(32),
      sha1hex: '0'.repeat(40),
      warc_path: 'warcs/x.warc.gz',
      warc_offset: 0,
      warc_csize: 1,
    };
    expect(consumerFields({ ...base, terminal, cdx })).toMatchObject({
      web_base_url: terminal.terminal_url,
      web_base_url_dt: terminal.terminal_dt,
    });
    expect(consumerFields({ ...base, terminal })).not.toHaveProperty('web_base_url');
    expect(consumerFields({ ...base, terminal: { ...terminal, terminal_status_code: 403 }, cdx })).not.toHaveProperty(
      'web_base_url',
    );
  });
});
