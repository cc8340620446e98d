// Broker restart during a run: a PRIVATE single-node broker (never the shared one) is stopped while
// the ingest and persist workers are busy, then started again on the storage it had
// (`scripts/kafka.sh restart`). Both workers must reconnect by themselves, and every request must
// end up exactly once in PostgreSQL (persist upserts absorb redelivered results), none missing.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kafkaNames } from '../../src/kafka/topics.js';
import type { Logger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { runIngestWorker } from '../../src/workers/ingest-fileset.js';
import { runPersistWorker } from '../../src/workers/persist-ingest-fileset.js';
import { FixtureServer } from '../support/fixture-server.js';
import {
  committedOffsets,
  createTopics,
  endOffsets,
  produce,
  testKafka,
  uniqueEnv,
  waitFor,
} from '../support/kafka.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { recordFiles, serveZenodoRecord } from '../support/zenodo-site.js';

// Only run where Kafka tests run at all (the harness fetched the Kafka jars then).
const kafkaEnabled = Boolean(inject('kafkaBrokers'));
const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'kafka.sh');
const REWRITTEN = ['https://zenodo.org', 'https://doi.org', 'https://data.example.org'];
/** Distinct bytes per file: identical files would come out `success-existing`, depending on timing. */
const csv = (name: string) => `id,name\n1,${name}\n`;

/** True if TCP `port` on 127.0.0.1 can be bound right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A port the OS hands out as free whose neighbour (the controller port) is free too. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port > 0 && port < 65535 && (await bindable(port + 1))) return port;
  }
  throw new Error('no free pair of adjacent ports found');
}

/** A logger that keeps its JSON lines in memory, so the test can wait for what a worker noticed. */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

describe.skipIf(!kafkaEnabled)('broker restart during a run', () => {
  let server: FixtureServer;
  let kafkaDir = '';
  let port = 0;
  const cleanups: Array<() => Promise<void>> = [];

  /** scripts/kafka.sh against the private broker; asynchronous, so the fixture server keeps answering. */
  function kafkaScript(...args: string[]): Promise<string> {
    const env = {
      ...process.env,
      FILESET_TEST_KAFKA_PORT: String(port),
      FILESET_TEST_KAFKA_CONTROLLER_PORT: String(port + 1),
      FILESET_KAFKA_DIR: kafkaDir,
    };
    return new Promise((resolve, reject) => {
      execFile('bash', [SCRIPT, ...args], { env, timeout: 180_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`kafka.sh ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
    });
  }

  beforeAll(async () => {
    server = await FixtureServer.start();
    serveZenodoRecord(server, 'zenodo_record_7078760.json', {
      files: recordFiles('7078760', ['data2.csv', 'data.csv', 'datapackage.json']),
    });
    serveZenodoRecord(server, 'zenodo_record_7078768.json', {
      files: recordFiles('7078768', ['capitals.csv', 'table.xls']),
    });
    serveZenodoRecord(server, 'zenodo_record_7097299.json', { files: recordFiles('7097299', ['datapackage.json']) });
    kafkaDir = await mkdtemp(join(tmpdir(), 'fileset-kafka-restart-'));
    port = await freePortPair();
    await kafkaScript('start');
  }, 200_000);

  afterAll(async () => {
    // Workers first (they hold connections to the broker), then the broker: always, also after a failure.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    if (port) await kafkaScript('stop').catch((err: unknown) => console.error(err));
    if (kafkaDir) await rm(kafkaDir, { recursive: true, force: true });
    await server?.close();
  }, 120_000);

  it('keeps both workers running across a broker stop and restart, and loses or duplicates no row', async () => {
    const brokers = `127.0.0.1:${port}`;
    const rt: TestRuntime = await testRuntime(
      server.origin,
      {
        FILESET_KAFKA_BROKERS: brokers,
        FILESET_KAFKA_ENV: uniqueEnv('restart'),
        FILESET_WORKER_CONCURRENCY: '4',
        FILESET_PERSIST_LINGER_MS: '100',
        FILESET_METRICS_PORT: '0',
      },
      REWRITTEN,
    );
    cleanups.push(() => rt.dispose());
    const names = kafkaNames(rt.config);
    const [topic] = names.requestTopics as [string];
    const kafka = testKafka(brokers);
    const admin = kafka.admin();
    await admin.connect();
    await createTopics(admin, [...names.requestTopics], { partitions: 2 });
    await createTopics(admin, [names.filesetResults, names.fileResults], { partitions: 2 });
    // Reconnected after the restart for the final checks.
    await admin.disconnect();

    // Two one-file datasets whose downloads hang until the broker is down: they finish while it is.
    const gates: Array<() => void> = [];
    const gated = ['gated-0', 'gated-1'].map((name) => {
      const path = `/restart/${name}.csv`;
      const opened = new Promise<void>((resolve) => gates.push(resolve));
      const body = csv(name);
      server.route(path, {
        handler: (_req, res) =>
          void opened.then(() =>
            res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Length': body.length }).end(body),
          ),
      });
      return { url: `https://data.example.org${path}`, path };
    });
    const plainFiles = (names: string[]) =>
      names.map((name) => {
        server.route(`/restart/${name}.csv`, { body: csv(name), headers: { 'Content-Type': 'text/csv' } });
        return `https://data.example.org/restart/${name}.csv`;
      });
    cleanups.push(async () => gates.forEach((open) => open()));

    const ingestLog = capturingLogger();
    const persistLog = capturingLogger();
    const state = { ingest: 'running', persist: 'running' } as Record<string, string>;
    const watch = (name: string, done: Promise<void>) =>
      done.then(
        () => (state[name] = 'stopped'),
        (err: unknown) => (state[name] = `failed: ${String(err)}`),
      );
    const stopIngest = new AbortController();
    const ingest = runIngestWorker(rt.config, ingestLog.logger, {
      signal: stopIngest.signal,
      metrics: createMetrics({ defaultMetrics: false }),
      runtime: rt,
      consumer: { sessionTimeout: 10_000, heartbeatInterval: 1_000 },
      infraBackoff: { initialMs: 200, maxMs: 2_000 },
    });
    const ingestWatched = watch('ingest', ingest);
    cleanups.push(async () => {
      stopIngest.abort();
      await ingestWatched;
    });
    const stopPersist = new AbortController();
    const persist = runPersistWorker(rt.config, persistLog.logger, {
      signal: stopPersist.signal,
      metrics: createMetrics({ defaultMetrics: false }),
      db: rt.db,
      retryDelayMs: 200,
      maxRetryDelayMs: 2_000,
    });
    const persistWatched = watch('persist', persist);
    cleanups.push(async () => {
      stopPersist.abort();
      await persistWatched;
    });

    const request = (url: string) => ({ key: url, value: JSON.stringify({ base_url: url, ingest_type: 'dataset' }) });
    // One request per dataset (the same dataset twice at once would race to `success-existing`).
    const zenodoBefore = ['https://doi.org/10.5281/zenodo.7078760'];
    const zenodoAfter = ['https://zenodo.org/records/7078768', 'https://zenodo.org/record/7097299'];
    const before = [...zenodoBefore, ...plainFiles(['before-0', 'before-1', 'before-2'])];
    const after = [...zenodoAfter, ...plainFiles(['after-0', 'after-1', 'after-2'])];
    const persisted = async () =>
      (await rt.db.query<{ base_url: string }>('SELECT base_url FROM ingest_file_result')).map((r) => r.base_url);

    // Before the stop: some requests are done and persisted, two are in flight.
    await produce(kafka, topic, [...before, ...gated.map((g) => g.url)].map(request));
    await waitFor(
      async () => {
        const got = await persisted();
        return before.every((url) => got.includes(url)) && gated.every((g) => server.requests.includes(g.path));
      },
      {
        timeoutMs: 90_000,
        intervalMs: 200,
        what: () => `the first results persisted and the gated downloads started (workers: ${JSON.stringify(state)})`,
      },
    );
    expect(await persisted()).toHaveLength(before.length);

    await kafkaScript('stop');
    const mark = { ingest: ingestLog.lines.length, persist: persistLog.lines.length };
    // The in-flight datasets finish while there is no broker to take their results.
    gates.forEach((open) => open());
    // Wait until both workers' Kafka clients have run into the missing broker.
    const noticed = (log: ReturnType<typeof capturingLogger>, from: number) =>
      log.lines.slice(from).some((l) => l.module === 'kafkajs');
    await waitFor(() => noticed(ingestLog, mark.ingest) && noticed(persistLog, mark.persist), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: () => `both workers to notice the broker is gone (workers: ${JSON.stringify(state)})`,
    });
    expect(state).toEqual({ ingest: 'running', persist: 'running' });

    expect(await kafkaScript('restart')).toContain('with kept data');
    await produce(kafka, topic, after.map(request));

    const all = [...before, ...gated.map((g) => g.url), ...after];
    await waitFor(async () => (await persisted()).length >= all.length, {
      timeoutMs: 150_000,
      intervalMs: 250,
      what: () =>
        `every request persisted (workers: ${JSON.stringify(state)}; ingest log: ${JSON.stringify(ingestLog.lines.slice(-5))}; persist log: ${JSON.stringify(persistLog.lines.slice(-5))})`,
    });
    // Both workers reconnected by themselves and are still running.
    expect(state).toEqual({ ingest: 'running', persist: 'running' });

    // Exactly one row per request in each table, none missing, with the right outcome.
    const platformRows = await rt.db.query<{
      base_url: string;
      status: string;
      platform_name: string;
      platform_id: string;
      ingest_strategy: string;
    }>(
      'SELECT base_url, status, platform_name, platform_id, ingest_strategy FROM ingest_fileset_platform ORDER BY base_url',
    );
    const zenodo = (base_url: string, status: string, ingest_strategy: string) => ({
      base_url,
      status,
      platform_name: 'zenodo',
      platform_id: /(\d+)$/.exec(base_url)![1]!,
      ingest_strategy,
    });
    const expected = [
      zenodo(zenodoBefore[0]!, 'success', 'web-fileset'),
      zenodo(zenodoAfter[0]!, 'success', 'web-fileset'),
      // A one-file record is archived as a single file.
      zenodo(zenodoAfter[1]!, 'success-file', 'web-file'),
      ...all
        .filter((url) => url.startsWith('https://data.example.org/'))
        .map((base_url) => ({
          base_url,
          status: 'success-file',
          platform_name: 'web',
          platform_id: base_url,
          ingest_strategy: 'web-file',
        })),
    ].sort((a, b) => a.base_url.localeCompare(b.base_url));
    expect(platformRows).toEqual(expected);
    const fileRows = await rt.db.query<{ base_url: string; status: string; n: string }>(
      'SELECT base_url, status, count(*) OVER (PARTITION BY base_url)::text AS n FROM ingest_file_result ORDER BY base_url',
    );
    expect(fileRows).toEqual(expected.map(({ base_url, status }) => ({ base_url, status, n: '1' })));

    // Every request offset and every result offset was committed once the work was done.
    const checks = testKafka(brokers).admin();
    await checks.connect();
    try {
      await waitFor(
        async () =>
          JSON.stringify(await committedOffsets(checks, names.ingestGroup, topic)) ===
            JSON.stringify(await endOffsets(checks, topic)) &&
          JSON.stringify(await committedOffsets(checks, names.persistGroup, names.filesetResults)) ===
            JSON.stringify(await endOffsets(checks, names.filesetResults)),
        { timeoutMs: 60_000, intervalMs: 250, what: () => 'every request and result offset committed' },
      );
      const requestEnds = await endOffsets(checks, topic);
      expect(Object.values(requestEnds).reduce((n, end) => n + end, 0)).toBe(all.length);
    } finally {
      await checks.disconnect();
    }

    stopIngest.abort();
    stopPersist.abort();
    await ingestWatched;
    await persistWatched;
    expect(state).toEqual({ ingest: 'stopped', persist: 'stopped' });
  }, 400_000);
});
