// The persist worker against the real Kafka broker and the real PostgreSQL: fileset results made
// by the real pipeline (recorded Zenodo records, real file bytes) go through a results topic into
// the sandcrawler tables. Each test has its own FILESET_KAFKA_ENV (topic and group) and database.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import pg from 'pg';
import type { Counter } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { run as runCommand } from '../../src/commands/worker-persist.js';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createTopicsAndWait } from '../../src/kafka/client.js';
import { kafkaNames } from '../../src/kafka/topics.js';
import { Readiness } from '../../src/health.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FilesetResultSchema, type FilesetResult } from '../../src/schemas/result.js';
import { runPersistWorker } from '../../src/workers/persist-ingest-fileset.js';
import { recordingLogger, silentLogger } from '../support/context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testProducer } from '../support/kafka.js';
import { testRuntime } from '../support/runtime.js';
import { startTcpProxy, targetOf, viaProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { recordFiles, recordJson, serveZenodoRecord } from '../support/zenodo-site.js';
import { describeError, UsageError } from '../../src/errors.js';
const brokers = inject('kafkaBrokers');

/** Real results, made once: a success, a failure with a platform, and two without one. */
const made: Record<'success' | 'mismatch' | 'notFound' | 'noPlatform', FilesetResult> = {} as never;

describe.skipIf(!brokers)('persist worker (Kafka → PostgreSQL)', () => {
  const kafka = new Kafka({ clientId: 'persist-worker-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  let admin: Admin;
  let producer: Producer;
  const cleanup: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    const server = await FixtureServer.start();
    serveZenodoRecord(server, 'zenodo_record_7078760.json', {
      files: recordFiles('7078760', ['data2.csv', 'data.csv', 'datapackage.json']),
    });
    // Record 7078768 served with the wrong bytes: a mismatch, with the platform identified.
    serveZenodoRecord(server, 'zenodo_record_7078768.json', {
      files: { 'capitals.csv': recordFiles('7078760', ['data.csv'])['data.csv']!, 'table.xls': Buffer.alloc(6144) },
    });
    server.route('/api/records/68358988', {
      status: 404,
      body: recordJson('zenodo_record_68358988_404.json'),
      headers: { 'Content-Type': 'application/json' },
    });
    server.route('/about', {
      body: '<html><head><title>about</title></head><body>hello</body></html>',
      headers: { 'Content-Type': 'text/html' },
    });
    const rt = await testRuntime(server.origin);
    try {
      const ingest = async (base_url: string, link_source_id: string) =>
        FilesetResultSchema.parse(
          (
            await ingestFileset(
              {
                base_url,
                ingest_type: 'dataset',
                link_source: 'doi',
                link_source_id,
                ingest_request_source: 'fileset-test',
                release_stage: 'published',
              },
              rt.deps,
            )
          ).result,
        );
      made.success = await ingest('https://doi.org/10.5281/zenodo.7078760', '10.5281/zenodo.7078760');
      made.mismatch = await ingest('https://zenodo.org/records/7078768', '10.5281/zenodo.7078768');
      made.notFound = await ingest('https://zenodo.org/records/68358988', '10.5281/zenodo.68358988');
      made.noPlatform = await ingest('https://zenodo.org/about', 'about');
    } finally {
      await rt.dispose();
      await server.close();
    }
    expect([made.success.status, made.mismatch.status, made.notFound.status, made.noPlatform.status]).toEqual([
      'success',
      'mismatch-size',
      'platform-404',
      'no-platform-match',
    ]);
    admin = kafka.admin();
    await admin.connect();
    producer = testProducer(kafka);
    await producer.connect();
  });

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  interface Setup {
    config: Config;
    topic: string;
    group: string;
    db: Database;
    database: TestDatabase;
  }

  /** A fresh database (migrated), a unique env with its results topic, and the worker's config. */
  async function setup(env: Record<string, string> = {}, partitions = 3): Promise<Setup> {
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const config = loadConfig({
      FILESET_KAFKA_BROKERS: brokers,
      FILESET_KAFKA_ENV: `persist-${randomBytes(5).toString('hex')}`,
      FILESET_DATABASE_URL: database.url,
      FILESET_LOG_LEVEL: 'silent',
      FILESET_PERSIST_LINGER_MS: '100',
      ...env,
    });
    const db = await openDatabase(config, silentLogger);
    cleanup.push(() => db.close());
    await migrate(db, silentLogger);
    const { filesetResults: topic, persistGroup: group } = kafkaNames(config);
    await createTopicsAndWait(admin, [{ topic, numPartitions: partitions }]);
    return { config, topic, group, db, database };
  }

  interface Running {
    metrics: Metrics;
    /** The worker's last log lines (debug, kafkajs included), for a failure to show. */
    logTail(): string;
    /** Settles when the worker ends by itself (or is stopped). */
    done: Promise<void>;
    stop(): Promise<void>;
  }

  function startWorker(
    s: Setup,
    db: Database = s.db,
    metrics: Metrics = createMetrics({ defaultMetrics: false }),
    readiness?: Readiness,
  ): Running {
    const controller = new AbortController();
    const { logger, tail } = recordingLogger();
    const done = runPersistWorker(s.config, logger, {
      signal: controller.signal,
      metrics,
      db,
      ...(readiness ? { readiness } : {}),
      retryDelayMs: 50,
      maxRetryDelayMs: 200,
    });
    const stop = async () => {
      controller.abort();
      await done;
    };
    cleanup.push(stop);
    return { metrics, done, stop, logTail: tail };
  }

  async function produce(topic: string, values: Array<FilesetResult | string | null>): Promise<void> {
    const messages = values.map((v) =>
      v !== null && typeof v === 'object'
        ? { key: String(v.request.base_url), value: JSON.stringify(v) }
        : { key: 'poison', value: v },
    );
    await producer.send({ topic, messages, acks: -1 });
  }

  /** Runs until the group has committed `count` messages; returns the stopped worker's metrics. */
  async function persistUntilCommitted(s: Setup, count: number, db?: Database): Promise<Metrics> {
    const worker = startWorker(s, db);
    // A worker that ends before committing fails the test with its own error, not a timeout.
    const ended = worker.done.then(() => {
      throw new Error('the persist worker ended before committing');
    });
    ended.catch(() => undefined); // once stopped below, it ends as it should
    let seen: number | undefined;
    try {
      await Promise.race([
        waitFor(
          async () => (seen = (await committedOffsets(admin, s.group, s.topic)).total) === count,
          `${count} offsets committed`,
        ),
        ended,
      ]);
    } catch (err) {
      throw new Error(
        `${describeError(err)} (last seen: ${seen ?? 'none'})\nthe worker's last log lines:\n${worker.logTail()}`,
        { cause: err },
      );
    }
    await worker.stop();
    return worker.metrics;
  }

  it('writes success and failure results into every table, the manifest verbatim, and commits past them', async () => {
    const s = await setup();
    const results = [made.success, made.mismatch, made.notFound, made.noPlatform];
    await produce(s.topic, results);
    const metrics = await persistUntilCommitted(s, 4);

    const fileResults = await s.db.query(
      `SELECT ${Object.keys(fileResultRow(made.success)).join(', ')} FROM ingest_file_result ORDER BY base_url`,
    );
    expect(fileResults).toEqual(results.map(fileResultRow).sort((a, b) => a.base_url.localeCompare(b.base_url)));
    // Only results whose platform was identified have a platform row.
    const platforms = await s.db.query(
      `SELECT ${PLATFORM_COLUMNS.join(', ')} FROM ingest_fileset_platform ORDER BY base_url`,
    );
    expect(platforms).toEqual([expectedPlatformRow(made.success), expectedPlatformRow(made.mismatch)]);
    expect(platforms[0]).toMatchObject({
      status: 'success',
      hit: true,
      platform_name: 'zenodo',
      platform_id: '7078760',
      ingest_strategy: 'web-fileset',
      file_count: 3,
      total_size: 1768,
      archiveorg_item_name: 'zenodo.org-7078760',
    });
    expect(platforms[1]).toMatchObject({
      status: 'mismatch-size',
      hit: false,
      platform_id: '7078768',
      file_count: 2,
      total_size: 6220,
    });
    expect(
      await s.db.query(
        'SELECT link_source, link_source_id, ingest_type, base_url, ingest_request_source, release_stage, request FROM ingest_request ORDER BY base_url',
      ),
    ).toEqual(
      results
        .map((r) => ({
          link_source: 'doi',
          link_source_id: r.request.link_source_id,
          ingest_type: 'dataset',
          base_url: r.request.base_url,
          ingest_request_source: 'fileset-test',
          release_stage: 'published',
          request: null,
        }))
        .sort((a, b) => String(a.base_url).localeCompare(String(b.base_url))),
    );
    // The three verified files of the success, never the mismatching ones; every landing capture.
    const landings = new Map(
      results.filter((r) => r.cdx && r.file_meta).map((r) => [r.file_meta!.sha1hex, r.file_meta!]),
    );
    expect(
      await s.db.query(
        'SELECT sha1hex, sha256hex, md5hex, size_bytes, mimetype FROM file_meta ORDER BY size_bytes, sha1hex',
      ),
    ).toEqual(
      [
        ...made.success.manifest!.map((e) => ({
          sha1hex: e.sha1,
          sha256hex: e.sha256,
          md5hex: e.md5,
          size_bytes: e.size,
          mimetype: e.mimetype,
        })),
        ...landings.values(),
      ].sort((a, b) => a.size_bytes! - b.size_bytes! || (a.sha1hex! < b.sha1hex! ? -1 : 1)),
    );
    expect(
      await s.db.query('SELECT url, datetime, sha1hex, warc_path, warc_offset, warc_csize FROM cdx ORDER BY url'),
    ).toEqual(
      results
        .map((r) => ({
          url: r.cdx!.url,
          datetime: r.cdx!.datetime,
          sha1hex: r.cdx!.sha1hex,
          warc_path: r.cdx!.warc_path,
          warc_offset: r.cdx!.warc_offset,
          warc_csize: r.cdx!.warc_csize,
        }))
        .sort((a, b) => a.url.localeCompare(b.url)),
    );
    expect(await counterValue(metrics.persistRows, { table: 'ingest_file_result' })).toBe(4);
    expect(await counterValue(metrics.persistRows, { table: 'ingest_fileset_platform' })).toBe(2);
    // Lag is measured against what was committed: nothing is left.
    const lag = (await metrics.consumerLag.get()).values;
    expect(lag.length).toBeGreaterThan(0);
    expect(lag.every((v) => v.value === 0 && v.labels.topic === s.topic)).toBe(true);
  });

  it('is ready while it runs (database, a member of its stable group), and not once stopped', async () => {
    const s = await setup();
    const readiness = new Readiness();
    const worker = startWorker(s, s.db, createMetrics({ defaultMetrics: false }), readiness);
    await waitFor(async () => (await readiness.report()).ready, 'the worker to be ready');
    expect(await readiness.report()).toEqual({ ready: true, checks: { database: 'ok', kafka: 'ok' } });
    await worker.stop();
    expect(await readiness.report()).toEqual({ ready: false, checks: { worker: 'starting' } });
  });

  it('replaying the whole topic under a new group changes no row', async () => {
    const s = await setup();
    await produce(s.topic, [made.success, made.mismatch, made.notFound, made.noPlatform]);
    await persistUntilCommitted(s, 4);
    // xmin is the transaction that last wrote a row: unchanged means not even rewritten.
    const snapshot = async () => ({
      file: await s.db.query('SELECT xmin::text, * FROM ingest_file_result ORDER BY base_url'),
      platform: await s.db.query('SELECT xmin::text, * FROM ingest_fileset_platform ORDER BY base_url'),
      request: await s.db.query('SELECT xmin::text, * FROM ingest_request ORDER BY base_url'),
      cdx: await s.db.query('SELECT xmin::text, * FROM cdx ORDER BY url'),
      fileMeta: await s.db.query('SELECT xmin::text, * FROM file_meta ORDER BY sha1hex'),
    });
    const before = await snapshot();

    await admin.deleteGroups([s.group]); // the same group id, recreated: a new group from offset 0
    expect((await committedOffsets(admin, s.group, s.topic)).total).toBe(0);
    const metrics = await persistUntilCommitted(s, 4);
    expect(await snapshot()).toEqual(before);
    expect(before.file).toHaveLength(4);
    expect((await metrics.persistRows.get()).values.filter((v) => v.value > 0)).toEqual([]);
  });

  it('skips and commits past messages that are not JSON, not results, or results the database would refuse; the partition keeps going', async () => {
    const s = await setup({}, 1);
    // A terminal hash that is not lowercase hex passes the wire schema but not the table's check.
    const refused = { ...made.notFound, terminal: { ...made.notFound.terminal!, terminal_sha1hex: 'NOT-A-SHA1' } };
    await produce(s.topic, [
      made.success,
      'not json {',
      null,
      JSON.stringify({ hello: 'world' }),
      refused,
      made.mismatch,
    ]);
    const metrics = await persistUntilCommitted(s, 6);
    expect(await baseUrls(s.db, 'ingest_file_result')).toEqual(
      [made.mismatch.request.base_url, made.success.request.base_url].sort(),
    );
    // The refused result is refused whole: none of its rows is written.
    expect(await baseUrls(s.db, 'ingest_request')).toEqual(
      [made.mismatch, made.success].map((r) => String(r.request.base_url)).sort(),
    );
    expect(await counterValue(metrics.skipped, { reason: 'not-json' })).toBe(2);
    expect(await counterValue(metrics.persistRejected, { table: 'result' })).toBe(1);
    expect(await counterValue(metrics.persistRejected, { table: 'ingest_file_result' })).toBe(1);
    expect(await counterValue(metrics.infraRetries, { reason: 'database' })).toBe(0);
  });

  it('writes up to FILESET_PERSIST_BATCH_SIZE results per transaction, and the last of two results for one URL wins', async () => {
    const s = await setup({ FILESET_PERSIST_BATCH_SIZE: '5', FILESET_PERSIST_LINGER_MS: '200' }, 1);
    const five = [1, 2, 3, 4, 5].map((n) => withBaseUrl(made.success, `https://zenodo.org/records/7078760?copy=${n}`));
    await produce(s.topic, five);
    const worker = startWorker(s);
    await waitFor(async () => (await committedOffsets(admin, s.group, s.topic)).total === 5, '5 offsets committed');
    // A failure, then a success of the same URL, in one send: one batch (by linger), the success wins.
    const again = 'https://zenodo.org/records/7078760?copy=again';
    await produce(s.topic, [withBaseUrl(made.mismatch, again), withBaseUrl(made.success, again)]);
    await waitFor(async () => (await committedOffsets(admin, s.group, s.topic)).total === 7, '7 offsets committed');
    await worker.stop();

    const sizes = (await worker.metrics.persistBatchSize.get()).values;
    expect(sizes.find((v) => v.metricName === 'fileset_persist_batch_size_count')?.value).toBe(2);
    expect(sizes.find((v) => v.metricName === 'fileset_persist_batch_size_sum')?.value).toBe(7);
    expect(await tableCounts(s.db)).toEqual({
      ingest_request: 6,
      ingest_file_result: 6,
      ingest_fileset_platform: 6,
      cdx: 2,
      file_meta: 5, // the success's three files and the two landing pages
    });
    expect(await s.db.query('SELECT status, hit FROM ingest_fileset_platform WHERE base_url = $1', [again])).toEqual([
      { status: 'success', hit: true },
    ]);
  });

  it('splits a backlog larger than the batch size into several transactions', async () => {
    const s = await setup({ FILESET_PERSIST_BATCH_SIZE: '2' }, 1);
    await produce(
      s.topic,
      [1, 2, 3, 4, 5].map((n) => withBaseUrl(made.success, `https://zenodo.org/records/7078760?n=${n}`)),
    );
    const metrics = await persistUntilCommitted(s, 5);
    const sizes = (await metrics.persistBatchSize.get()).values;
    expect(sizes.find((v) => v.metricName === 'fileset_persist_batch_size_count')?.value).toBe(3);
    expect(sizes.find((v) => v.metricName === 'fileset_persist_batch_size_bucket' && v.labels.le === 1)?.value).toBe(1);
    expect((await tableCounts(s.db)).ingest_file_result).toBe(5);
  });

  describe('PostgreSQL going away (a TCP proxy cut and restored)', () => {
    async function proxied(s: Setup): Promise<{ proxy: TcpProxy; db: Database }> {
      const proxy = await startTcpProxy(targetOf(s.database.url));
      cleanup.push(() => proxy.close());
      const db = await openDatabase(
        { dataDir: s.config.dataDir, databaseUrl: viaProxy(s.database.url, proxy) },
        silentLogger,
      );
      cleanup.push(() => db.close());
      return { proxy, db };
    }

    it('retries the same batch through a restart: nothing lost, nothing doubled', async () => {
      const s = await setup({}, 1);
      const { proxy, db } = await proxied(s);
      const worker = startWorker(s, db);
      const first = [made.success, made.mismatch];
      await produce(s.topic, first);
      await waitFor(
        async () => (await committedOffsets(admin, s.group, s.topic)).total === 2,
        'first results committed',
      );

      // Another session's uncommitted row holds one key of the next batch, so the worker's
      // transaction is certainly in flight (waiting for that lock) when the connections drop.
      const blocker = new pg.Client({ connectionString: s.database.url });
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO ingest_file_result (ingest_type, base_url, hit, status) VALUES ('dataset', $1, false, 'blocker')`,
        [made.notFound.request.base_url],
      );
      const second = [made.notFound, made.noPlatform, withBaseUrl(made.success, 'https://zenodo.org/records/7078760')];
      await produce(s.topic, second);
      await waitFor(
        async () =>
          (
            await blocker.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          ).rowCount === 1,
        'the worker waiting inside its transaction',
      );
      await proxy.cut();
      // Refused several times over: the batch is retried, and nothing is committed meanwhile.
      await waitFor(
        async () => (await counterValue(worker.metrics.infraRetries, { reason: 'database' })) >= 3,
        'three failed attempts',
      );
      expect((await committedOffsets(admin, s.group, s.topic)).total).toBe(2);
      await blocker.query('ROLLBACK');
      await blocker.end();
      await proxy.restore();

      await waitFor(async () => (await committedOffsets(admin, s.group, s.topic)).total === 5, 'all results committed');
      await worker.stop();
      const all = [...first, ...second];
      expect(await baseUrls(s.db, 'ingest_file_result')).toEqual(all.map((r) => String(r.request.base_url)).sort());
      expect(
        await s.db.query(
          `SELECT ${Object.keys(fileResultRow(made.success)).join(', ')} FROM ingest_file_result ORDER BY base_url`,
        ),
      ).toEqual(all.map(fileResultRow).sort((a, b) => a.base_url.localeCompare(b.base_url)));
      expect(await tableCounts(s.db)).toEqual({
        ingest_request: 5,
        ingest_file_result: 5,
        ingest_fileset_platform: 3,
        cdx: 4,
        file_meta: 7, // the success's three files and the four landing pages
      });
      expect(proxy.connections).toBeGreaterThan(1); // the pool really reconnected
    });

    it('commits nothing for a batch whose transaction never ran: stopped, it is redelivered to the next worker', async () => {
      const s = await setup({}, 1);
      const { proxy, db } = await proxied(s);
      await proxy.cut();
      const first = startWorker(s, db);
      await produce(s.topic, [made.success, made.mismatch, made.noPlatform]);
      await waitFor(
        async () => (await counterValue(first.metrics.infraRetries, { reason: 'database' })) >= 1,
        'a failed attempt',
      );
      await first.stop();
      expect((await committedOffsets(admin, s.group, s.topic)).total).toBe(0);
      expect((await tableCounts(s.db)).ingest_file_result).toBe(0);

      await proxy.restore();
      const second = await persistUntilCommitted(s, 3, db);
      expect(await baseUrls(s.db, 'ingest_file_result')).toEqual(
        [made.success, made.mismatch, made.noPlatform].map((r) => String(r.request.base_url)).sort(),
      );
      expect(await counterValue(second.infraRetries, { reason: 'database' })).toBe(0);
    });
  });

  describe('fileset-ingest worker persist', () => {
    it('migrates the database, persists until its signal aborts, and exits 0', async () => {
      const database = await createTestDatabase();
      cleanup.push(() => database.drop());
      const s = await setup();
      const config = loadConfig({
        FILESET_KAFKA_BROKERS: brokers,
        FILESET_KAFKA_ENV: s.config.kafka.env,
        FILESET_DATABASE_URL: database.url,
        FILESET_LOG_LEVEL: 'silent',
        FILESET_METRICS_PORT: '0',
        FILESET_PERSIST_LINGER_MS: '100',
      });
      await produce(s.topic, [made.success]);
      const controller = new AbortController();
      const exit = runCommand(config, silentLogger, [], { signal: controller.signal });
      await waitFor(async () => (await committedOffsets(admin, s.group, s.topic)).total === 1, 'the result committed');
      controller.abort();
      expect(await exit).toBe(0);
      const db = await openDatabase(config, silentLogger);
      cleanup.push(() => db.close());
      expect(await baseUrls(db, 'ingest_fileset_platform')).toEqual([made.success.request.base_url]);
    });

    it('refuses arguments', async () => {
      await expect(runCommand(loadConfig({}), silentLogger, ['now'])).rejects.toThrow(UsageError);
    });
  });
});

const PLATFORM_COLUMNS = [
  'base_url',
  'ingest_type',
  'hit',
  'status',
  'platform_name',
  'platform_domain',
  'platform_id',
  'ingest_strategy',
  'total_size',
  'file_count',
  'archiveorg_item_name',
  'archiveorg_item_bundle_path',
  'web_bundle_url',
  'web_bundle_dt',
  'manifest',
];

function expectedPlatformRow(r: FilesetResult): Record<string, unknown> {
  return {
    base_url: r.request.base_url,
    ingest_type: 'dataset',
    hit: r.hit,
    status: r.status,
    platform_name: r.platform_name,
    platform_domain: r.platform_domain,
    platform_id: r.platform_id,
    ingest_strategy: r.ingest_strategy,
    total_size: r.total_size,
    file_count: r.file_count,
    archiveorg_item_name: r.archiveorg_item_name,
    archiveorg_item_bundle_path: null,
    web_bundle_url: null,
    web_bundle_dt: null,
    manifest: r.manifest,
  };
}

function fileResultRow(r: FilesetResult) {
  const t = r.terminal!;
  return {
    base_url: String(r.request.base_url),
    ingest_type: 'dataset',
    hit: r.hit,
    status: r.status,
    terminal_url: t.terminal_url,
    terminal_dt: t.terminal_dt,
    terminal_status_code: t.terminal_status_code,
    terminal_sha1hex: t.terminal_sha1hex,
  };
}

/** The same result for another URL (and request key), as a re-ingest of another link would give. */
function withBaseUrl(r: FilesetResult, url: string): FilesetResult {
  return { ...r, request: { ...r.request, base_url: url, link_source_id: url } };
}

async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<{ total: number }> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return { total: (offsets?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0) };
}

async function counterValue<L extends string>(
  counter: Counter<L>,
  labels: Partial<Record<L, string>>,
): Promise<number> {
  const { values } = await counter.get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want),
  );
  return match?.value ?? 0;
}

async function tableCounts(db: Database): Promise<Record<string, number>> {
  const tables = ['ingest_request', 'ingest_file_result', 'ingest_fileset_platform', 'cdx', 'file_meta'];
  const counts = await Promise.all(
    tables.map(async (t) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`))[0]!.n),
  );
  return Object.fromEntries(tables.map((t, i) => [t, counts[i]!]));
}

async function baseUrls(db: Database, table: string): Promise<string[]> {
  return (await db.query<{ base_url: string }>(`SELECT base_url FROM ${table} ORDER BY base_url`)).map(
    (r) => r.base_url,
  );
}

/**
 * Polls until check() holds, at most 30 s (a bound, not a timing assertion). A check that throws
 * counts as "not yet": a freshly started broker answers offset fetches with "coordinator loading".
 */
async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`, { cause: lastError });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
