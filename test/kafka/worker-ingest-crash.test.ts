// Crash test: ingest worker processes killed with SIGKILL at random points while requests are in
// flight, then restarted. Every request still gets a result (duplicates are allowed: at least once),
// every offset ends up committed, and the WARC files stay valid (the `.open` files a killed writer
// left are recovered by the next start).
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { kafkaNames } from '../../src/kafka/topics.js';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer, slowFile } from '../support/fixture-server.js';
import { expectValidWarc } from '../support/jwarc.js';
import {
  committedOffsets,
  createTopics,
  endOffsets,
  messageCount,
  produce,
  readTopic,
  spawnTsx,
  testKafka,
  uniqueEnv,
  waitFor,
  type ReadMessage,
  type WorkerProcess,
} from '../support/kafka.js';

const brokers = inject('kafkaBrokers');
const REQUESTS = 16;
const KILLS = 3;

/**
 * The worker with a short session timeout, so a killed member leaves the group in seconds. SIGTERM
 * is handled from the first line: when the earlier workers have already answered every request,
 * the last one is stopped while it is still loading its modules (regression: it died of the signal).
 */
const WORKER_SCRIPT = `
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  const { loadConfig } = await import('./src/config.ts');
  const { createLogger } = await import('./src/logger.ts');
  const { createMetrics } = await import('./src/metrics.ts');
  const { runIngestWorker } = await import('./src/workers/ingest-fileset.ts');
  const config = loadConfig();
  await runIngestWorker(config, createLogger(config.logLevel), {
    signal: stop.signal,
    metrics: createMetrics(),
    consumer: { sessionTimeout: 6000, heartbeatInterval: 500 },
  });`;

describe.skipIf(!brokers)('ingest worker killed with SIGKILL', () => {
  let server: FixtureServer;
  let database: TestDatabase;
  let dataDir: string;
  const kafka = testKafka(brokers || '127.0.0.1:9');
  const admin = kafka.admin();

  beforeAll(async () => {
    server = await FixtureServer.start();
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'fileset-crash-'));
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
    await server?.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('loses no request across kills and restarts, and leaves only valid WARC files', async () => {
    const urls: string[] = [];
    for (let i = 0; i < REQUESTS; i += 1) {
      const path = `/crash/${i}.bin`;
      const body = randomBytes(256 * 1024);
      server.route(path, slowFile(body, 50, 400));
      urls.push(`https://data.example.org${path}`);
    }
    const env = {
      FILESET_DATA_DIR: dataDir,
      FILESET_DATABASE_URL: database.url,
      FILESET_KAFKA_BROKERS: brokers,
      FILESET_KAFKA_ENV: uniqueEnv(),
      FILESET_HTTP_REWRITE: `https://data.example.org=${server.origin}`,
      FILESET_WORKER_CONCURRENCY: '4',
      FILESET_LOG_LEVEL: 'warn',
    };
    const names = kafkaNames(loadConfig(env));
    const [topic] = names.requestTopics as [string];
    await createTopics(admin, [...names.requestTopics], { partitions: 2 });
    await createTopics(admin, [names.filesetResults, names.fileResults], { partitions: 2 });
    await produce(
      kafka,
      topic,
      urls.map((url) => ({ key: url, value: JSON.stringify({ base_url: url, ingest_type: 'dataset' }) })),
    );

    const workers: WorkerProcess[] = [];
    try {
      for (let kill = 0; kill < KILLS; kill += 1) {
        const worker = spawnTsx(WORKER_SCRIPT, env);
        workers.push(worker);
        const seen = server.requests.length;
        // Kill once this worker has started some downloads, at a random moment after that.
        await waitFor(() => server.requests.length > seen, {
          timeoutMs: 45_000,
          what: () => `downloads to start; stderr: ${worker.stderr().slice(-4000)}`,
        });
        await sleep(randomInt(0, 600));
        worker.child.kill('SIGKILL');
        expect(await worker.exited()).toBeNull();
      }
      const last = spawnTsx(WORKER_SCRIPT, env);
      workers.push(last);
      // At least once: duplicates are allowed, so read until every URL has a result.
      let got: ReadMessage[] = [];
      await waitFor(
        async () => {
          const count = await messageCount(admin, names.filesetResults);
          if (count < REQUESTS) return false;
          got = await readTopic(kafka, names.filesetResults, count);
          return urls.every((url) => got.some((m) => m.key === url));
        },
        {
          timeoutMs: 120_000,
          intervalMs: 1_000,
          what: () =>
            `a result for every request (${new Set(got.map((m) => m.key)).size}/${REQUESTS}); stderr: ${last.stderr().slice(-4000)}`,
        },
      );
      last.child.kill('SIGTERM');
      expect(await last.exited(90_000)).toBe(0);

      expect([...new Set(got.map((m) => m.key))].sort()).toEqual([...urls].sort());
      for (const message of got)
        expect(FilesetResultSchema.parse(JSON.parse(message.value)).status).toBe('success-file');
      expect(await committedOffsets(admin, names.ingestGroup, topic)).toEqual(await endOffsets(admin, topic));
    } finally {
      for (const worker of workers) worker.child.kill('SIGKILL');
    }

    const files = await readdir(join(dataDir, 'warcs'));
    expect(files.filter((f) => f.endsWith('.open'))).toEqual([]);
    const warcs = files.filter((f) => f.endsWith('.warc.gz'));
    expect(warcs.length).toBeGreaterThan(0);
    for (const warc of warcs) await expectValidWarc(join(dataDir, 'warcs', warc));
  }, 300_000);
});
