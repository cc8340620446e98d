// Benchmark: end-to-end small-dataset throughput through Kafka. N distinct 3-file Zenodo-shaped
// datasets are produced to the request topic; one, two or three `worker ingest` processes archive them and
// one `worker persist` writes the results to a fresh PostgreSQL database. Measured: from the start
// of `fileset-ingest produce` until ingest_fileset_platform holds N rows.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { kafkaNames, type KafkaNames } from '../src/kafka/topics.js';
import {
  benchScale,
  CLI,
  fmt,
  log,
  markdownTable,
  mb,
  REPO,
  runCli,
  siteVars,
  withCleanup,
  withDatabase,
  withServer,
  withTempDir,
  writeTestFile,
  zenodoSite,
  type BenchReport,
  type FileServer,
  type Route,
  type TestFile,
  cpuProfileArgs,
  cpuProfileDir,
} from './lib.js';

const BROKERS = process.env.FILESET_KAFKA_BROKERS ?? '127.0.0.1:9092';
/** Record ids base..base+N-1: far from the fixture's own id and concept id (7078725, 7078724). */
const BASE_ID = 9_000_000;
/** Ingest processes per run, one run each, in this order. */
const WORKER_COUNTS = process.env.BENCH_KAFKA_WORKERS
  ? process.env.BENCH_KAFKA_WORKERS.split(',').map(Number)
  : [1, 2, 3];
const FILES: Array<[key: string, size: number, kind: 'text' | 'random']> = [
  ['stations.csv', 48_000, 'text'],
  ['readme.txt', 12_000, 'text'],
  ['raw.bin', 64_000, 'random'],
];

interface FleetRun {
  workers: number;
  /** Seconds from the start of `produce` until the last of the N rows was seen. */
  wallS: number;
  produceS: number;
  statuses: Record<string, number>;
  ingest: Usage[];
  persist: Usage;
  /** The ingest processes' CPU seconds when the clock started (start-up and joining the group). */
  ingestStartupCpuS: number;
}

/** Peak RSS (VmHWM) and CPU seconds of a worker, read from /proc just before it is stopped. */
interface Usage {
  rssBytes: number;
  cpuS: number;
}

export async function kafkaBench(): Promise<BenchReport> {
  const count = Math.max(10, Math.round(200 * benchScale()));
  if (cpuProfileDir) log(`CPU profiles of the ingest workers go to ${cpuProfileDir} (npx tsx bench/profile.ts <file>)`);
  const invalid: string[] = [];
  const runs: FleetRun[] = [];
  await withBroker(() =>
    withTempDir('kafka', async (work) => {
      log(`writing ${count} × ${FILES.length} files`);
      const site = await manyRecords(work, count);
      const requests = join(work, 'requests.jsonl');
      await writeFile(
        requests,
        site.urls.map((url, i) => `${JSON.stringify(requestFor(url, BASE_ID + i))}\n`).join(''),
      );
      await withServer(site.routes, work, async (server) => {
        for (const workers of WORKER_COUNTS) {
          log(`${count} datasets through Kafka, ${workers} ingest worker process${workers > 1 ? 'es' : ''}`);
          // A stuck or crashed run voids the benchmark; the other run is still reported.
          const run = await runFleet(workers, count, server, requests, work, invalid).catch((err: unknown) => {
            invalid.push(`${workers} ingest workers: ${err instanceof Error ? err.message : String(err)}`);
            return null;
          });
          if (run) runs.push(run);
        }
      });
    }),
  );

  const one = runs.find((r) => r.workers === 1);
  const ingestCpu = (r: FleetRun) => r.ingest.reduce((sum, u) => sum + u.cpuS, 0);
  const rows = runs.map((r) => [
    String(r.workers),
    fmt(r.wallS, 2),
    fmt(r.produceS, 2),
    fmt(count / r.wallS, 1),
    one ? `${fmt(one.wallS / r.wallS, 2)}×` : '–',
    fmt(ingestCpu(r) / count, 4),
    fmt((ingestCpu(r) - r.ingestStartupCpuS) / count, 4),
    fmt((ingestCpu(r) + r.persist.cpuS) / count, 4),
    r.ingest.map((u) => fmt(u.cpuS, 1)).join(', '),
    fmt(r.persist.cpuS, 1),
    r.ingest.map((u) => mb(u.rssBytes)).join(', '),
    mb(r.persist.rssBytes),
    Object.entries(r.statuses)
      .map(([s, n]) => `${s} ${n}`)
      .join(', '),
  ]);
  const totalKb = fmt(FILES.reduce((sum, [, size]) => sum + size, 0) / 1000, 0);
  const markdown = [
    `${count} distinct Zenodo-shaped datasets of ${FILES.length} small files each (${totalKb} kB: two CSV-like text files, one of ` +
      `random bytes, different bytes in every dataset; strategy \`web-fileset\`), one request each, through the local single-node Kafka (8 partitions) into ` +
      `a fresh PostgreSQL database per run. Each ingest worker: \`FILESET_WORKER_CONCURRENCY=4\`, ` +
      `\`FILESET_PLATFORM_BUDGETS='*:api=16,*:download=16'\`, its own data dir; one \`worker persist\` (batches of 500, ` +
      `linger 1 s). The workers are started and have joined their consumer groups before the clock starts; wall time runs ` +
      `from the start of \`fileset-ingest produce\` (a CLI process: its start-up and the send are included, see ` +
      `"produce s") until \`ingest_fileset_platform\` holds all ${count} rows (polled every 100 ms), so it includes ` +
      `the persist worker's linger. Peak RSS (VmHWM) and CPU seconds (user + system) per process from /proc, read before ` +
      `stopping it; CPU s / dataset: the ingest processes' sum (and with the persist worker's) over the ${count} datasets, ` +
      `start-up included; "after start-up": less what the ingest processes had used when the clock started (Node ` +
      `start-up, modules, migrations check, joining the group). Runs one after the other, ${WORKER_COUNTS.join(', ')} ingest processes; on 2 cores, a third ` +
      `process competes with the broker, PostgreSQL and the file server for the same CPUs. Load average after the last ` +
      `run: ${loadavg()
        .map((l) => fmt(l, 2))
        .join(' ')}.`,
    '',
    markdownTable(
      [
        'ingest processes',
        'wall s',
        'produce s',
        'datasets/s',
        'speedup',
        'ingest CPU s / dataset',
        'ingest CPU s / dataset after start-up',
        'all workers CPU s / dataset',
        'ingest CPU s (per process)',
        'persist CPU s',
        'ingest peak RSS MB',
        'persist peak RSS MB',
        'statuses',
      ],
      rows,
    ),
  ].join('\n');
  return { markdown, invalid };
}

/** One run: fresh topics (unique FILESET_KAFKA_ENV) and database; the workers stopped in every path. */
async function runFleet(
  workers: number,
  count: number,
  server: FileServer,
  requests: string,
  work: string,
  invalid: string[],
): Promise<FleetRun | null> {
  const env = `bench-${randomBytes(4).toString('hex')}`;
  return withDatabase('postgres', async (databaseUrl) => {
    const vars: Record<string, string | undefined> = {
      ...siteVars(server, databaseUrl),
      FILESET_KAFKA_BROKERS: BROKERS,
      FILESET_KAFKA_ENV: env,
      FILESET_METRICS_PORT: '0',
      FILESET_WORKER_CONCURRENCY: '4',
      FILESET_PLATFORM_BUDGETS: '*:api=16,*:download=16',
    };
    const names = kafkaNames(loadConfig(vars));
    const setupDir = join(work, `${env}-setup`);
    // Migrations first, once: three processes migrating one fresh database at once would race.
    for (const args of [
      ['db', 'migrate'],
      ['topics', 'create'],
    ]) {
      const step = await runCli(args, setupDir, vars);
      if (step.code !== 0) {
        invalid.push(`${args.join(' ')} exited ${step.code}\n${step.stderr}`);
        return null;
      }
    }
    const procs: Worker[] = [];
    return withCleanup(
      () => Promise.all(procs.map((p) => p.stop())),
      async () => {
        const persist = new Worker('persist', join(work, `${env}-persist`), vars);
        procs.push(persist);
        for (let i = 0; i < workers; i++) procs.push(new Worker('ingest', join(work, `${env}-ingest-${i}`), vars));
        await waitForGroups(names, workers, procs);
        const startup = procs.slice(1).reduce((sum, p) => sum + p.usage().cpuS, 0);

        const start = process.hrtime.bigint();
        const produce = await runCli(['produce', '--topic', names.requestTopics[0]!, requests], setupDir, vars);
        if (produce.code !== 0) invalid.push(`produce exited ${produce.code}\n${produce.stderr}`);
        const statuses = await waitForRows(databaseUrl!, count, procs);
        const wallS = Number(process.hrtime.bigint() - start) / 1e9;

        const usage = procs.map((p) => p.usage());
        const codes = await Promise.all(procs.map((p) => p.stop()));
        codes.forEach((code, i) => {
          if (code !== 0)
            invalid.push(
              `${workers} workers: ${procs[i]!.kind} worker exited ${code} after SIGTERM\n${procs[i]!.stderr}`,
            );
        });
        if (statuses.success !== count)
          invalid.push(`${workers} workers: statuses ${JSON.stringify(statuses)}, expected success ${count}`);
        return {
          workers,
          wallS,
          produceS: produce.wallS,
          statuses,
          persist: usage[0]!,
          ingest: usage.slice(1),
          ingestStartupCpuS: startup,
        };
      },
    );
  });
}

/** The shared broker, started if needed; the lease lets the last user stop a broker a harness started. */
async function withBroker<T>(body: () => Promise<T>): Promise<T> {
  if (process.env.FILESET_KAFKA_BROKERS) return body();
  const script = join(REPO, 'scripts', 'kafka.sh');
  const id = String(process.pid);
  execFileSync('bash', [script, 'acquire', id], { stdio: ['ignore', 'ignore', 'inherit'] });
  return withCleanup(
    async () => execFileSync('bash', [script, 'release', id], { stdio: ['ignore', 'ignore', 'inherit'] }),
    body,
  );
}

/** `node bin/fileset-ingest.js worker <kind>`, spawned directly (no /usr/bin/time) so it can be sent SIGTERM. */
class Worker {
  readonly child: ChildProcess;
  stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(
    readonly kind: 'ingest' | 'persist',
    dataDir: string,
    vars: Record<string, string | undefined>,
  ) {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('FILESET_')) env[name] = value;
    for (const [name, value] of Object.entries({ FILESET_LOG_LEVEL: 'warn', FILESET_DATA_DIR: dataDir, ...vars })) {
      if (value !== undefined) env[name] = value;
    }
    // BENCH_CPU_PROF=1: V8 writes a .cpuprofile of each ingest worker when it exits (bench/profile.ts reads it).
    const profile = kind === 'ingest' ? cpuProfileArgs() : [];
    this.child = spawn(process.execPath, [...profile, CLI, 'worker', kind], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d: Buffer) => void (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  usage(): Usage {
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
      const hwmKb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
      // /proc/<pid>/stat: fields after the ")" of the command name; utime and stime are the 14th and 15th.
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      return { rssBytes: hwmKb * 1024, cpuS: ticks / clockTicks() };
    } catch {
      return { rssBytes: NaN, cpuS: NaN };
    }
  }

  /** SIGTERM (the worker drains and commits), SIGKILL after 30 s; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      await this.exited.finally(() => clearTimeout(timer));
    }
    return this.exited;
  }
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** Until each ingest worker and the persist worker are members of a stable consumer group. */
async function waitForGroups(names: KafkaNames, workers: number, procs: Worker[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'fileset-bench',
    brokers: BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const { groups } = await admin.describeGroups([names.ingestGroup, names.persistGroup]);
      const ready = (group: string, members: number) =>
        groups.some((g) => g.groupId === group && g.state === 'Stable' && g.members.length === members);
      if (ready(names.ingestGroup, workers) && ready(names.persistGroup, 1)) return;
      const dead = procs.find((p) => !p.running);
      if (dead) throw new Error(`${dead.kind} worker exited ${dead.child.exitCode} while starting\n${dead.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`workers did not join their consumer groups within 90 s: ${JSON.stringify(groups)}`);
      await sleep(100);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Polls ingest_fileset_platform until it holds `count` rows; their statuses. */
async function waitForRows(databaseUrl: string, count: number, procs: Worker[]): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // Generous: about 25 datasets/s is expected; this only ends a run that is stuck.
    const deadline = Date.now() + 120_000 + count * 1000;
    for (;;) {
      const { rows } = await client.query<{ status: string | null; n: number }>(
        'SELECT status, count(*)::int AS n FROM ingest_fileset_platform GROUP BY status',
      );
      const statuses = Object.fromEntries(rows.map((r) => [r.status ?? 'null', r.n]));
      if (rows.reduce((sum, r) => sum + r.n, 0) >= count) return statuses;
      const dead = procs.find((p) => !p.running);
      if (dead) throw new Error(`${dead.kind} worker exited ${dead.child.exitCode}\n${dead.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`only ${JSON.stringify(statuses)} of ${count} rows after the deadline`);
      await sleep(100);
    }
  } finally {
    await client.end();
  }
}

/**
 * zenodoSite()'s record under `count` ids, each with its own files (distinct bytes: the same bytes
 * would make every later dataset `success-existing`), API response, landing page and file URLs.
 */
async function manyRecords(work: string, count: number): Promise<{ urls: string[]; routes: Record<string, Route> }> {
  const routes: Record<string, Route> = {};
  const urls: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = BASE_ID + i;
    const files: TestFile[] = [];
    for (const [j, [key, size, kind]] of FILES.entries()) {
      files.push(await writeTestFile(join(work, `${id}-${key}`), key, size, kind, i * FILES.length + j + 1));
    }
    const site = zenodoSite(files);
    const [apiPath, api] = Object.entries(site.routes).find(([path]) => path.startsWith('/api/records/'))!;
    const landing = Object.entries(site.routes).find(([path]) => path.startsWith('/records/'))![1];
    const template = JSON.parse(api.body!) as { id: number; files: Array<{ key: string; links: { self: string } }> };
    const record = {
      ...template,
      id,
      files: template.files.map((f) => ({ ...f, links: { self: `https://zenodo.org/api/files/${id}/${f.key}` } })),
    };
    routes[apiPath.replace(String(template.id), String(id))] = { type: api.type, body: JSON.stringify(record) };
    routes[`/records/${id}`] = landing;
    files.forEach((f) => (routes[`/api/files/${id}/${f.key}`] = { type: 'application/octet-stream', file: f.path }));
    urls.push(`https://zenodo.org/records/${id}`);
  }
  return { urls, routes };
}

function requestFor(url: string, id: number): Record<string, unknown> {
  const doi = `10.5281/zenodo.${id}`;
  return { base_url: url, ingest_type: 'dataset', link_source: 'doi', link_source_id: doi, ext_ids: { doi } };
}
