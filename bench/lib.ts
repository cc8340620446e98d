// Helpers shared by the benchmarks: sizes, generated test files, a Zenodo-shaped site served by a
// separate process, timed child processes (wall time, CPU time, peak RSS), databases, tables.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { createTestDatabase } from '../test/support/database.js';

export const REPO = resolve(import.meta.dirname, '..');
export const CLI = join(REPO, 'bin', 'fileset-ingest.js');
export const MB = 1e6;
export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** `invalid`: runs that did not end as they must (e.g. status not `success`): the figures are void. */
export interface BenchReport {
  markdown: string;
  invalid: string[];
}

export function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${text}: expected a positive number`);
  return value;
}

/** BENCH_SCALE multiplies every generated size: 1 is the full benchmark, 0.01 a quick check. */
export const benchScale = (): number => envNumber('BENCH_SCALE', 1);
export const scaled = (bytes: number, min = MiB): number => Math.max(min, Math.round(bytes * benchScale()));

export const log = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);
export const fmt = (value: number, digits = 1): string => value.toFixed(digits);
export const mb = (bytes: number): string => fmt(bytes / MB);
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  return (
    `${availableParallelism()} cores (${model}), ${fmt(totalmem() / GiB, 0)} GiB RAM, Node ${process.version}, ` +
    `load average ${loadavg()
      .map((l) => fmt(l, 2))
      .join(' ')} at start, BENCH_SCALE=${benchScale()}`
  );
}

// Cleanup that must also happen on Ctrl-C: temp dirs, databases, the file server.
const cleanups = new Set<() => Promise<unknown>>();
export async function withCleanup<T>(cleanup: () => Promise<unknown>, body: () => Promise<T>): Promise<T> {
  cleanups.add(cleanup);
  try {
    return await body();
  } finally {
    cleanups.delete(cleanup);
    await cleanup();
  }
}
let interrupted: Promise<never> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    interrupted = Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(130));
  });
}
/** After Ctrl-C, failures of the interrupted work are expected: wait for the cleanup (it exits). */
export const afterInterrupt = (): Promise<never> | undefined => interrupted;

/** A temp dir (BENCH_TMPDIR or the OS one) for the duration of `body`. */
export async function withTempDir<T>(label: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(process.env.BENCH_TMPDIR ?? tmpdir(), `fileset-bench-${label}-`));
  return withCleanup(
    () => rm(dir, { recursive: true, force: true }),
    () => body(dir),
  );
}

/** A fresh PostgreSQL database (its URL) or, for `pglite`, none (undefined: the embedded default). */
export async function withDatabase<T>(
  kind: 'postgres' | 'pglite',
  body: (url: string | undefined) => Promise<T>,
): Promise<T> {
  if (kind === 'pglite') return body(undefined);
  const db = await createTestDatabase('fileset_bench');
  return withCleanup(
    () => db.drop(),
    () => body(db.url),
  );
}

export async function dirBytes(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  // A file may be renamed (.open → .warc.gz) between readdir and stat: count it as empty then.
  const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n)).catch(() => ({ size: 0 }))).size));
  return sizes.reduce((a, b) => a + b, 0);
}

// ---- generated files ----

export interface TestFile {
  key: string;
  path: string;
  size: number;
  md5: string;
}

/** CSV-like rows from a seeded xorshift PRNG (compresses like real tabular data); next(n): n bytes. */
export class CsvText {
  private row = 0;
  private rest = 'id,date,station,lat,lon,temperature_c,count,flag\n';
  constructor(private state: number) {}

  next(n: number): Buffer {
    const r = () => {
      let x = this.state || 1;
      x ^= x << 13;
      x ^= x >>> 17;
      this.state = (x ^ (x << 5)) >>> 0;
      return this.state / 2 ** 32;
    };
    const parts = [this.rest];
    for (let length = this.rest.length; length < n; length += parts[parts.length - 1]!.length) {
      const day = `2023-${10 + Math.floor(r() * 3)}-${10 + Math.floor(r() * 19)}`;
      const station = STATIONS[Math.floor(r() * STATIONS.length)];
      const place = `${(r() * 180 - 90).toFixed(3)},${(r() * 360 - 180).toFixed(3)}`;
      parts.push(
        `${++this.row},${day},${station},${place},${(r() * 50 - 15).toFixed(1)},${Math.floor(r() * 5000)},${r() < 0.95 ? 'ok' : 'suspect'}\n`,
      );
    }
    const all = parts.join('');
    this.rest = all.slice(n);
    return Buffer.from(all.slice(0, n), 'latin1');
  }
}
const STATIONS = ['BERLIN-TEGEL', 'OSLO-BLINDERN', 'LYON-BRON', 'NAIROBI-JKIA', 'LIMA-CALLAO', 'PERTH-AIRPORT'];

/** Writes `size` bytes of CSV-like text or random bytes to `path`; returns its md5. */
export async function writeTestFile(
  path: string,
  key: string,
  size: number,
  kind: 'text' | 'random',
  seed = 1,
): Promise<TestFile> {
  const md5 = createHash('md5');
  const out = createWriteStream(path);
  const text = kind === 'text' ? new CsvText(seed * 2654435761) : null;
  for (let done = 0; done < size;) {
    const n = Math.min(4 * MiB, size - done);
    const chunk = text ? text.next(n) : randomFillSync(Buffer.allocUnsafe(n));
    md5.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
    done += n;
  }
  out.end();
  await finished(out);
  return { key, path, size, md5: md5.digest('hex') };
}

/** `count` files of `size` bytes in `dir`, alternating CSV-like text and random bytes (text first). */
export async function writeMixedFiles(dir: string, count: number, size: number): Promise<TestFile[]> {
  const files: TestFile[] = [];
  for (let i = 0; i < count; i++) {
    const key = i % 2 ? `blob-${i}.bin` : `table-${i}.csv`;
    log(`writing ${key} (${mb(size)} MB)`);
    files.push(await writeTestFile(join(dir, key), key, size, i % 2 ? 'random' : 'text', i + 1));
  }
  return files;
}

// ---- the Zenodo-shaped site and its server process ----

/** A response: `body`, or the file at `file` streamed with its Content-Length. */
export interface Route {
  type: string;
  body?: string;
  file?: string;
}

/**
 * BENCHMARKING ONLY: the real recorded Zenodo record 7078725 (test/fixtures/zenodo) with its
 * `files` array replaced by a generated file list in the same legacy shape (key, size,
 * checksum "md5:…", links.self), plus a minimal landing page.
 */
export function zenodoSite(files: TestFile[]): { url: string; routes: Record<string, Route>; paths: string[] } {
  const fixture = join(REPO, 'test', 'fixtures', 'zenodo', 'zenodo_record_7078725.json');
  const record = JSON.parse(readFileSync(fixture, 'utf8')) as {
    id: number;
    metadata: { title?: string };
    files: Array<{ bucket: string }>;
  };
  const bucket = record.files[0]!.bucket;
  const paths = files.map((f) => `/api/files/${bucket}/${f.key}`);
  record.files = files.map((f, i) => ({
    bucket,
    checksum: `md5:${f.md5}`,
    key: f.key,
    links: { self: `https://zenodo.org${paths[i]}` },
    size: f.size,
    type: f.key.split('.').pop() ?? '',
  }));
  const title = record.metadata.title ?? '';
  const routes: Record<string, Route> = {
    [`/api/records/${record.id}`]: { type: 'application/json', body: JSON.stringify(record) },
    [`/records/${record.id}`]: {
      type: 'text/html; charset=utf-8',
      body: `<!DOCTYPE html>\n<html><head><title>${title}</title><meta name="citation_title" content="${title}"></head><body></body></html>\n`,
    },
  };
  files.forEach((f, i) => (routes[paths[i]!] = { type: 'application/octet-stream', file: f.path }));
  return { url: `https://zenodo.org/records/${record.id}`, routes, paths };
}

/** bench/file-server.ts in its own process: it never shares an event loop with what is measured. */
export class FileServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly origin: string,
  ) {}

  static async start(routes: Record<string, Route>, dir: string): Promise<FileServer> {
    const config = join(dir, 'routes.json');
    await writeFile(config, JSON.stringify(routes));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'file-server.ts'), config], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [''])])) as string[];
    if (!line) throw new Error('file server did not start');
    return new FileServer(child, (JSON.parse(line) as { origin: string }).origin);
  }

  /** CPU seconds (user + system) the server process has used so far. */
  async cpuSeconds(): Promise<number> {
    const usage = (await (await fetch(`${this.origin}/__cpu`)).json()) as { user: number; system: number };
    return (usage.user + usage.system) / 1e6;
  }

  async close(): Promise<void> {
    const exited = this.child.exitCode === null && this.child.signalCode === null && once(this.child, 'exit');
    if (exited && this.child.kill('SIGTERM')) await exited;
  }
}

export async function withServer<T>(
  routes: Record<string, Route>,
  dir: string,
  body: (s: FileServer) => Promise<T>,
): Promise<T> {
  const server = await FileServer.start(routes, dir);
  return withCleanup(
    () => server.close(),
    () => body(server),
  );
}

// ---- timed child processes ----

/** cpuS: user + system seconds; rssBytes: peak resident set size (GNU time's %M, in KiB, × 1024). */
export interface Timed {
  code: number | null;
  wallS: number;
  cpuS: number;
  rssBytes: number;
  stdout: string;
  stderr: string;
}

/** Runs a command under /usr/bin/time; wall time from a monotonic clock around the spawn. */
export async function timedRun(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeFile: string): Promise<Timed> {
  const start = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, cmd, ...args], { cwd: REPO, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-20_000)));
  const [code] = (await once(child, 'close')) as [number | null];
  const wallS = Number(process.hrtime.bigint() - start) / 1e9;
  const last = (await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? '';
  const [rssKb, user, sys] = last.split(' ').map(Number);
  return { code, wallS, cpuS: (user ?? NaN) + (sys ?? NaN), rssBytes: (rssKb ?? NaN) * 1024, stdout, stderr };
}

export interface IngestRun extends Timed {
  status: string;
  warcBytes: number;
}

/** Where CLI and worker CPU profiles go with BENCH_CPU_PROF=1: outside the temp dirs the benchmark deletes. */
export const cpuProfileDir = process.env.BENCH_CPU_PROF
  ? join(process.env.BENCH_TMPDIR ?? tmpdir(), `fileset-bench-profiles-${process.pid}`)
  : undefined;

/** `node` options that write a V8 CPU profile when the process exits (none without BENCH_CPU_PROF). */
export const cpuProfileArgs = (): string[] => [
  ...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []),
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
];

/** `node bin/fileset-ingest.js <args>` with only the FILESET_* variables given here (profiled with BENCH_CPU_PROF). */
export async function runCli(
  args: string[],
  dataDir: string,
  vars: Record<string, string | undefined>,
): Promise<Timed> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('FILESET_')) env[name] = value;
  for (const [name, value] of Object.entries({ FILESET_LOG_LEVEL: 'warn', FILESET_DATA_DIR: dataDir, ...vars })) {
    if (value !== undefined) env[name] = value;
  }
  return timedRun(
    process.execPath,
    [...cpuProfileArgs(), CLI, ...args],
    env,
    join(dataDir, '..', `time-${Date.now()}`),
  );
}

/** The variables that send the CLI to a zenodoSite() and keep every file on the `web` backend. */
export const siteVars = (server: FileServer, databaseUrl: string | undefined): Record<string, string | undefined> => ({
  FILESET_DATABASE_URL: databaseUrl,
  FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
  FILESET_WEB_MAX_FILE_SIZE: '1TiB',
  FILESET_WEB_MAX_TOTAL_SIZE: '1TiB',
});

/** `fileset-ingest ingest <url>`: the result's status, and the bytes of WARC written. */
export async function runIngest(
  url: string,
  dataDir: string,
  vars: Record<string, string | undefined>,
): Promise<IngestRun> {
  const run = await runCli(['ingest', url], dataDir, vars);
  let status = `no result (exit ${run.code})`;
  try {
    status = (JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as { status: string }).status;
  } catch {
    /* no JSON result line: keep the exit code */
  }
  return { ...run, status, warcBytes: await dirBytes(join(dataDir, 'warcs')) };
}
