// Benchmark 2: peak RSS of the CLI archiving a one-file dataset (web-file), with PostgreSQL and with
// the embedded PGlite, for a 2 GiB file and a 1 MB file; checked against the project's targets.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  dirBytes,
  fmt,
  GiB,
  log,
  markdownTable,
  mb,
  MB,
  runCli,
  runIngest,
  scaled,
  siteVars,
  withDatabase,
  withServer,
  withTempDir,
  writeTestFile,
  zenodoSite,
  type BenchReport,
  type IngestRun,
} from './lib.js';
import { warcValidationProblems } from './warc-checks.js';

type Db = 'postgres' | 'pglite';
const DB_LABEL: Record<Db, string> = { postgres: 'PostgreSQL', pglite: 'embedded PGlite' };
const PG_LIMIT = 200 * MB;
const EMBEDDED_EXTRA = 50 * MB;
/**
 * The large file is one byte short of 2 GiB: jwarc reads the HTTP Content-Length inside a record
 * as a Java int and refuses 2^31 ("failed to read HTTP Content-Length header: 2147483648"), and
 * every WARC the benchmark writes must pass its validation.
 */
const JWARC_MAX_HTTP_LENGTH = 2 ** 31 - 1;

interface Measured {
  db: Db;
  size: number;
  run: IngestRun;
  /** Seconds from the start until the WARC held 99 % of its final bytes: the body is downloaded. */
  downloadS: number | undefined;
}

/**
 * Samples the WARC dir while an ingest runs; stop() tells when it first held 99 % of what it held
 * at the end: the payload is downloaded and written by then (it goes into its WARC file as it
 * arrives), what follows is the records around it, the capture index and the fsync.
 */
function watchWarcGrowth(dataDir: string): () => Promise<number | undefined> {
  const start = process.hrtime.bigint();
  const samples: Array<{ s: number; bytes: number }> = [];
  const timer = setInterval(() => {
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    void dirBytes(join(dataDir, 'warcs')).then((bytes) => samples.push({ s, bytes }));
  }, 100);
  return async () => {
    clearInterval(timer);
    const final = await dirBytes(join(dataDir, 'warcs'));
    return samples.sort((a, b) => a.s - b.s).find((sample) => sample.bytes >= 0.99 * final)?.s;
  };
}

export async function rssBench(): Promise<BenchReport> {
  const big = Math.min(scaled(2 * GiB), JWARC_MAX_HTTP_LENGTH);
  const small = MB;
  const invalid: string[] = [];
  const measured: Measured[] = [];
  const firstStarts: number[] = [];
  await withTempDir('rss', async (work) => {
    for (const size of [small, big]) {
      const key = size === small ? 'small.bin' : 'large.bin';
      log(`writing ${key} (${mb(size)} MB of random bytes)`);
      const file = await writeTestFile(join(work, key), key, size, 'random', 7);
      try {
        const site = zenodoSite([file]);
        await withServer(site.routes, work, async (server) => {
          for (const db of ['postgres', 'pglite'] as const) {
            log(`${key} with ${DB_LABEL[db]}`);
            const dataDir = join(work, `data-${db}-${key}`);
            try {
              const { run, downloadS } = await withDatabase(db, async (databaseUrl) => {
                const vars = siteVars(server, databaseUrl);
                // Not measured: the first start of PGlite (initdb) peaks far above any ingest and
                // would hide the ingest's own peak; it is reported on its own line.
                const init = await runCli(['db', 'migrate'], dataDir, vars);
                if (init.code !== 0) invalid.push(`db migrate with ${db} exited ${init.code}\n${init.stderr}`);
                if (db === 'pglite') firstStarts.push(init.rssBytes);
                const stop = watchWarcGrowth(dataDir);
                const run = await runIngest(site.url, dataDir, vars);
                const downloadS = await stop();
                for (const problem of await warcValidationProblems(join(dataDir, 'warcs'))) {
                  invalid.push(`${key} with ${db}: jwarc: ${problem}`);
                }
                return { run, downloadS };
              });
              if (run.status !== 'success-file') invalid.push(`${key} with ${db}: status ${run.status}\n${run.stderr}`);
              measured.push({ db, size, run, downloadS });
            } finally {
              await rm(dataDir, { recursive: true, force: true });
            }
          }
        });
      } finally {
        await rm(file.path, { force: true });
      }
    }
  });

  const rss = (db: Db, size: number) => measured.find((m) => m.db === db && m.size === size)?.run.rssBytes ?? NaN;
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const rows = measured.map(({ db, size, run, downloadS }) => [
    DB_LABEL[db],
    `${mb(size)} MB`,
    mb(run.rssBytes),
    fmt(run.wallS, 1),
    fmt(size / MB / run.wallS, 0),
    fmt(run.cpuS, 1),
    size === small || downloadS === undefined ? '–' : `${fmt(downloadS, 1)} + ${fmt(run.wallS - downloadS, 1)}`,
    run.status,
  ]);
  rows.push([
    'embedded PGlite, first start on an empty data dir (`db migrate`: initdb + migrations)',
    '–',
    mb(Math.max(...firstStarts)),
    '–',
    '–',
    '–',
    '–',
    '–',
  ]);
  const pgBig = rss('postgres', big);
  const embeddedExtra = rss('pglite', big) - rss('pglite', small);
  const targets = [
    [`PostgreSQL, ${mb(big)} MB file: peak RSS < ${mb(PG_LIMIT)} MB`, `${mb(pgBig)} MB`, verdict(pgBig < PG_LIMIT)],
    [
      `embedded, ${mb(big)} MB file: ≤ ${mb(EMBEDDED_EXTRA)} MB above the same run on a ${mb(small)} MB file`,
      `${embeddedExtra >= 0 ? '+' : ''}${mb(embeddedExtra)} MB`,
      verdict(embeddedExtra <= EMBEDDED_EXTRA),
    ],
  ];
  const phases =
    'download + rest: seconds until the WARC directory held 99 % of its final bytes (download, hashing and ' +
    'compression, which overlap: a payload at least the rollover size is deflated straight into a WARC file of ' +
    'its own as it arrives), and the rest of the run (the records around the payload, capture index, the ' +
    'fsync at close), from sampling the WARC directory every 100 ms. Every WARC written is validated with jwarc ' +
    'afterwards (not timed).';
  const markdown = [
    `One-file Zenodo-shaped dataset (strategy \`web-file\`), random bytes, one run each (the large file is ` +
      `2^31 − 1 bytes at full scale, the most jwarc reads in an HTTP Content-Length); peak RSS of the CLI ` +
      `process from \`/usr/bin/time -f %M\`. Before each measured ingest, \`fileset-ingest db migrate\` ` +
      `creates the embedded database (or migrates the fresh PostgreSQL one). MB = 10^6 bytes.`,
    '',
    markdownTable(['database', 'file', 'peak RSS MB', 'wall s', 'MB/s', 'CPU s', 'download + rest s', 'status'], rows),
    '',
    phases,
    '',
    markdownTable(['target', 'measured', 'verdict'], targets),
  ].join('\n');
  return { markdown, invalid };
}
