// Benchmark 1: web-fileset throughput of the real CLI against `wget --warc-file`, same files from the
// same local server, runs alternating; plus the machine's single-thread hash and gzip ceilings, the
// WARC's size per half against level 6, jwarc validation, and cdxj/verify on what the run wrote.
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { storedBlocks } from '../src/stores/warc/deflate.js';
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
  runIngest,
  scaled,
  siteVars,
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
import { responseSizes, timeReadBack, warcValidationProblems, type ReadBack } from './warc-checks.js';

/** The writer's default level, which the benchmark runs with. */
const OUR_LEVEL = 5;

const FILE_COUNT = 8;

interface Sample extends Timed {
  outBytes: number;
  serverCpuS: number;
  /** ours: compressed bytes of the response records of the text files and of the random files. */
  halves?: { text: number; random: number };
  readBack?: ReadBack;
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
  const ceiling = ceilings(scaled(256 * MiB, 16 * MiB), scaled(64 * MiB, 4 * MiB));
  return withTempDir('throughput', async (work) => {
    const files: TestFile[] = [];
    for (let i = 0; i < FILE_COUNT; i++) {
      const text = i < FILE_COUNT / 2;
      const key = text ? `table-${i}.csv` : `blob-${i}.bin`;
      log(`writing ${key} (${mb(fileSize)} MB)`);
      files.push(await writeTestFile(join(work, key), key, fileSize, text ? 'text' : 'random', i + 1));
    }
    const total = files.reduce((sum, f) => sum + f.size, 0);
    const textFiles = files.slice(0, FILE_COUNT / 2);
    const reference = await levelSixSize(textFiles);
    const site = zenodoSite(files);
    return withServer(site.routes, work, async (server) => {
      const urls = join(work, 'urls.txt');
      await writeFile(urls, site.paths.map((p) => `${server.origin}${p}\n`).join(''));
      const samples: Record<Tool, Sample[]> = { ours: [], wget: [], plain: [] };
      const invalid: string[] = [];
      for (let run = 1; run <= runs; run++) {
        log(`run ${run}/${runs}: fileset-ingest`);
        samples.ours.push(await runOurs(site.url, site.paths, server, work, run, invalid));
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
          fmt(Math.min(...walls), 2),
          fmt(total / MB / median(walls), 0),
          fmt(total / MB / Math.min(...walls), 0),
          fmt(median(s.map((x) => x.cpuS)), 1),
          fmt(median(s.map((x) => x.serverCpuS)), 1),
          mb(median(s.map((x) => x.rssBytes))),
          tool === 'plain' ? '–' : mb(median(s.map((x) => x.outBytes))),
        ];
      });
      const half = total / 2;
      const ours = samples.ours;
      const textOut = median(ours.map((s) => s.halves!.text));
      const randomOut = median(ours.map((s) => s.halves!.random));
      const sizeRows = [
        [
          'text (CSV-like)',
          mb(half),
          `${mb(textOut)} (${pct(textOut, half)})`,
          `${mb(reference)} (${pct(reference, half)})`,
          `${fmt((textOut / reference - 1) * 100, 2)}%`,
        ],
        ['random bytes', mb(half), `${mb(randomOut)} (${pct(randomOut, half)})`, '–', '–'],
      ];
      const mixedCeiling =
        availableParallelism() / (1 / ceiling.oursHash + 0.5 / ceiling.oursText + 0.5 / ceiling.stored);
      const oneFileCeiling = 1 / (1 / ceiling.oursHash + 1 / ceiling.stored);
      const oursMedian = total / MB / median(ours.map((s) => s.wallS));
      const readBackRows = ours.map((s, i) => [
        String(i + 1),
        fmt(s.readBack!.cdxj.wallS, 2),
        fmt(s.readBack!.verify.wallS, 2),
      ]);
      const markdown = [
        `${FILE_COUNT} files × ${mb(fileSize)} MB = ${mb(total)} MB (half CSV-like text, half random bytes), ` +
          `${runs} run${runs === 1 ? '' : 's'} of each, alternating. MB = 10^6 bytes; MB/s = file bytes / wall seconds.`,
        '',
        markdownTable(
          [
            '',
            'median s',
            'min s',
            'MB/s (median)',
            'MB/s (best)',
            'CPU s (median)',
            'server CPU s',
            'peak RSS MB',
            'output MB',
          ],
          rows,
        ),
        '',
        `Single-thread ceilings of this machine (Node crypto on ${mb(ceiling.hashBytes)} MB in memory):`,
        '',
        markdownTable(['hash', 'MB/s'], ceiling.hashRows),
        '',
        `gzip (zlib deflate, 1 MiB blocks, one thread) on ${mb(ceiling.gzipBytes)} MB of each kind:`,
        '',
        markdownTable(['level', 'text MB/s', 'text size', 'random MB/s', 'random size'], ceiling.gzipRows),
        '',
        `Stored deflate blocks with CRC-32 (what a block that does not compress costs): ${fmt(ceiling.stored, 0)} MB/s.`,
        '',
        `Ceiling for the mixed set on ${availableParallelism()} cores, counting only the unavoidable CPU work per byte ` +
          `(our four hashes, level ${OUR_LEVEL} on the text half, stored blocks on the random half, spread over every core): ` +
          `${fmt(mixedCeiling, 0)} MB/s; ours reached ${fmt(oursMedian, 0)} MB/s median, ${pct(oursMedian, mixedCeiling)} of it. ` +
          `For one random file, whose hashes run on one thread: ${fmt(oneFileCeiling, 0)} MB/s.`,
        '',
        `WARC size per half (response records, from the capture index; median of the runs) against the level-6 ` +
          `reference (each text file deflated at level 6 in 1 MiB blocks primed with the previous 32 KiB, as the ` +
          `writer did before adaptive compression), MB:`,
        '',
        markdownTable(['half', 'input', 'ours', 'level 6', 'ours vs level 6'], sizeRows),
        '',
        'Every WARC of our runs was validated with jwarc (exit code, stderr and ERROR lines checked). Reading the ' +
          'archive back on the same data dir and database, wall seconds:',
        '',
        markdownTable(['run', '`cdxj --output /dev/null`', '`verify`'], readBackRows),
      ].join('\n');
      return { markdown, invalid };
    });
  });
}

async function runOurs(
  url: string,
  paths: string[],
  server: FileServer,
  work: string,
  run: number,
  invalid: string[],
): Promise<Sample> {
  const dataDir = join(work, `ours-${run}`);
  try {
    return await withDatabase('postgres', async (databaseUrl) => {
      const cpu0 = await server.cpuSeconds();
      const vars = siteVars(server, databaseUrl);
      const result = await runIngest(url, dataDir, vars);
      const serverCpuS = (await server.cpuSeconds()) - cpu0;
      if (result.status !== 'success')
        invalid.push(`fileset-ingest run ${run}: status ${result.status}\n${result.stderr}`);
      for (const problem of await warcValidationProblems(join(dataDir, 'warcs')))
        invalid.push(`run ${run}: jwarc: ${problem}`);
      // Captures are recorded under the dataset's own URLs (https://zenodo.org/...), before the rewrite.
      const sizes = new Map([...(await responseSizes(databaseUrl!))].map(([u, size]) => [new URL(u).pathname, size]));
      const sizeOf = (p: string) => sizes.get(p) ?? NaN;
      const half = (text: boolean) =>
        paths.filter((p) => p.endsWith('.csv') === text).reduce((sum, p) => sum + sizeOf(p), 0);
      const readBack = await timeReadBack(dataDir, vars);
      if (readBack.cdxj.code !== 0) invalid.push(`run ${run}: cdxj exited ${readBack.cdxj.code}`);
      if (readBack.verify.code !== 0) invalid.push(`run ${run}: verify exited ${readBack.verify.code}`);
      return {
        ...result,
        outBytes: result.warcBytes,
        serverCpuS,
        halves: { text: half(true), random: half(false) },
        readBack,
      };
    });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function runWget(
  server: FileServer,
  work: string,
  urls: string,
  run: number,
  warc: boolean,
  invalid: string[],
): Promise<Sample> {
  const dir = join(work, `wget-${run}`);
  const args = warc ? [`--warc-file=${join(dir, 'wget')}`, `--warc-tempdir=${dir}`] : [];
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const cpu0 = await server.cpuSeconds();
    const timed = await timedRun(
      'wget',
      ['--no-verbose', ...args, '-i', urls, '-O', '/dev/null'],
      process.env,
      join(work, 'time'),
    );
    const outBytes = await dirBytes(dir);
    if (timed.code !== 0 || (warc && outBytes === 0))
      invalid.push(`wget run ${run} exited ${timed.code}\n${timed.stderr}`);
    return { ...timed, outBytes, serverCpuS: (await server.cpuSeconds()) - cpu0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const pct = (part: number, whole: number): string => `${fmt((part / whole) * 100, 1)}%`;

/** Bytes the text files take deflated at level 6 in 1 MiB blocks primed with the previous 32 KiB. */
async function levelSixSize(files: TestFile[]): Promise<number> {
  log('measuring the level-6 reference size of the text files');
  let out = 0;
  for (const file of files) {
    const data = await readFile(file.path);
    for (let at = 0; at < data.length; at += MiB) {
      const dictionary = at > 0 ? data.subarray(at - 32 * 1024, at) : undefined;
      out += deflateRawSync(data.subarray(at, at + MiB), { level: 6, ...(dictionary ? { dictionary } : {}) }).length;
    }
  }
  return out;
}

/** Single-thread MB/s of each hash, of the hash set each tool computes, and of gzip by level. */
function ceilings(hashBytes: number, gzipBytes: number) {
  log('measuring hash and gzip ceilings');
  const random = randomFillSync(Buffer.allocUnsafe(hashBytes));
  const speed = (bytes: number, work: () => void) => {
    const start = process.hrtime.bigint();
    work();
    return bytes / MB / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  const hash = (algorithm: string) =>
    speed(random.length, () => {
      const h = createHash(algorithm);
      for (let at = 0; at < random.length; at += MiB) h.update(random.subarray(at, at + MiB));
      h.digest();
    });
  const [md5, sha1, sha256] = [hash('md5'), hash('sha1'), hash('sha256')];
  const serially = (...speeds: number[]) => fmt(1 / speeds.reduce((sum, s) => sum + 1 / s, 0), 0);
  const hashRows = [
    ['md5', fmt(md5, 0)],
    ['sha1', fmt(sha1, 0)],
    ['sha256', fmt(sha256, 0)],
    [
      'ours: sha1 ×2 (WARC payload + block digests) + md5 + sha256, one after the other',
      serially(sha1, sha1, md5, sha256),
    ],
    ['wget: sha1 ×2 (WARC payload + block digests)', serially(sha1, sha1)],
  ];
  // 1 MiB blocks, as the WARC writer cuts them.
  const gzip = (data: Buffer, level: number) => {
    let out = 0;
    const rate = speed(data.length, () => {
      for (let at = 0; at < data.length; at += MiB)
        out += deflateRawSync(data.subarray(at, at + MiB), { level }).length;
    });
    return [fmt(rate, 0), `${fmt((out / data.length) * 100, 1)}%`];
  };
  const text = new CsvText(99).next(gzipBytes);
  const randomPart = random.subarray(0, gzipBytes);
  const levelNotes: Record<number, string> = {
    0: ' (stored)',
    [OUR_LEVEL]: ' (ours, on what compresses)',
    9: ' (wget)',
  };
  const gzipRows = [0, 1, OUR_LEVEL, 6, 9].map((level) => [
    `${level}${levelNotes[level] ?? ''}`,
    ...gzip(text, level),
    ...gzip(randomPart, level),
  ]);
  const stored = speed(randomPart.length, () => {
    let crc = 0;
    for (let at = 0; at < randomPart.length; at += MiB) {
      const block = randomPart.subarray(at, at + MiB);
      crc = crc32(block, crc);
      storedBlocks(block, false);
    }
  });
  const oursText = speed(text.length, () => {
    for (let at = 0; at < text.length; at += MiB) deflateRawSync(text.subarray(at, at + MiB), { level: OUR_LEVEL });
  });
  const oursHash = 1 / [sha1, sha1, md5, sha256].reduce((sum, s) => sum + 1 / s, 0);
  return { hashRows, gzipRows, hashBytes, gzipBytes, stored, oursText, oursHash };
}
