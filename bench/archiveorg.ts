// Benchmark 3: the archiveorg backend into the fs item store: throughput of archiveorg-fileset on a
// 2 GiB dataset (8 files) against `wget -O /dev/null` on the same files, and peak RSS of
// archiveorg-file on one 2 GiB file (target < 200 MB, as for the web backend).
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fmt,
  GiB,
  log,
  markdownTable,
  mb,
  MB,
  median,
  MiB,
  runIngest,
  scaled,
  timedRun,
  withDatabase,
  withServer,
  withTempDir,
  writeMixedFiles,
  writeTestFile,
  zenodoSite,
  envNumber,
  type BenchReport,
  type FileServer,
  type IngestRun,
} from './lib.js';

const FILE_COUNT = 8;
const RSS_LIMIT = 200 * MB;

/** The CLI sent to the zenodoSite(), every file beyond the `web` thresholds (at any BENCH_SCALE): the item store. */
const itemVars = (server: FileServer, databaseUrl: string | undefined, dataDir: string) => ({
  FILESET_DATABASE_URL: databaseUrl,
  FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
  FILESET_ITEM_STORE: `fs://${join(dataDir, 'items')}`,
  FILESET_WEB_MAX_FILE_SIZE: '1',
});

/** Bytes the fs item store lists in its items' files.json (what was stored, read as an operator would). */
async function storedBytes(root: string): Promise<number> {
  let total = 0;
  for (const item of await readdir(root).catch(() => [] as string[])) {
    if (item.startsWith('.')) continue;
    const files = JSON.parse(await readFile(join(root, item, '.fileset', 'files.json'), 'utf8')) as Array<{
      size: number;
    }>;
    total += files.reduce((sum, f) => sum + f.size, 0);
  }
  return total;
}

export async function archiveorgBench(): Promise<BenchReport> {
  const fileSize = scaled(256 * MiB);
  const bigSize = scaled(2 * GiB);
  const runs = Math.round(envNumber('BENCH_RUNS', 3));
  const invalid: string[] = [];
  return withTempDir('archiveorg', async (work) => {
    const files = await writeMixedFiles(work, FILE_COUNT, fileSize);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const fileset = zenodoSite(files);
    const ours: IngestRun[] = [];
    const plain: number[] = [];
    await withServer(fileset.routes, work, async (server) => {
      const urls = join(work, 'urls.txt');
      await writeFile(urls, fileset.paths.map((p) => `${server.origin}${p}\n`).join(''));
      for (let run = 1; run <= runs; run++) {
        log(`run ${run}/${runs}: fileset-ingest (archiveorg-fileset, fs item store)`);
        const dataDir = join(work, `fileset-${run}`);
        try {
          const result = await withDatabase('postgres', (db) =>
            runIngest(fileset.url, dataDir, itemVars(server, db, dataDir)),
          );
          if (result.status !== 'success')
            invalid.push(`archiveorg-fileset run ${run}: status ${result.status}\n${result.stderr}`);
          const stored = await storedBytes(join(dataDir, 'items'));
          if (stored !== total)
            invalid.push(`archiveorg-fileset run ${run}: ${stored} bytes in the item store, expected ${total}`);
          ours.push(result);
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
        log(`run ${run}/${runs}: wget -O /dev/null`);
        const wget = await timedRun(
          'wget',
          ['-q', '-O', '/dev/null', '-i', urls],
          process.env,
          join(work, `time-wget-${run}`),
        );
        if (wget.code !== 0) invalid.push(`wget run ${run} exited ${wget.code}`);
        plain.push(wget.wallS);
      }
    });
    for (const f of files) await rm(f.path, { force: true });

    log(`writing big.bin (${mb(bigSize)} MB of random bytes)`);
    const big = await writeTestFile(join(work, 'big.bin'), 'big.bin', bigSize, 'random', 42);
    const single = zenodoSite([big]);
    let rssRun: IngestRun | undefined;
    await withServer(single.routes, work, async (server) => {
      const dataDir = join(work, 'file');
      log('archiveorg-file on one large file');
      rssRun = await withDatabase('postgres', (db) => runIngest(single.url, dataDir, itemVars(server, db, dataDir)));
      if (rssRun.status !== 'success-file') invalid.push(`archiveorg-file: status ${rssRun.status}\n${rssRun.stderr}`);
      await rm(dataDir, { recursive: true, force: true });
    });
    await rm(big.path, { force: true });

    const walls = ours.map((r) => r.wallS);
    const rows = [
      [
        '`fileset-ingest ingest` (archiveorg-fileset → fs item store, PostgreSQL)',
        fmt(median(walls), 2),
        fmt(Math.min(...walls), 2),
        fmt(total / MB / median(walls), 0),
        fmt(median(ours.map((r) => r.cpuS)), 1),
        mb(median(ours.map((r) => r.rssBytes))),
      ],
      [
        '`wget -q -O /dev/null` (no hashing, no store: server + loopback ceiling)',
        fmt(median(plain), 2),
        fmt(Math.min(...plain), 2),
        fmt(total / MB / median(plain), 0),
        '–',
        '–',
      ],
    ];
    const rss = rssRun?.rssBytes ?? NaN;
    const markdown = [
      `${FILE_COUNT} files × ${mb(fileSize)} MB = ${mb(total)} MB (half CSV-like text, half random), \`FILESET_WEB_MAX_FILE_SIZE=1\` ` +
        `(so the chooser picks \`archiveorg-fileset\` at any scale), ${runs} run${runs === 1 ? '' : 's'}. Each file is downloaded into the ` +
        'working directory with md5, sha1 and sha256 computed in one pass, verified, then put into the fs item store ' +
        '(hard-linked into its content store and read once more to check its sha1). MB = 10^6 bytes.',
      '',
      markdownTable(['', 'median s', 'min s', 'MB/s (median)', 'CPU s (median)', 'peak RSS MB'], rows),
      '',
      `One ${mb(bigSize)} MB file (\`archiveorg-file\`): ${fmt(rssRun?.wallS ?? NaN, 1)} s, ${fmt(bigSize / MB / (rssRun?.wallS ?? NaN), 0)} MB/s, ` +
        `peak RSS ${mb(rss)} MB.`,
      '',
      markdownTable(
        ['target', 'measured', 'verdict'],
        [
          [
            `peak RSS on a ${mb(bigSize)} MB file < ${mb(RSS_LIMIT)} MB`,
            `${mb(rss)} MB`,
            rss < RSS_LIMIT ? 'PASS' : 'FAIL',
          ],
        ],
      ),
    ].join('\n');
    return { markdown, invalid };
  });
}
