// `fileset-ingest worker ingest` (src/commands/worker-ingest.ts): stopped by an abort signal in
// process, and by a real SIGTERM to the built binary, draining the request in flight either way.
// `fileset-ingest worker persist` likewise finishes the batch it is writing on SIGTERM. Both serve
// /healthz, /readyz and their own kind of metrics on the metrics port.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createServer } from 'node:net';
import { run, usage } from '../../src/commands/worker-ingest.js';
import { run as runPersist } from '../../src/commands/worker-persist.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { kafkaNames } from '../../src/kafka/topics.js';
import { newResult } from '../../src/pipeline/result.js';
import { BIN } from '../support/cli.js';
import { silentLogger } from '../support/context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer } from '../support/fixture-server.js';
import {
  committedOffsets,
  createTopics,
  produce,
  readTopic,
  testKafka,
  uniqueEnv,
  waitFor,
  watchProcess,
  type WorkerProcess,
} from '../support/kafka.js';
import { UsageError } from '../../src/errors.js';

const brokers = inject('kafkaBrokers');
const CSV = 'id,name\n1,english\n';

let server: FixtureServer;
const cleanups: Array<() => Promise<void>> = [];

/** The built `fileset-ingest` binary (`npm test` builds first) with only PATH and `env` in its environment. */
function spawnBin(args: string[], env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanups.push(async () => void child.kill('SIGKILL'));
  return watchProcess(child);
}

/** The environment of a worker: its own topics, database and data directory, files from the fixture server. */
async function workerEnv(): Promise<Record<string, string>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fileset-worker-'));
  const database: TestDatabase = await createTestDatabase();
  cleanups.push(async () => {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return {
    FILESET_DATA_DIR: dataDir,
    FILESET_DATABASE_URL: database.url,
    FILESET_KAFKA_BROKERS: brokers,
    FILESET_KAFKA_ENV: uniqueEnv(),
    FILESET_HTTP_REWRITE: `https://data.example.org=${server.origin}`,
    FILESET_METRICS_PORT: '0',
    FILESET_LOG_LEVEL: 'info',
  };
}

/** A gated one-file dataset: its response waits until open() is called. */
function gatedFile(name: string): { url: string; path: string; open: () => void } {
  const path = `/gated/${name}.csv`;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  server.route(path, {
    handler: (_req, res) =>
      void opened.then(() => res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Length': CSV.length }).end(CSV)),
  });
  cleanups.push(async () => open());
  return { url: `https://data.example.org${path}`, path, open };
}

beforeAll(async () => {
  server = await FixtureServer.start();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await server?.close();
});

describe('worker ingest command', () => {
  it('takes no arguments', async () => {
    await expect(run(loadConfig({}), silentLogger, ['extra'])).rejects.toThrow(UsageError);
    expect(usage.split('\n')[0]).toBe('Usage: fileset-ingest worker ingest [config flags]');
  });
});

describe.skipIf(!brokers)('worker ingest command with Kafka', () => {
  const kafka = testKafka(brokers || '127.0.0.1:9');
  const admin = kafka.admin();

  beforeAll(async () => {
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  async function prepare(env: Record<string, string>, url: string) {
    const names = kafkaNames(loadConfig(env));
    await createTopics(admin, [...names.requestTopics, names.filesetResults, names.fileResults]);
    await produce(kafka, names.requestTopics[0]!, [
      { key: url, value: JSON.stringify({ base_url: url, ingest_type: 'dataset' }) },
    ]);
    return names;
  }

  it('stops on its abort signal after the request in flight is answered, exit 0', async () => {
    const env = { ...(await workerEnv()), FILESET_LOG_LEVEL: 'silent' };
    const file = gatedFile('in-process');
    const names = await prepare(env, file.url);
    const stop = new AbortController();
    const exit = run(loadConfig(env), silentLogger, [], { signal: stop.signal });
    await waitFor(() => server.requests.includes(file.path), { what: () => 'the request to start' });
    stop.abort();
    file.open();
    expect(await exit).toBe(0);
    const [result] = await readTopic(kafka, names.filesetResults, 1);
    expect(result!.key).toBe(file.url);
    expect(JSON.parse(result!.value)).toMatchObject({ status: 'success-file' });
    expect(await committedOffsets(admin, names.ingestGroup, names.requestTopics[0]!)).toEqual({ 0: 1 });
  });

  it('drains on SIGTERM in its own process and exits 0 by itself', async () => {
    const env = await workerEnv();
    const file = gatedFile('sigterm');
    const names = await prepare(env, file.url);
    const worker = spawnBin(['worker', 'ingest'], env);
    await waitFor(() => server.requests.includes(file.path), {
      timeoutMs: 40_000,
      what: () => `the request to start; stderr: ${worker.stderr().slice(-4000)}`,
    });
    worker.child.kill('SIGTERM');
    await waitFor(() => worker.stderr().includes('draining'), {
      what: () => `the worker to start draining; stderr: ${worker.stderr()}`,
    });
    file.open();
    expect(await worker.exited()).toBe(0);
    expect(worker.stderr()).toContain('ingest worker stopped');
    const [result] = await readTopic(kafka, names.filesetResults, 1);
    expect(JSON.parse(result!.value)).toMatchObject({ status: 'success-file', request: { base_url: file.url } });
    expect(await committedOffsets(admin, names.ingestGroup, names.requestTopics[0]!)).toEqual({ 0: 1 });
  });

  it('each worker command serves /healthz, /readyz once ready, and only its own kind of metrics', async () => {
    const env = { ...(await workerEnv()), FILESET_LOG_LEVEL: 'silent', FILESET_METRICS_HOST: '127.0.0.1' };
    const names = kafkaNames(loadConfig(env));
    await createTopics(admin, [...names.requestTopics, names.filesetResults, names.fileResults]);
    const stop = new AbortController();
    const ports = { ingest: await freePort(), persist: await freePort() };
    const exits = [
      run(loadConfig({ ...env, FILESET_METRICS_PORT: String(ports.ingest) }), silentLogger, [], {
        signal: stop.signal,
      }),
      runPersist(loadConfig({ ...env, FILESET_METRICS_PORT: String(ports.persist) }), silentLogger, [], {
        signal: stop.signal,
      }),
    ];
    try {
      const get = async (port: number, path: string) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
        return { status: response?.status ?? 0, body: (await response?.text()) ?? '' };
      };
      for (const port of [ports.ingest, ports.persist])
        await waitFor(async () => (await get(port, '/readyz')).status === 200, {
          timeoutMs: 60_000,
          what: () => `the worker on port ${port} to be ready`,
        });
      expect(await get(ports.ingest, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
      expect(JSON.parse((await get(ports.ingest, '/readyz')).body)).toEqual({
        ready: true,
        checks: { database: 'ok', store: 'ok', kafka: 'ok' },
      });
      expect(JSON.parse((await get(ports.persist, '/readyz')).body)).toEqual({
        ready: true,
        checks: { database: 'ok', kafka: 'ok' },
      });
      const declared = async (port: number) =>
        [...(await get(port, '/metrics')).body.matchAll(/^# TYPE (fileset_\w+)/gm)].map((m) => m[1]!);
      const ingest = await declared(ports.ingest);
      const persist = await declared(ports.persist);
      expect(ingest).toEqual(
        expect.arrayContaining(['fileset_ingest_requests_total', 'fileset_budget_wait_seconds', 'fileset_ready']),
      );
      expect(ingest.filter((name) => name.startsWith('fileset_persist_'))).toEqual([]);
      expect(persist).toEqual(expect.arrayContaining(['fileset_persist_rows_total', 'fileset_ready']));
      expect(
        persist.filter((name) =>
          /^fileset_(http_|budget_|ingest_(requests|bytes|files|duration|in_flight))/.test(name),
        ),
      ).toEqual([]);
    } finally {
      stop.abort();
      expect(await Promise.all(exits)).toEqual([0, 0]);
    }
  });

  it('worker persist finishes the batch it is writing on SIGTERM, commits it and exits 0', async () => {
    const env: Record<string, string> = { ...(await workerEnv()), FILESET_PERSIST_LINGER_MS: '50' };
    const names = kafkaNames(loadConfig(env));
    await createTopics(admin, [names.filesetResults]);
    // Migrated here first, so that the tables exist to be locked (the worker's own migrate then has nothing to do).
    const db = await openDatabase(loadConfig(env), silentLogger);
    await migrate(db, silentLogger);
    await db.close();
    // A lock held by the test stalls the worker's batch transaction: SIGTERM lands mid-batch.
    const blocker = new pg.Client({ connectionString: env['FILESET_DATABASE_URL'] });
    await blocker.connect();
    cleanups.push(async () => void (await blocker.end()));
    await blocker.query('BEGIN');
    await blocker.query(
      'LOCK TABLE ingest_request, ingest_file_result, ingest_fileset_platform, cdx, file_meta IN ACCESS EXCLUSIVE MODE',
    );
    const url = 'https://zenodo.org/records/68358988';
    await produce(kafka, names.filesetResults, [
      { key: url, value: JSON.stringify(newResult({ base_url: url, ingest_type: 'dataset' }, 'platform-404')) },
    ]);

    const worker = spawnBin(['worker', 'persist'], env);
    const waiting = async () =>
      Number(
        (
          await blocker.query<{ n: string }>(
            'SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())',
          )
        ).rows[0]!.n,
      ) > 0;
    await waitFor(waiting, {
      timeoutMs: 40_000,
      intervalMs: 100,
      what: () => `the batch to wait for the lock; stderr: ${worker.stderr().slice(-4000)}`,
    });
    worker.child.kill('SIGTERM');
    await waitFor(() => worker.stderr().includes('finishing the current batch'), {
      what: () => `the worker to start stopping; stderr: ${worker.stderr()}`,
    });
    expect(worker.exitCode()).toBeUndefined();
    await blocker.query('ROLLBACK');
    expect(await worker.exited()).toBe(0);
    expect(worker.stderr()).toContain('persist worker stopped');
    const rows = await blocker.query('SELECT ingest_type, base_url, hit, status FROM ingest_file_result');
    expect(rows.rows).toEqual([{ ingest_type: 'dataset', base_url: url, hit: false, status: 'platform-404' }]);
    expect(await committedOffsets(admin, names.persistGroup, names.filesetResults)).toEqual({ 0: 1 });
  });
});

/** A TCP port nothing listens on right now (the workers take 0 to mean "no metrics endpoint"). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
