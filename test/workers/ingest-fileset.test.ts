// The Kafka ingest worker end to end: the real test broker, the real PostgreSQL, Zenodo and a file
// host served by a local fixture server (recorded API responses, real file bytes).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import type { Counter } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfrastructureError } from '../../src/errors.js';
import { Readiness } from '../../src/health.js';
import { JsonConsumer } from '../../src/kafka/consumer.js';
import { kafkaNames } from '../../src/kafka/topics.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { PLATFORMS } from '../../src/platforms/registry.js';
import type { PlatformHelper } from '../../src/platforms/types.js';
import { FilesetResultSchema, type FilesetResult } from '../../src/schemas/result.js';
import { runIngestWorker, type IngestWorkerOptions } from '../../src/workers/ingest-fileset.js';
import { silentLogger } from '../support/context.js';
import { FixtureServer } from '../support/fixture-server.js';
import {
  committedOffsets,
  createTopics,
  endOffsets,
  messageCount,
  produce,
  readTopic,
  stableGroup,
  testKafka,
  uniqueEnv,
  waitFor,
} from '../support/kafka.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { recordFiles, recordJson, serveZenodoRecord } from '../support/zenodo-site.js';

const brokers = inject('kafkaBrokers');
const REWRITTEN = ['https://zenodo.org', 'https://doi.org', 'https://data.example.org'];
const SUCCESS_URL = 'https://doi.org/10.5281/zenodo.7078760';
const MISSING_URL = 'https://zenodo.org/records/68358988';
const CSV_URL = 'https://data.example.org/data/table.csv';
const CSV = 'id,name\n1,english\n2,中国人\n';

let server: FixtureServer;
const gates = new Map<string, () => void>();
const cleanups: Array<() => Promise<void>> = [];

/** A one-file dataset at /slow/<name>.csv whose every response waits until the test opens it. */
function slowDataset(name: string): { url: string; path: string; open: () => void } {
  const path = `/slow/${name}.csv`;
  const opened = new Promise<void>((resolve) => gates.set(name, resolve));
  server.route(path, {
    handler: (_req, res) => {
      void opened.then(() =>
        res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Length': Buffer.byteLength(CSV) }).end(CSV),
      );
    },
  });
  return { url: `https://data.example.org${path}`, path, open: () => gates.get(name)?.() };
}

interface Setup {
  rt: TestRuntime;
  env: string;
  kafka: Kafka;
  admin: Admin;
  names: ReturnType<typeof kafkaNames>;
}

async function setup(
  options: { partitions?: number; concurrency?: number; requestTopicConfig?: Record<string, string> } = {},
): Promise<Setup> {
  const env = uniqueEnv();
  const rt = await testRuntime(
    server.origin,
    {
      FILESET_KAFKA_BROKERS: brokers,
      FILESET_KAFKA_ENV: env,
      FILESET_WORKER_CONCURRENCY: String(options.concurrency ?? 2),
      FILESET_METRICS_PORT: '0',
    },
    REWRITTEN,
  );
  const kafka = testKafka(brokers);
  const admin = kafka.admin();
  await admin.connect();
  cleanups.push(async () => {
    await admin.disconnect();
    await rt.dispose();
  });
  const names = kafkaNames(rt.config);
  await createTopics(admin, names.requestTopics, {
    partitions: options.partitions ?? 1,
    config: options.requestTopicConfig ?? {},
  });
  await createTopics(admin, [names.filesetResults, names.fileResults], { partitions: 2 });
  return { rt, env, kafka, admin, names };
}

interface RunningWorker {
  metrics: Metrics;
  done: Promise<void>;
  stop(): Promise<void>;
}

function startWorker(s: Setup, options: Partial<IngestWorkerOptions> = {}): RunningWorker {
  const controller = new AbortController();
  const metrics = createMetrics({ defaultMetrics: false });
  const done = runIngestWorker(s.rt.config, silentLogger, {
    signal: controller.signal,
    metrics,
    runtime: s.rt,
    lagIntervalMs: 500,
    ...options,
  });
  const stop = async () => {
    controller.abort();
    await done;
  };
  cleanups.push(async () => {
    controller.abort();
    await done.catch(() => {});
  });
  return { metrics, done, stop };
}

async function results(s: Setup, count: number): Promise<Array<{ key: string | null; result: FilesetResult }>> {
  const messages = await readTopic(s.kafka, s.names.filesetResults, count);
  return messages.map((m) => ({ key: m.key, result: FilesetResultSchema.parse(JSON.parse(m.value)) }));
}

async function counterValue(counter: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((n, v) => n + v.value, 0);
}

/** Every request message on the topic has a committed offset past it. */
async function expectAllCommitted(s: Setup, topic: string): Promise<void> {
  const committed = await committedOffsets(s.admin, s.names.ingestGroup, topic);
  // A partition that never had a message has no commit (-1): nothing is owed there either.
  const owed = Object.fromEntries(
    Object.entries(await endOffsets(s.admin, topic)).map(([p, end]) => [p, end === 0 ? -1 : end]),
  );
  expect(committed).toEqual(owed);
}

beforeAll(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json', {
    files: recordFiles('7078760', ['data2.csv', 'data.csv', 'datapackage.json']),
  });
  server.route('/api/records/68358988', {
    status: 404,
    body: recordJson('zenodo_record_68358988_404.json'),
    headers: { 'Content-Type': 'application/json' },
  });
  server.route('/data/table.csv', { body: CSV, headers: { 'Content-Type': 'text/csv' } });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const open of gates.values()) open();
});

afterAll(async () => {
  await server?.close();
});

const PDF_URL = 'https://example.org/paper.pdf';

describe.skipIf(!brokers)('ingest worker', () => {
  it('answers each dataset request with one fileset result keyed by base_url, other ingest types with skip-ingest-type, commits every offset', async () => {
    const s = await setup({ partitions: 2 });
    const [daily, priority] = s.names.requestTopics as [string, string];
    await produce(s.kafka, daily, [
      {
        key: SUCCESS_URL,
        value: JSON.stringify({
          base_url: SUCCESS_URL,
          ingest_type: 'dataset',
          link_source: 'doi',
          link_source_id: '10.5281/zenodo.7078760',
        }),
      },
      { key: PDF_URL, value: JSON.stringify({ base_url: PDF_URL, ingest_type: 'pdf' }) },
      { key: CSV_URL, value: JSON.stringify({ base_url: CSV_URL, ingest_type: 'dataset' }) },
    ]);
    await produce(s.kafka, priority, [
      { key: MISSING_URL, value: JSON.stringify({ base_url: MISSING_URL, ingest_type: 'dataset' }) },
    ]);
    const worker = startWorker(s);

    const got = await results(s, 4);
    const byKey: Record<string, FilesetResult> = Object.fromEntries(got.map(({ key, result }) => [key ?? '', result]));
    expect(Object.keys(byKey).sort()).toEqual([CSV_URL, SUCCESS_URL, MISSING_URL, PDF_URL].sort());
    expect(byKey[PDF_URL]).toMatchObject({
      hit: false,
      status: 'skip-ingest-type',
      request: { base_url: PDF_URL, ingest_type: 'pdf' },
    });
    expect(byKey[PDF_URL]).not.toHaveProperty('hops');
    expect(byKey[SUCCESS_URL]).toMatchObject({
      hit: true,
      status: 'success',
      request: {
        base_url: SUCCESS_URL,
        ingest_type: 'dataset',
        link_source: 'doi',
        link_source_id: '10.5281/zenodo.7078760',
      },
      platform_name: 'zenodo',
      platform_id: '7078760',
      ingest_strategy: 'web-fileset',
      file_count: 3,
      total_size: 1768,
    });
    expect(byKey[SUCCESS_URL]!.manifest!.map((e) => [e.path, e.status, e.size])).toEqual([
      ['data2.csv', 'success', 60],
      ['data.csv', 'success', 114],
      ['datapackage.json', 'success', 1594],
    ]);
    expect(byKey[MISSING_URL]).toMatchObject({
      hit: false,
      status: 'platform-404',
      request: { base_url: MISSING_URL, ingest_type: 'dataset' },
    });
    expect(byKey[CSV_URL]).toMatchObject({
      hit: true,
      status: 'success-file',
      ingest_strategy: 'web-file',
      file_count: 1,
    });

    // The one-file dataset also gets a dataset-file result (sandcrawler's file result shape).
    const [fileMessage] = await readTopic(s.kafka, s.names.fileResults, 1);
    expect(fileMessage!.key).toBe(CSV_URL);
    expect(JSON.parse(fileMessage!.value)).toMatchObject({
      hit: true,
      status: 'success',
      request: { base_url: CSV_URL, ingest_type: 'dataset-file' },
      file_meta: { size_bytes: Buffer.byteLength(CSV), mimetype: 'text/csv' },
    });

    // consumerLag (refreshed every 500 ms here) comes down to 0 on all four partitions.
    await waitFor(
      async () => {
        const { values } = await worker.metrics.consumerLag.get();
        return values.length === 4 && values.every((v) => v.value === 0);
      },
      { what: () => 'consumer lag 0 on every partition' },
    );
    await worker.stop();
    expect(await messageCount(s.admin, s.names.filesetResults)).toBe(4);
    expect(await messageCount(s.admin, s.names.fileResults)).toBe(1);
    await expectAllCommitted(s, daily);
    await expectAllCommitted(s, priority);
    const m = worker.metrics;
    expect(await counterValue(m.requests, { status: 'skip-ingest-type', platform: '', strategy: '' })).toBe(1);
    expect(await counterValue(m.requests, { status: 'success', platform: 'zenodo', strategy: 'web-fileset' })).toBe(1);
    expect(await counterValue(m.requests, { status: 'platform-404', platform: '', strategy: '' })).toBe(1);
    expect(await counterValue(m.requests, { status: 'success-file', platform: 'web', strategy: 'web-file' })).toBe(1);
    expect(await counterValue(m.filesArchived, { strategy: 'web-fileset' })).toBe(3);
    expect(await counterValue(m.bytesArchived, { strategy: 'web-fileset' })).toBe(1768);
    expect((await m.inFlight.get()).values[0]?.value).toBe(0);
    await s.rt.closeAndValidate();
  });

  it('keeps going past poison messages: not JSON, the wrong shape, 10 MB lines', async () => {
    // One request at a time: only then do results come in request order (with two in flight, the
    // 404 and the one-file dataset race each other).
    const s = await setup({ concurrency: 1, requestTopicConfig: { 'max.message.bytes': String(16 * 1024 * 1024) } });
    const [topic] = s.names.requestTopics as [string];
    const tenMegabytes = 'x'.repeat(10 * 1024 * 1024);
    await produce(s.kafka, topic, [
      { value: 'this is {not JSON' },
      { value: JSON.stringify({ ingest_type: 'dataset', link_source: 'doi' }) },
      { value: tenMegabytes },
      {
        key: MISSING_URL,
        value: JSON.stringify({ base_url: MISSING_URL, ingest_type: 'dataset', junk: tenMegabytes }),
      },
      { key: CSV_URL, value: JSON.stringify({ base_url: CSV_URL, ingest_type: 'dataset' }) },
    ]);
    const worker = startWorker(s, { drainGraceMs: 30_000 });

    const got = await results(s, 3);
    // One partition, one request in flight: results come in request order.
    expect(got.map(({ result }) => result.status)).toEqual(['bad-request', 'bad-request', 'success-file']);
    expect(got[0]!.result).toMatchObject({
      request: { ingest_type: 'dataset', link_source: 'doi' },
      error_message: expect.stringContaining('base_url'),
    });
    expect(got[0]!.key).toBeNull();
    // A 10 MB request is refused before any fetch, and echoed with its long string clipped to 1 KiB.
    expect(got[1]!.key).toBe(MISSING_URL);
    expect(got[1]!.result.error_message).toMatch(/larger than 65536 bytes/);
    expect(got[1]!.result.request).toEqual({ base_url: MISSING_URL, ingest_type: 'dataset', junk: 'x'.repeat(1024) });
    await worker.stop();
    expect(await counterValue(worker.metrics.skipped, { reason: 'not-json' })).toBe(2);
    await expectAllCommitted(s, topic);
  });

  it('heartbeats through a request longer than the session timeout: no rebalance, each request answered once', async () => {
    const s = await setup({ concurrency: 1 });
    const [topic] = s.names.requestTopics as [string];
    const slow = slowDataset('heartbeat');
    await produce(s.kafka, topic, [
      { key: slow.url, value: JSON.stringify({ base_url: slow.url, ingest_type: 'dataset' }) },
      { key: CSV_URL, value: JSON.stringify({ base_url: CSV_URL, ingest_type: 'dataset' }) },
    ]);
    const sessionTimeout = 6_000;
    const worker = startWorker(s, { consumer: { sessionTimeout, heartbeatInterval: 500 } });
    await waitFor(() => server.requests.includes(slow.path), { what: () => 'the slow request to start' });
    const [before] = await stableGroup(s.admin, s.names.ingestGroup, 1);
    // The scenario, not a timing assertion: the request outlives the session timeout.
    await sleep(sessionTimeout + 3_000);
    slow.open();
    const got = await results(s, 2);
    expect(got.map(({ key, result }) => [key, result.status])).toEqual([
      [slow.url, 'success-file'],
      [CSV_URL, 'success-file'],
    ]);
    const [after] = await stableGroup(s.admin, s.names.ingestGroup, 1);
    expect(after!.memberId).toBe(before!.memberId);
    await worker.stop();
    expect(await messageCount(s.admin, s.names.filesetResults)).toBe(2);
    await expectAllCommitted(s, topic);
  });

  it('abandons a request still running when the drain grace period ends; the next worker answers it', async () => {
    const s = await setup();
    const [topic] = s.names.requestTopics as [string];
    const slow = slowDataset('abandoned');
    await produce(s.kafka, topic, [
      { key: slow.url, value: JSON.stringify({ base_url: slow.url, ingest_type: 'dataset' }) },
    ]);
    const first = startWorker(s, { drainGraceMs: 200 });
    await waitFor(() => server.requests.includes(slow.path), { what: () => 'the slow request to start' });
    await first.stop();
    expect(await messageCount(s.admin, s.names.filesetResults)).toBe(0);
    // Committed: "next to consume is 0", the abandoned request itself.
    expect(await committedOffsets(s.admin, s.names.ingestGroup, topic)).toEqual({ 0: 0 });

    slow.open();
    const second = startWorker(s);
    const got = await results(s, 1);
    expect(got.map(({ key, result }) => [key, result.status])).toEqual([[slow.url, 'success-file']]);
    await second.stop();
    expect(await messageCount(s.admin, s.names.filesetResults)).toBe(1);
    await expectAllCommitted(s, topic);
  });

  it('on stop, lets an in-flight request finish, produces its result and commits it', async () => {
    const s = await setup();
    const [topic] = s.names.requestTopics as [string];
    const slow = slowDataset('drained');
    await produce(s.kafka, topic, [
      { key: slow.url, value: JSON.stringify({ base_url: slow.url, ingest_type: 'dataset' }) },
    ]);
    const worker = startWorker(s);
    await waitFor(() => server.requests.includes(slow.path), { what: () => 'the slow request to start' });
    const stopped = worker.stop();
    slow.open();
    await stopped;
    expect(await messageCount(s.admin, s.names.filesetResults)).toBe(1);
    await expectAllCommitted(s, topic);
  });

  it('retries a request after infrastructure errors instead of failing it', async () => {
    const s = await setup();
    const [topic] = s.names.requestTopics as [string];
    let failures = 2;
    const flaky: readonly PlatformHelper[] = PLATFORMS.map((helper) =>
      helper.name !== 'zenodo'
        ? helper
        : {
            name: helper.name,
            matchRequest: (request, landing) => helper.matchRequest(request, landing),
            processRequest: async (request, landing, ctx) => {
              if (failures-- > 0) throw new InfrastructureError('item store unreachable (test)');
              return helper.processRequest(request, landing, ctx);
            },
          },
    );
    await produce(s.kafka, topic, [
      { key: SUCCESS_URL, value: JSON.stringify({ base_url: SUCCESS_URL, ingest_type: 'dataset' }) },
    ]);
    const worker = startWorker(s, {
      runtime: { ...s.rt, deps: { ...s.rt.deps, platforms: flaky } },
      infraBackoff: { initialMs: 20, maxMs: 100 },
    });
    const got = await results(s, 1);
    expect(got.map(({ result }) => result.status)).toEqual(['success']);
    await worker.stop();
    expect(await counterValue(worker.metrics.infraRetries, { reason: 'ingest' })).toBe(2);
    expect(await messageCount(s.admin, s.names.filesetResults)).toBe(1);
    await expectAllCommitted(s, topic);
  });

  it('shares the partitions of a topic between two workers', async () => {
    const s = await setup({ partitions: 4 });
    const [topic] = s.names.requestTopics as [string];
    const one = startWorker(s);
    const two = startWorker(s);
    const members = await stableGroup(s.admin, s.names.ingestGroup, 2);
    // Two request topics of 4 partitions each.
    expect(members.map((m) => m.partitions)).toEqual([4, 4]);
    const urls = Array.from({ length: 12 }, (_, i) => `${CSV_URL}?copy=${i}`);
    await produce(
      s.kafka,
      topic,
      urls.map((url) => ({ key: url, value: JSON.stringify({ base_url: url, ingest_type: 'dataset' }) })),
    );
    const got = await results(s, urls.length);
    expect(got.map(({ key }) => key).sort()).toEqual([...urls].sort());
    await Promise.all([one.stop(), two.stop()]);
    const counts = await Promise.all(
      [one, two].map((w) => counterValue(w.metrics.requests, { status: 'success-file' })),
    );
    expect(counts[0]! + counts[1]!).toBe(urls.length);
    expect(counts.every((n) => n > 0)).toBe(true);
    await expectAllCommitted(s, topic);
  });

  it('is ready while it runs (database, item store, a member of its stable group), and not once stopped', async () => {
    const s = await setup();
    const outsider = new JsonConsumer(s.kafka, {
      groupId: s.names.ingestGroup,
      topics: s.names.requestTopics,
      concurrency: 1,
      logger: silentLogger,
      metrics: createMetrics({ defaultMetrics: false }),
    });
    await expect(outsider.checkGroup()).rejects.toThrow(`not a member of group ${s.names.ingestGroup}`);
    const readiness = new Readiness();
    const worker = startWorker(s, { readiness });
    await waitFor(async () => (await readiness.report()).ready, {
      timeoutMs: 60_000,
      what: () => 'the worker to be ready',
    });
    expect(await readiness.report()).toEqual({ ready: true, checks: { database: 'ok', store: 'ok', kafka: 'ok' } });
    await worker.stop();
    expect(await readiness.report()).toEqual({ ready: false, checks: { worker: 'starting' } });
  });
});
