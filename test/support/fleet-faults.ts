// Fault run of a whole fleet, shared by test/kafka/fleet-faults.test.ts (small) and bench/crash.ts
// (full scale): N distinct Zenodo-shaped datasets through a private broker, a private PostgreSQL,
// several `worker ingest` processes (one data dir each) and one `worker persist`, while processes
// are killed with SIGKILL and the broker and the database are restarted; then everything is counted
// from the outside (tables, topics, committed offsets, WARC files, leftovers on disk).
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { kafkaNames, type KafkaNames } from '../../src/kafka/topics.js';
import { createLogger } from '../../src/logger.js';
import { FixtureServer, slowFile } from './fixture-server.js';
import { jwarcCdx, validateWarc, warcProblems } from './jwarc.js';
import { startPrivateKafka, type PrivateKafka } from './kafka-broker.js';
import {
  committedOffsets,
  createTopics,
  endOffsets,
  produce,
  readTopic,
  spawnTsx,
  testKafka,
  waitFor,
  type WorkerProcess,
} from './kafka.js';
import { startPrivatePostgres, type PrivatePostgres } from './postgres-server.js';
import { FIXTURES } from './zenodo-site.js';

export interface FaultRunOptions {
  requests: number;
  ingestWorkers: number;
  /** SIGKILLs, spread evenly over the ingest workers and the persist worker, in random order. */
  kills: number;
  brokerRestart: boolean;
  postgresRestart: boolean;
  /**
   * Closed WARC files are shipped to an fs:// WARC store (FILESET_WARC_STORE, files rolled over
   * at 1 MB so that they close during the run), and the store goes away for `storeOutageMs` once:
   * its directory is replaced by a plain file (as root, permissions would not stop a write).
   */
  storeOutageMs?: number;
  /** Every n-th dataset also has a file above the 1 MiB a body may keep in memory (it is spooled to disk). */
  spooledEvery?: number;
  /** Overall bound on waiting for every row (the run fails after it). */
  timeoutMs: number;
  log?: (message: string) => void;
}

export interface FaultEvent {
  /** Seconds since the requests were produced. */
  atS: number;
  what: string;
}

export interface FaultRunCounts {
  requests: number;
  /** Rows of ingest_fileset_platform, and distinct base_urls among them (one each is right). */
  platformRows: number;
  platformDistinct: number;
  /** Requests that have no ingest_fileset_platform row. */
  missing: string[];
  statuses: Record<string, number>;
  ingestFileResultRows: number;
  ingestRequestRows: number;
  cdxRows: number;
  /** file_meta rows of the datasets' files (sha1 of every generated file), out of `files`. */
  fileMetaFound: number;
  files: number;
  /** Capture index: response records per URL above one (a second full copy of the same URL). */
  duplicateResponseCaptures: number;
  revisitCaptures: number;
  /** Results on the result topic (at least once: redeliveries after a kill answer twice). */
  resultMessages: number;
  requestsAnsweredMoreThanOnce: number;
  /** WARC files: shipped to the store (or, without a store, closed in the data dirs). */
  warcFiles: number;
  /** Closed WARC files still in a data dir after the stop (with a store: not shipped). */
  warcsNotShipped: string[];
  /** Capture-index rows whose warc_path is no file in the store (or data dir). */
  captureRowsWithoutFile: number;
  /** With a store: capture-index rows still naming a local file (no `/` in warc_path). */
  captureRowsLocal: number;
  /** Partial copies (`.<name>.tmp-*`) left in the store. */
  storeTempFiles: string[];
  warcRecords: number;
  /** Response records in the WARC files that the capture index does not list (written, then killed). */
  unindexedResponseRecords: number;
  warcsValid: number;
  warcProblems: string[];
  openFiles: string[];
  corruptFiles: string[];
  /** Anything left under the data dirs' tmp/ and work/ after every worker stopped. */
  orphanFiles: string[];
  budgetLeasesLeft: number;
  /** committed == end offsets, per group. */
  ingestOffsetsCommitted: boolean;
  persistOffsetsCommitted: boolean;
  kills: { ingest: number; persist: number };
  brokerRestarts: number;
  postgresRestarts: number;
  storeOutages: number;
  /** Shipping attempts that failed and were tried again (the workers' 'WARC shipping failed' log lines). */
  shipRetries: number;
  /** Exits nobody asked for (the harness restarts such a worker, as systemd would). */
  unexpectedExits: string[];
  /**
   * Of those, exits for a service outage at start-up, which systemd's Restart=on-failure (and the
   * harness) answer with a restart: a worker started (after a kill) while PostgreSQL or the broker
   * is down fails its start-up check and exits at once ("cannot use PostgreSQL at …"). A running
   * worker rides out both outages: its exit is never tolerated (its Kafka consumer is rebuilt when
   * kafkajs gives up on a restarting broker, src/kafka/consumer.ts).
   */
  exitsForServiceOutage: number;
  /** Exit codes after the final SIGTERM (0 expected). */
  stopCodes: Array<number | null>;
  events: FaultEvent[];
  wallS: number;
}

/** Record ids BASE_ID..BASE_ID+N-1: far from the fixture's own id and concept id (7078725, 7078724). */
const BASE_ID = 8_000_000;
/** What a worker says when its start-up check finds a service down (ServiceUnavailableError). */
const SERVICE_OUTAGE_EXIT = /cannot use (PostgreSQL|Kafka) at /;
/**
 * What a worker prints once SIGTERM is handled: a worker restarted just before the end is not sent
 * the final SIGTERM while Node and tsx still boot (the signal's default action would kill it).
 */
const SIGNALS_HANDLED = 'fault-run: SIGTERM handled';
const SESSION = { sessionTimeout: 10_000, heartbeatInterval: 1_000 };

const workerScript = (kind: 'ingest' | 'persist') => `
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  process.stderr.write('${SIGNALS_HANDLED}\\n');
  const { loadConfig } = await import('./src/config.ts');
  const { createLogger } = await import('./src/logger.ts');
  const { createMetrics } = await import('./src/metrics.ts');
  const config = loadConfig();
  const options = { signal: stop.signal, metrics: createMetrics(), consumer: ${JSON.stringify(SESSION)} };
  ${
    kind === 'ingest'
      ? `const { runIngestWorker } = await import('./src/workers/ingest-fileset.ts');
  await runIngestWorker(config, createLogger(config.logLevel), { ...options, infraBackoff: { initialMs: 500, maxMs: 5000 } });`
      : `const { runPersistWorker } = await import('./src/workers/persist-ingest-fileset.ts');
  await runPersistWorker(config, createLogger(config.logLevel), { ...options, retryDelayMs: 500, maxRetryDelayMs: 5000 });`
  }
  // As bin/fileset-ingest.js ends a command.
  const { exitAfter } = await import('./src/cli.ts');
  exitAfter(0);`;

/**
 * What a worker's log says about why it did what it did: its own lines (kafkajs's retries would
 * push them out of any tail), then the last of everything.
 */
function logStory(stderr: string): string {
  const own = stderr
    .split('\n')
    .filter((line) => line !== '' && !line.includes('"module":"kafkajs"'))
    .join('\n');
  return `its own log lines end: ${own.slice(-3000)}\nits log ends: ${stderr.slice(-1500)}`;
}

interface Dataset {
  url: string;
  sha1s: string[];
}

/** Zenodo-shaped datasets: the recorded legacy record 7078725 with its files replaced, under distinct ids. */
function serveDatasets(server: FixtureServer, count: number, spooledEvery: number | undefined): Dataset[] {
  const template = JSON.parse(readFileSync(join(FIXTURES, 'zenodo', 'zenodo_record_7078725.json'), 'utf8')) as {
    metadata: { title?: string };
    files: Array<{ bucket: string }>;
  };
  const bucket = template.files[0]!.bucket;
  const landing = `<!DOCTYPE html>\n<html><head><title>${template.metadata.title}</title></head><body></body></html>\n`;
  const datasets: Dataset[] = [];
  for (let i = 0; i < count; i++) {
    const id = BASE_ID + i;
    const bodies: Array<[string, Buffer]> = [
      ['table.csv', Buffer.from(`id,value\n${Array.from({ length: 600 }, (_, r) => `${r},${id * r}`).join('\n')}\n`)],
      ['raw.bin', randomBytes(24_000)],
    ];
    if (spooledEvery && i % spooledEvery === 0) bodies.push(['large.bin', randomBytes(1_500_000)]);
    const files = bodies.map(([key, body]) => {
      const path = `/api/files/${bucket}/${id}/${key}`;
      server.route(path, slowFile(body, 100, 800));
      return {
        bucket,
        checksum: `md5:${createHash('md5').update(body).digest('hex')}`,
        key,
        links: { self: `https://zenodo.org${path}` },
        size: body.length,
        type: key.split('.').pop(),
      };
    });
    server.route(`/api/records/${id}`, {
      body: JSON.stringify({ ...template, id, files }),
      headers: { 'Content-Type': 'application/json' },
    });
    server.route(`/records/${id}`, { body: landing, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
    datasets.push({
      url: `https://zenodo.org/records/${id}`,
      sha1s: bodies.map(([, body]) => createHash('sha1').update(body).digest('hex')),
    });
  }
  return datasets;
}

type Role = { kind: 'ingest'; index: number } | { kind: 'persist' };

export async function runFaultRun(options: FaultRunOptions): Promise<FaultRunCounts> {
  const log = options.log ?? (() => undefined);
  const work = await mkdtemp(join(tmpdir(), 'fileset-faults-'));
  let postgres: PrivatePostgres | undefined;
  let broker: PrivateKafka | undefined;
  let server: FixtureServer | undefined;
  try {
    log('starting a private PostgreSQL and a private Kafka broker');
    [postgres, broker, server] = await Promise.all([
      startPrivatePostgres(),
      startPrivateKafka(),
      FixtureServer.start(),
    ]);
    return await fleetRun(options, log, work, postgres, broker, server);
  } finally {
    await server?.close();
    await broker?.destroy();
    await postgres?.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

async function fleetRun(
  options: FaultRunOptions,
  log: (message: string) => void,
  work: string,
  postgres: PrivatePostgres,
  broker: PrivateKafka,
  server: FixtureServer,
): Promise<FaultRunCounts> {
  const datasets = serveDatasets(server, options.requests, options.spooledEvery);
  const databaseUrl = await postgres.createDatabase('fleet');
  const storeRoot = join(work, 'store');
  const store = options.storeOutageMs ? join(storeRoot, 'shipped') : undefined;
  if (store) await mkdir(store, { recursive: true });
  const env: Record<string, string> = {
    FILESET_DATABASE_URL: databaseUrl,
    FILESET_KAFKA_BROKERS: broker.brokers,
    FILESET_KAFKA_ENV: 'faults',
    FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
    FILESET_WORKER_CONCURRENCY: '4',
    FILESET_PLATFORM_BUDGETS: '*:api=16,*:download=16',
    FILESET_PERSIST_BATCH_SIZE: '10',
    FILESET_PERSIST_LINGER_MS: '200',
    // info: a worker that does not stop shows how far its drain got (draining, drained, stopped).
    FILESET_LOG_LEVEL: 'info',
    ...(store ? { FILESET_WARC_STORE: `fs://${store}`, FILESET_WARC_ROLLOVER_SIZE: '1MB' } : {}),
  };
  const names = kafkaNames(loadConfig(env));
  const logger = createLogger('silent');
  const db = await openDatabase({ dataDir: work, databaseUrl }, logger);
  await migrate(db, logger).finally(() => db.close());

  const kafka = testKafka(broker.brokers);
  const admin = kafka.admin();
  await admin.connect();
  await createTopics(admin, [...names.requestTopics, names.filesetResults, names.fileResults], { partitions: 6 });
  await admin.disconnect();

  const roles: Role[] = [
    ...Array.from({ length: options.ingestWorkers }, (_, index) => ({ kind: 'ingest' as const, index })),
    { kind: 'persist' },
  ];
  const dataDirs = roles.map((r) => join(work, r.kind === 'ingest' ? `ingest-${r.index}` : 'persist'));
  await Promise.all(dataDirs.map((d) => mkdir(d)));
  const procs: WorkerProcess[] = [];
  const everyProc: WorkerProcess[] = [];
  const stopping = new Set<WorkerProcess>();
  const unexpectedExits: string[] = [];
  const events: FaultEvent[] = [];
  let started = Date.now();
  const event = (what: string) => {
    events.push({ atS: (Date.now() - started) / 1000, what });
    log(what);
  };
  const spawnRole = (i: number): void => {
    const role = roles[i]!;
    const proc = spawnTsx(workerScript(role.kind), { ...env, FILESET_DATA_DIR: dataDirs[i]! });
    procs[i] = proc;
    everyProc.push(proc);
    // An exit nobody asked for: restarted after a second, as systemd's Restart=on-failure would.
    proc.child.on('exit', (code, signal) => {
      if (stopping.has(proc) || procs[i] !== proc) return;
      unexpectedExits.push(`${name(role)} exited ${code ?? signal}: ${logStory(proc.stderr())}`);
      event(`${name(role)} exited by itself (${code ?? signal}); restarting it`);
      setTimeout(() => procs[i] === proc && spawnRole(i), 1000);
    });
  };
  const name = (role: Role) => (role.kind === 'ingest' ? `ingest worker ${role.index}` : 'persist worker');

  const client = new pg.Client({ connectionString: databaseUrl });
  const rowCount = async (): Promise<number> => {
    // The private server is restarted during the run: a fresh connection per look.
    const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
    try {
      await c.connect();
      const { rows } = await c.query<{ n: number }>(
        'SELECT count(DISTINCT base_url)::int AS n FROM ingest_fileset_platform',
      );
      return rows[0]!.n;
    } catch {
      return -1;
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  try {
    roles.forEach((_, i) => spawnRole(i));
    log(`producing ${options.requests} requests`);
    started = Date.now();
    await produce(
      kafka,
      names.requestTopics[0]!,
      datasets.map(({ url }, i) => {
        const doi = `10.5281/zenodo.${BASE_ID + i}`;
        const request = {
          base_url: url,
          ingest_type: 'dataset',
          link_source: 'doi',
          link_source_id: doi,
          ext_ids: { doi },
        };
        return { key: url, value: JSON.stringify(request) };
      }),
    );

    // Faults fire at random points of the work, measured by the file server's requests (about
    // 2 + files per dataset): a clock would put them all at the start on a slow machine.
    const perDataset = 2 + 2 + (options.spooledEvery ? 1 / options.spooledEvery : 0);
    const expected = options.requests * perDataset;
    const victims = shuffle(Array.from({ length: options.kills }, (_, k) => k % roles.length));
    const schedule: Array<{ at: number; run: () => Promise<void> }> = victims.map((v) => ({
      at: randomInt(3, 85) / 100,
      run: async () => {
        const proc = procs[v]!;
        stopping.add(proc);
        proc.child.kill('SIGKILL');
        await proc.exited();
        event(`SIGKILL ${name(roles[v]!)} (pid ${proc.child.pid}); restarted`);
        spawnRole(v);
      },
    }));
    if (options.brokerRestart)
      schedule.push({
        at: randomInt(20, 45) / 100,
        run: async () => {
          event('broker restart: stopping');
          await broker.restart({ downMs: 2000 });
          event('broker restart: started again');
        },
      });
    if (options.postgresRestart)
      schedule.push({
        at: randomInt(50, 75) / 100,
        run: async () => {
          event('PostgreSQL restart: stopping (fast shutdown)');
          await postgres.restart({ downMs: 3000 });
          event('PostgreSQL restart: started again');
        },
      });
    if (store)
      schedule.push({
        at: randomInt(30, 60) / 100,
        run: async () => {
          event('WARC store outage: its directory replaced by a file');
          await rename(store, `${store}.away`);
          await writeFile(store, 'not a directory: the WARC store is away\n');
          await sleep(options.storeOutageMs!);
          await rm(store);
          await rename(`${store}.away`, store);
          event('WARC store outage: over');
        },
      });
    schedule.sort((a, b) => a.at - b.at);
    const deadline = started + options.timeoutMs;
    const left = () => deadline - Date.now();
    for (const step of schedule) {
      await waitFor(() => server.requests.length >= step.at * expected, {
        timeoutMs: Math.max(1, left()),
        intervalMs: 20,
        what: () => `the file server to see ${Math.round(step.at * expected)} requests (saw ${server.requests.length})`,
      });
      // Apart by a random while, so that faults whose points passed during a long one (a broker
      // restart) do not all land at once.
      await sleep(randomInt(200, 1500));
      await step.run();
    }

    log('every fault done; waiting for a row per request');
    let rows = 0;
    await waitFor(async () => (rows = await rowCount()) >= options.requests, {
      timeoutMs: Math.max(1, left()),
      intervalMs: 500,
      what: () =>
        `a row per request (${rows}/${options.requests}); ${procs.map((p) => p.stderr().slice(-1000)).join('\n')}`,
    });
    event(`all ${options.requests} rows present`);
    // Before stopping: every request offset and every result offset committed (the last
    // redeliveries answered and persisted), so that what is counted is the settled state.
    await admin.connect();
    const settled = async () =>
      (
        await Promise.all(
          names.requestTopics.map(async (t) =>
            same(await committedOffsets(admin, names.ingestGroup, t), await endOffsets(admin, t)),
          ),
        )
      ).every(Boolean) &&
      same(
        await committedOffsets(admin, names.persistGroup, names.filesetResults),
        await endOffsets(admin, names.filesetResults),
      );
    await waitFor(settled, {
      timeoutMs: Math.max(60_000, left()),
      intervalMs: 500,
      what: () => 'committed offsets to reach the end offsets',
    }).catch((err: unknown) => log(String(err)));
  } finally {
    for (const proc of procs) stopping.add(proc);
    await Promise.all(
      procs.map((proc) =>
        waitFor(() => proc.stderr().includes(SIGNALS_HANDLED) || proc.exitCode() !== undefined, {
          timeoutMs: 60_000,
          what: () => `pid ${proc.child.pid} to handle SIGTERM`,
        }).catch((err: unknown) => log(String(err))),
      ),
    );
    for (const proc of procs) proc.child.kill('SIGTERM');
  }
  const stopCodes = await Promise.all(
    procs.map((p, i) =>
      p.exited(90_000).catch(() => {
        // What it was doing when it did not stop says why (its drain, commit or disconnect).
        event(`${name(roles[i]!)} did not exit within 90 s of SIGTERM; ${logStory(p.stderr())}`);
        p.child.kill('SIGKILL');
        return -1;
      }),
    ),
  );
  const wallS = (Date.now() - started) / 1000;
  event('every worker stopped');

  const counts = await countEverything(options, datasets, names, admin, kafka, client, dataDirs, store, log);
  await admin.disconnect();
  return {
    ...counts,
    kills: {
      ingest: countEvents(events, 'SIGKILL ingest'),
      persist: countEvents(events, 'SIGKILL persist'),
    },
    brokerRestarts: countEvents(events, 'broker restart: started'),
    postgresRestarts: countEvents(events, 'PostgreSQL restart: started'),
    storeOutages: countEvents(events, 'WARC store outage: over'),
    shipRetries: everyProc.reduce(
      (n, p) => n + (p.stderr().match(/WARC shipping failed; trying again/g)?.length ?? 0),
      0,
    ),
    unexpectedExits: unexpectedExits.filter((e) => !SERVICE_OUTAGE_EXIT.test(e)),
    exitsForServiceOutage: unexpectedExits.filter((e) => SERVICE_OUTAGE_EXIT.test(e)).length,
    stopCodes,
    events,
    wallS,
  };
}

function countEvents(events: FaultEvent[], prefix: string): number {
  return events.filter((e) => e.what.startsWith(prefix)).length;
}

/** Committed offsets `a` at the end offsets `b` (an empty partition has nothing to commit: -1 is right). */
function same(a: Record<number, number>, b: Record<number, number>): boolean {
  return Object.entries(b).every(([p, end]) => Math.max(0, a[Number(p)] ?? -1) === end);
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

type Counted = Omit<
  FaultRunCounts,
  | 'kills'
  | 'brokerRestarts'
  | 'postgresRestarts'
  | 'storeOutages'
  | 'shipRetries'
  | 'unexpectedExits'
  | 'exitsForServiceOutage'
  | 'stopCodes'
  | 'events'
  | 'wallS'
>;

async function countEverything(
  options: FaultRunOptions,
  datasets: Dataset[],
  names: KafkaNames,
  admin: ReturnType<ReturnType<typeof testKafka>['admin']>,
  kafka: ReturnType<typeof testKafka>,
  client: pg.Client,
  dataDirs: string[],
  store: string | undefined,
  log: (message: string) => void,
): Promise<Counted> {
  log('counting');
  await client.connect();
  const one = async (sql: string, params: unknown[] = []) =>
    (await client.query<{ n: number }>(sql, params)).rows[0]!.n;
  const urls = datasets.map((d) => d.url);
  const sha1s = datasets.flatMap((d) => d.sha1s);
  const present = new Set(
    (await client.query<{ base_url: string }>('SELECT base_url FROM ingest_fileset_platform')).rows.map(
      (r) => r.base_url,
    ),
  );
  const statuses = Object.fromEntries(
    (
      await client.query<{ status: string; n: number }>(
        'SELECT coalesce(r.status, $1) AS status, count(*)::int AS n FROM ingest_fileset_platform p LEFT JOIN ingest_file_result r USING (ingest_type, base_url) GROUP BY 1',
        ['(no ingest_file_result)'],
      )
    ).rows.map((r) => [r.status, r.n]),
  );
  const captures = await client.query<{ warc_path: string; url: string; record_type: string }>(
    'SELECT warc_path, url, record_type FROM capture',
  );
  const responsesPerUrl = new Map<string, number>();
  for (const c of captures.rows)
    if (c.record_type === 'response') responsesPerUrl.set(c.url, (responsesPerUrl.get(c.url) ?? 0) + 1);
  const counted = {
    requests: options.requests,
    platformRows: await one('SELECT count(*)::int AS n FROM ingest_fileset_platform'),
    platformDistinct: present.size,
    missing: urls.filter((u) => !present.has(u)),
    statuses,
    ingestFileResultRows: await one('SELECT count(*)::int AS n FROM ingest_file_result'),
    ingestRequestRows: await one('SELECT count(*)::int AS n FROM ingest_request'),
    cdxRows: await one('SELECT count(*)::int AS n FROM cdx'),
    fileMetaFound: await one('SELECT count(*)::int AS n FROM file_meta WHERE sha1hex = ANY($1)', [sha1s]),
    files: sha1s.length,
    duplicateResponseCaptures: [...responsesPerUrl.values()].reduce((n, c) => n + c - 1, 0),
    revisitCaptures: captures.rows.filter((c) => c.record_type === 'revisit').length,
    budgetLeasesLeft: await one('SELECT count(*)::int AS n FROM fileset_budget_lease WHERE expires_at > now()'),
  };
  await client.end();

  const resultCount = Object.values(await endOffsets(admin, names.filesetResults)).reduce((a, b) => a + b, 0);
  const results = resultCount ? await readTopic(kafka, names.filesetResults, resultCount) : [];
  const perKey = new Map<string, number>();
  for (const m of results) perKey.set(m.key ?? '', (perKey.get(m.key ?? '') ?? 0) + 1);
  const ingestOffsetsCommitted = (
    await Promise.all(
      names.requestTopics.map(async (t) =>
        same(await committedOffsets(admin, names.ingestGroup, t), await endOffsets(admin, t)),
      ),
    )
  ).every(Boolean);
  const persistOffsetsCommitted = same(
    await committedOffsets(admin, names.persistGroup, names.filesetResults),
    await endOffsets(admin, names.filesetResults),
  );

  const openFiles: string[] = [];
  const corruptFiles: string[] = [];
  const orphanFiles: string[] = [];
  const local: string[] = [];
  for (const dir of dataDirs) {
    const warcDir = join(dir, 'warcs');
    for (const f of await readdir(warcDir).catch(() => [] as string[])) {
      if (f.endsWith('.open')) openFiles.push(join(warcDir, f));
      else if (f.endsWith('.corrupt')) corruptFiles.push(join(warcDir, f));
      else if (f.endsWith('.warc.gz')) local.push(join(warcDir, f));
    }
    for (const sub of ['tmp', 'work']) {
      const entries = await readdir(join(dir, sub), { recursive: true }).catch(() => [] as string[]);
      orphanFiles.push(...entries.map((e) => join(dir, sub, e)));
    }
  }
  const inStore = store ? await readdir(store) : [];
  const warcs = store ? inStore.filter((f) => f.endsWith('.warc.gz')).map((f) => join(store, f)) : local;
  // A capture's warc_path: `<prefix>/<file>` once shipped (the prefix is the store dir's name), else the bare file name.
  const files = new Set(warcs.map((w) => (store ? `${basename(store)}/${basename(w)}` : basename(w))));
  const captureRowsWithoutFile = captures.rows.filter((c) => !files.has(c.warc_path)).length;
  const captureRowsLocal = store ? captures.rows.filter((c) => !c.warc_path.includes('/')).length : 0;
  log(`validating ${warcs.length} WARC files with jwarc`);
  const problems: string[] = [];
  let valid = 0;
  for (const warc of warcs) {
    const found = warcProblems(await validateWarc(warc));
    if (found.length) problems.push(`${warc}: ${found.slice(0, 3).join('; ')}`);
    else valid += 1;
  }
  const records = warcs.length ? await jwarcCdx(warcs) : [];
  const indexed = new Map<string, number>();
  for (const c of captures.rows) if (c.record_type === 'response') indexed.set(c.url, (indexed.get(c.url) ?? 0) + 1);
  const inWarcs = new Map<string, number>();
  for (const r of records)
    if (r.status !== '-' && r.mime !== 'warc/revisit') inWarcs.set(r.url, (inWarcs.get(r.url) ?? 0) + 1);
  let unindexed = 0;
  for (const [url, n] of inWarcs) unindexed += Math.max(0, n - (indexed.get(url) ?? 0));

  return {
    ...counted,
    resultMessages: results.length,
    requestsAnsweredMoreThanOnce: [...perKey.values()].filter((n) => n > 1).length,
    warcFiles: warcs.length,
    warcsNotShipped: store ? local : [],
    captureRowsWithoutFile,
    captureRowsLocal,
    storeTempFiles: inStore.filter((f) => f.includes('.tmp-')),
    warcRecords: records.length,
    unindexedResponseRecords: unindexed,
    warcsValid: valid,
    warcProblems: problems,
    openFiles,
    corruptFiles,
    orphanFiles,
    ingestOffsetsCommitted,
    persistOffsetsCommitted,
  };
}
