// Benchmark 2: peak RSS of the CLI archiving a one-file dataset (web-file), with PostgreSQL and with
// the embedded PGlite, for a 2 GiB file and a 1 MB file; checked against the project's targets.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fmt,
  GiB,
  log,
  markdownTable,
  mb,
  MB,
  runCli,
  runIngest,
  scaled,
  withDatabase,
  withServer,
  withTempDir,
  writeTestFile,
  zenodoSite,
  type BenchReport,
  type IngestRun,
} from './lib.js';

type Db = 'postgres' | 'pglite';
const DB_LABEL: Record<Db, string> = { postgres: 'PostgreSQL', pglite: 'embedded PGlite' };
const PG_LIMIT = 200 * MB;
const EMBEDDED_EXTRA = 50 * MB;

interface Measured {
  db: Db;
  size: number;
  run: IngestRun;
}

export async function rssBench(): Promise<BenchReport> {
  const big = scaled(2 * GiB);
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
              const run = await withDatabase(db, async (databaseUrl) => {
                const vars = {
                  FILESET_DATABASE_URL: databaseUrl,
                  FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
                  FILESET_WEB_MAX_FILE_SIZE: '1TiB',
                  FILESET_WEB_MAX_TOTAL_SIZE: '1TiB',
                };
                // Not measured: the first start of PGlite (initdb) peaks far above any ingest and
                // would hide the ingest's own peak; it is reported on its own line.
                const init = await runCli(['db', 'migrate'], dataDir, vars);
                if (init.code !== 0) invalid.push(`db migrate with ${db} exited ${init.code}\n${init.stderr}`);
                if (db === 'pglite') firstStarts.push(init.rssBytes);
                return runIngest(site.url, dataDir, vars);
              });
              if (run.status !== 'success-file') invalid.push(`${key} with ${db}: status ${run.status}\n${run.stderr}`);
              measured.push({ db, size, run });
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
  const rows = measured.map(({ db, size, run }) => [
    DB_LABEL[db],
    `${mb(size)} MB`,
    mb(run.rssBytes),
    fmt(run.wallS, 1),
    fmt(size / MB / run.wallS, 0),
    fmt(run.cpuS, 1),
    run.status,
  ]);
  rows.push(['embedded PGlite, first start on an empty data dir (`db migrate`: initdb + migrations)', '–', mb(Math.max(...firstStarts)), '–', '–', '–', '–']);
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
  const markdown = [
    `One-file Zenodo-shaped dataset (strategy \`web-file\`), random bytes, one run each; peak RSS of the CLI ` +
      `process from \`/usr/bin/time -f %M\`. Before each measured ingest, \`fileset-ingest db migrate\` ` +
      `creates the embedded database (or migrates the fresh PostgreSQL one). MB = 10^6 bytes.`,
    '',
    markdownTable(['database', 'file', 'peak RSS MB', 'wall s', 'MB/s', 'CPU s', 'status'], rows),
    '',
    markdownTable(['target', 'measured', 'verdict'], targets),
  ].join('\n');
  return { markdown, invalid };
}
