// Benchmark 1: web-fileset throughput of the real CLI against `wget --warc-file`, same files from the
// same local server, runs alternating; plus the machine's single-thread hash and gzip ceilings.
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import {
  CsvText,
  dirBytes,
  envNumber,
  fmt,
  log,
  markdownTable,
  mb,
  MB,
  median,
  MiB,
  min,
  runIngest,
  scaled,
  timedRun,
  withDatabase,
  withServer,
  withTempDir,
  writeTestFile,
  zenodoSite,
  type BenchReport,
  type FileServer,
  type TestFile,
  type Timed,
} from './lib.js';

const FILE_COUNT = 8;

interface Sample extends Timed {
  outBytes: number;
  serverCpuS: number;
}

type Tool = 'ours' | 'wget' | 'plain';
const LABELS: Record<Tool, string> = {
  ours: '`fileset-ingest ingest` (web-fileset, PostgreSQL)',
  wget: '`wget --warc-file` (sequential)',
  plain: '`wget -O /dev/null` (no WARC: server + loopback ceiling)',
};

export async function throughputBench(): Promise<BenchReport> {
  const fileSize = scaled(128 * MiB);
  const runs = Math.round(envNumber('BENCH_RUNS', 3));
  const ceiling = hashCeiling(scaled(256 * MiB, 16 * MiB), scaled(64 * MiB, 4 * MiB));
  return withTempDir('throughput', async (work) => {
    const files: TestFile[] = [];
    for (let i = 0; i < FILE_COUNT; i++) {
      const text = i < FILE_COUNT / 2;
      const key = text ? `table-${i}.csv` : `blob-${i}.bin`;
      log(`writing ${key} (${mb(fileSize)} MB)`);
      files.push(await writeTestFile(join(work, key), key, fileSize, text ? 'text' : 'random', i + 1));
    }
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const site = zenodoSite(files);
    return withServer(site.routes, work, async (server) => {
      const urls = join(work, 'urls.txt');
      await writeFile(urls, site.paths.map((p) => `${server.origin}${p}\n`).join(''));
      const samples: Record<Tool, Sample[]> = { ours: [], wget: [], plain: [] };
      const invalid: string[] = [];
      for (let run = 1; run <= runs; run++) {
        log(`run ${run}/${runs}: fileset-ingest`);
        const ours = await runOurs(site.url, server, work, run);
        if (ours.invalid) invalid.push(ours.invalid);
        samples.ours.push(ours.sample);
        log(`run ${run}/${runs}: wget --warc-file`);
        samples.wget.push(await runWget(server, work, urls, run, true, invalid));
        log(`run ${run}/${runs}: wget -O /dev/null`);
        samples.plain.push(await runWget(server, work, urls, run, false, invalid));
      }
      const rows = (Object.keys(samples) as Tool[]).map((tool) => {
        const s = samples[tool];
        const walls = s.map((x) => x.wallS);
        return [
          LABELS[tool],
          fmt(median(walls), 2),
          fmt(min(walls), 2),
          fmt(total / MB / median(walls), 0),
          fmt(total / MB / min(walls), 0),
          fmt(median(s.map((x) => x.cpuS)), 1),
          fmt(median(s.map((x) => x.serverCpuS)), 1),
          mb(median(s.map((x) => x.rssBytes))),
          tool === 'plain' ? '–' : mb(median(s.map((x) => x.outBytes))),
        ];
      });
      const markdown = [
        `${FILE_COUNT} files × ${mb(fileSize)} MB = ${mb(total)} MB (half CSV-like text, half random bytes), ` +
          `${runs} runs each, alternating. MB = 10^6 bytes; MB/s = file bytes / wall seconds.`,
        '',
        markdownTable(
          ['', 'median s', 'min s', 'MB/s (median)', 'MB/s (best)', 'CPU s (median)', 'server CPU s', 'peak RSS MB', 'output MB'],
          rows,
        ),
        '',
        `Single-thread ceilings of this machine (Node crypto / zlib, ${mb(ceiling.hashBytes)} MB in memory for hashes, ` +
          `${mb(ceiling.gzipBytes)} MB for gzip):`,
        '',
        markdownTable(['operation', 'MB/s'], ceiling.rows),
      ].join('\n');
      return { markdown, invalid };
    });
  });
}

async function runOurs(url: string, server: FileServer, work: string, run: number) {
  const dataDir = join(work, `ours-${run}`);
  try {
    return await withDatabase('postgres', async (databaseUrl) => {
      const cpu0 = await server.cpuSeconds();
      const result = await runIngest(url, dataDir, {
        FILESET_DATABASE_URL: databaseUrl,
        FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
        FILESET_WEB_MAX_FILE_SIZE: '1TiB',
        FILESET_WEB_MAX_TOTAL_SIZE: '1TiB',
      });
      const sample: Sample = { ...result, outBytes: result.warcBytes, serverCpuS: (await server.cpuSeconds()) - cpu0 };
      const invalid =
        result.status === 'success' ? undefined : `fileset-ingest run ${run}: status ${result.status}\n${result.stderr}`;
      return { sample, invalid };
    });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function runWget(server: FileServer, work: string, urls: string, run: number, warc: boolean, invalid: string[]) {
  const dir = join(work, `wget-${run}`);
  const args = warc ? [`--warc-file=${join(dir, 'wget')}`, `--warc-tempdir=${dir}`] : [];
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const cpu0 = await server.cpuSeconds();
    const timed = await timedRun('wget', ['--no-verbose', ...args, '-i', urls, '-O', '/dev/null'], process.env, join(work, 'time'));
    if (timed.code !== 0) invalid.push(`wget run ${run} exited ${timed.code}\n${timed.stderr}`);
    return { ...timed, outBytes: await dirBytes(dir), serverCpuS: (await server.cpuSeconds()) - cpu0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** MB/s of each hash (and of the hash sets each tool computes) and of gzip -6/-9, on one thread. */
function hashCeiling(hashBytes: number, gzipBytes: number) {
  log('measuring hash and gzip ceilings');
  const random = randomFillSync(Buffer.allocUnsafe(hashBytes));
  const speed = (work: () => void, bytes: number) => {
    const start = process.hrtime.bigint();
    work();
    return bytes / MB / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  const hash = (algorithm: string) =>
    speed(() => {
      const h = createHash(algorithm);
      for (let at = 0; at < random.length; at += MiB) h.update(random.subarray(at, at + MiB));
      h.digest();
    }, random.length);
  const md5 = hash('md5');
  const sha1 = hash('sha1');
  const sha256 = hash('sha256');
  const combined = (...speeds: number[]) => 1 / speeds.reduce((sum, s) => sum + 1 / s, 0);
  const text = new CsvText(99).next(gzipBytes);
  const randomPart = random.subarray(0, gzipBytes);
  const gzip = (data: Buffer, level: number) =>
    speed(() => {
      for (let at = 0; at < data.length; at += MiB) deflateRawSync(data.subarray(at, at + MiB), { level });
    }, data.length);
  const ratio = deflateRawSync(text.subarray(0, 8 * MiB), { level: 6 }).length / Math.min(text.length, 8 * MiB);
  const rows: string[][] = [
    ['md5', fmt(md5, 0)],
    ['sha1', fmt(sha1, 0)],
    ['sha256', fmt(sha256, 0)],
    ['ours: sha1 ×2 (payload + block digests) + md5 + sha256, serially', fmt(combined(sha1, sha1, md5, sha256), 0)],
    ['wget: sha1 ×2 (payload + block digests)', fmt(combined(sha1, sha1), 0)],
    [`gzip -6 on the CSV-like text (compresses to ${fmt(ratio * 100, 0)}%)`, fmt(gzip(text, 6), 0)],
    ['gzip -6 on random bytes', fmt(gzip(randomPart, 6), 0)],
    ['gzip -9 on the CSV-like text (wget\'s level)', fmt(gzip(text, 9), 0)],
    ['gzip -9 on random bytes', fmt(gzip(randomPart, 9), 0)],
  ];
  return { rows, hashBytes, gzipBytes };
}
