// Benchmark 6: `fileset-ingest verify` on the throughput benchmark's WARCs: the same 1 GiB dataset
// (8 files, half CSV-like text, half random bytes) archived once with web-fileset, then audited
// BENCH_RUNS times. Payload MB/s per wall second and per CPU second (target: 200 MB/s of payload on
// one core; verify is single-threaded, so CPU seconds are one core's seconds).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  envNumber,
  fmt,
  log,
  markdownTable,
  mb,
  MB,
  median,
  MiB,
  dirBytes,
  runCli,
  runIngest,
  scaled,
  siteVars,
  withDatabase,
  withServer,
  withTempDir,
  writeMixedFiles,
  zenodoSite,
  type BenchReport,
} from './lib.js';

const FILE_COUNT = 8;

export async function verifyBench(): Promise<BenchReport> {
  const fileSize = scaled(128 * MiB);
  const runs = Math.round(envNumber('BENCH_RUNS', 3));
  const invalid: string[] = [];
  return withTempDir('verify', async (work) => {
    const files = await writeMixedFiles(work, FILE_COUNT, fileSize);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const fileset = zenodoSite(files);
    const dataDir = join(work, 'data');
    await withServer(fileset.routes, work, async (server) => {
      log('archiving the dataset once (web-fileset)');
      const ingest = await withDatabase('postgres', (db) => runIngest(fileset.url, dataDir, siteVars(server, db)));
      if (ingest.status !== 'success') invalid.push(`ingest: status ${ingest.status}\n${ingest.stderr}`);
    });
    for (const f of files) await rm(f.path, { force: true });
    const warcBytes = await dirBytes(join(dataDir, 'warcs'));

    const walls: number[] = [];
    const cpus: number[] = [];
    const rss: number[] = [];
    let payload = 0;
    for (let run = 1; run <= runs; run++) {
      log(`run ${run}/${runs}: fileset-ingest verify`);
      const result = await runCli(['verify'], dataDir, {});
      const summary = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as {
        problems?: number;
        payload_bytes?: number;
      };
      if (result.code !== 0 || summary.problems !== 0)
        invalid.push(`verify run ${run}: exit ${result.code}\n${result.stdout}`);
      payload = summary.payload_bytes ?? 0;
      walls.push(result.wallS);
      cpus.push(result.cpuS);
      rss.push(result.rssBytes);
    }
    if (payload < total) invalid.push(`verify read ${payload} payload bytes, the dataset has ${total}`);
    const markdown = [
      `${FILE_COUNT} files, ${mb(total)} MB of payload in ${mb(warcBytes)} MB of WARC (gzip), ${runs} runs; wall and CPU`,
      'time include the process start.',
      '',
      markdownTable(
        [
          'tool',
          'wall s (median)',
          'payload MB/s (wall)',
          'CPU s (median)',
          'payload MB/s per CPU second',
          'peak RSS MB',
        ],
        [
          [
            '`fileset-ingest verify`',
            fmt(median(walls), 2),
            fmt(payload / MB / median(walls), 0),
            fmt(median(cpus), 2),
            fmt(payload / MB / median(cpus), 0),
            mb(median(rss)),
          ],
        ],
      ),
    ].join('\n');
    return { markdown, invalid };
  });
}
