// Prometheus metrics of a worker process (prom-client), and the HTTP endpoint that serves them with
// `/healthz` and `/readyz`. Every metric an ops dashboard or alert reads is declared here, once;
// deploy/grafana/ and deploy/prometheus/ use these names (test/metrics.test.ts and
// test/deploy.test.ts check that they ask for nothing else). A worker registers only the metrics
// of its own kind, and series whose labels are known up front start at 0, so that a panel or an
// alert over them has data before the first event.
import { statfs } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Readiness } from './health.js';
import type { Logger } from './logger.js';

export type WorkerKind = 'ingest' | 'persist';

/** The statuses the HTTP client retries (src/http/failures.ts RETRYABLE_STATUSES; a test keeps them equal). */
export const HTTP_RETRY_STATUSES = ['429', '500', '502', '503', '504'] as const;
/** Why each kind of worker retries a message after its own infrastructure failed. */
export const INFRA_RETRY_REASONS: Readonly<Record<WorkerKind, readonly string[]>> = {
  ingest: ['ingest', 'unexpected', 'broker', 'consumer-restart'],
  persist: ['database', 'consumer-restart'],
};
/** The tables the persist worker writes, and `result` for a result refused whole (src/db/persist.ts). */
export const PERSIST_TABLES_COUNTED = [
  'ingest_request',
  'ingest_file_result',
  'ingest_fileset_platform',
  'cdx',
  'file_meta',
  'result',
] as const;

export interface Metrics {
  registry: Registry;
  /** Requests finished, by result status, platform and strategy ("" when none was reached). */
  requests: Counter<'status' | 'platform' | 'strategy'>;
  /** Messages on a request topic that were not ours or not requests (not-dataset, not-json, ...). */
  skipped: Counter<'reason'>;
  bytesArchived: Counter<'strategy'>;
  filesArchived: Counter<'strategy'>;
  ingestSeconds: Histogram<'status'>;
  inFlight: Gauge;
  /** A request retried because our own infrastructure failed (store, disk, database, broker). */
  infraRetries: Counter<'reason'>;
  /** HTTP requests retried by the client, by reason (an HTTP status or an error code). */
  httpRetries: Counter<'reason'>;
  /** 429 answers, by host: the platform asked us to slow down. */
  rateLimited: Counter<'host'>;
  /** Messages not yet consumed, per topic partition (high watermark − committed offset). */
  consumerLag: Gauge<'topic' | 'partition'>;
  persistBatchSize: Histogram;
  persistSeconds: Histogram;
  persistRows: Counter<'table'>;
  /** Rows the database refused (each is logged with its key); the rest of the batch is kept. */
  persistRejected: Counter<'table'>;
  /** Seconds a request waited for its request budget (slot, rate and pauses), by budget. */
  budgetWaitSeconds: Histogram<'budget'>;
  /** 429 pauses put on a budget (a platform's or a host's), by budget. */
  budgetPauses: Counter<'budget'>;
  /** Closed WARC files (and their bytes) in the data directory waiting to be shipped to FILESET_WARC_STORE. */
  warcShipBacklogFiles: Gauge;
  warcShipBacklogBytes: Gauge;
  /** WARC files (and bytes) shipped: uploaded, verified, indexed and removed locally. */
  warcShippedFiles: Counter;
  warcShippedBytes: Counter;
  /** Shipping passes that failed (store outage, digest mismatch, database): each is retried with backoff. */
  warcShipFailures: Counter;
}

export interface MetricsOptions {
  /** The worker kind whose metrics are registered; unset: every metric (tests, the dashboard check). */
  kind?: WorkerKind;
  defaultMetrics?: boolean;
  /** Exported as `fileset_ready` (1 or 0) and `fileset_readiness_check{check}`, run at each scrape. */
  readiness?: Readiness;
  /** The worker's data directory (WARCs, work files, an embedded database): its file system's free and total bytes are exported. */
  dataDir?: string;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'fileset_' });
  const { kind } = options;
  // A metric of another worker kind still exists (code shared by both kinds may count on it) but is not exported.
  const of = (...kinds: WorkerKind[]) => (kind === undefined || kinds.includes(kind) ? [registry] : []);
  const ingest = of('ingest');
  const persist = of('persist');
  const both = of('ingest', 'persist');
  if (options.readiness) registerReadiness(registry, options.readiness);
  if (options.dataDir) registerDisk(registry, options.dataDir);
  const metrics: Metrics = {
    registry,
    requests: new Counter({
      name: 'fileset_ingest_requests_total',
      help: 'Ingest requests finished, by status, platform and strategy',
      labelNames: ['status', 'platform', 'strategy'],
      registers: ingest,
    }),
    skipped: new Counter({
      name: 'fileset_ingest_skipped_total',
      help: 'Messages skipped without a result, by reason',
      labelNames: ['reason'],
      registers: both,
    }),
    bytesArchived: new Counter({
      name: 'fileset_ingest_bytes_archived_total',
      help: 'Bytes of dataset files archived',
      labelNames: ['strategy'],
      registers: ingest,
    }),
    filesArchived: new Counter({
      name: 'fileset_ingest_files_archived_total',
      help: 'Dataset files archived',
      labelNames: ['strategy'],
      registers: ingest,
    }),
    ingestSeconds: new Histogram({
      name: 'fileset_ingest_duration_seconds',
      help: 'Time from taking a request to its result',
      labelNames: ['status'],
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600],
      registers: ingest,
    }),
    inFlight: new Gauge({ name: 'fileset_ingest_in_flight', help: 'Requests being processed now', registers: ingest }),
    infraRetries: new Counter({
      name: 'fileset_ingest_infra_retries_total',
      help: 'Requests retried after an infrastructure failure',
      labelNames: ['reason'],
      registers: both,
    }),
    httpRetries: new Counter({
      name: 'fileset_http_retries_total',
      help: 'HTTP requests retried, by reason',
      labelNames: ['reason'],
      registers: ingest,
    }),
    rateLimited: new Counter({
      name: 'fileset_http_rate_limited_total',
      help: '429 answers, by host',
      labelNames: ['host'],
      registers: ingest,
    }),
    consumerLag: new Gauge({
      name: 'fileset_kafka_consumer_lag',
      help: 'Messages not yet consumed, per topic partition',
      labelNames: ['topic', 'partition'],
      registers: both,
    }),
    persistBatchSize: new Histogram({
      name: 'fileset_persist_batch_size',
      help: 'Results per persist batch',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 5000],
      registers: persist,
    }),
    persistSeconds: new Histogram({
      name: 'fileset_persist_batch_duration_seconds',
      help: 'Time to write one persist batch (one transaction)',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: persist,
    }),
    persistRows: new Counter({
      name: 'fileset_persist_rows_total',
      help: 'Rows upserted, by table',
      labelNames: ['table'],
      registers: persist,
    }),
    persistRejected: new Counter({
      name: 'fileset_persist_rejected_rows_total',
      help: 'Results refused whole (none of their rows written), by the table whose row broke a rule',
      labelNames: ['table'],
      registers: persist,
    }),
    budgetWaitSeconds: new Histogram({
      name: 'fileset_budget_wait_seconds',
      help: 'Time a request waited for its request budget (slot, rate and 429 pauses), by budget',
      labelNames: ['budget'],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: ingest,
    }),
    budgetPauses: new Counter({
      name: 'fileset_budget_pauses_total',
      help: '429 pauses put on a request budget (a platform budget or host:<name>), by budget',
      labelNames: ['budget'],
      registers: ingest,
    }),
    warcShipBacklogFiles: new Gauge({
      name: 'fileset_warc_ship_backlog_files',
      help: 'Closed WARC files in the data directory waiting to be shipped to FILESET_WARC_STORE (0 when unset)',
      registers: ingest,
    }),
    warcShipBacklogBytes: new Gauge({
      name: 'fileset_warc_ship_backlog_bytes',
      help: 'Bytes of the closed WARC files waiting to be shipped',
      registers: ingest,
    }),
    warcShippedFiles: new Counter({
      name: 'fileset_warc_shipped_files_total',
      help: 'WARC files shipped (uploaded, verified at the destination, indexed there, removed locally)',
      registers: ingest,
    }),
    warcShippedBytes: new Counter({
      name: 'fileset_warc_shipped_bytes_total',
      help: 'Bytes of WARC files shipped',
      registers: ingest,
    }),
    warcShipFailures: new Counter({
      name: 'fileset_warc_ship_failures_total',
      help: 'WARC shipping passes that failed and are retried with backoff',
      registers: ingest,
    }),
  };
  startAtZero(metrics, kind);
  return metrics;
}

/** Creates the series whose label values are known before anything happens, at 0. */
function startAtZero(metrics: Metrics, kind: WorkerKind | undefined): void {
  const kinds: WorkerKind[] = kind ? [kind] : ['ingest', 'persist'];
  for (const k of kinds) for (const reason of INFRA_RETRY_REASONS[k]) metrics.infraRetries.inc({ reason }, 0);
  metrics.skipped.inc({ reason: 'not-json' }, 0);
  if (kinds.includes('ingest')) {
    metrics.skipped.inc({ reason: 'not-dataset' }, 0);
    for (const reason of HTTP_RETRY_STATUSES) metrics.httpRetries.inc({ reason }, 0);
  }
  if (kinds.includes('persist')) for (const table of PERSIST_TABLES_COUNTED) metrics.persistRejected.inc({ table }, 0);
}

/** The shipper's observer that keeps the WARC shipping metrics. */
export function shipMetrics(metrics: Metrics): {
  backlog(files: number, bytes: number): void;
  shipped(bytes: number): void;
  failed(): void;
} {
  return {
    backlog: (files, bytes) => {
      metrics.warcShipBacklogFiles.set(files);
      metrics.warcShipBacklogBytes.set(bytes);
    },
    shipped: (bytes) => {
      metrics.warcShippedFiles.inc();
      metrics.warcShippedBytes.inc(bytes);
    },
    failed: () => metrics.warcShipFailures.inc(),
  };
}

function registerReadiness(registry: Registry, readiness: Readiness): void {
  // Both gauges are collected at once by one scrape: they share its run of the checks.
  const report = shared(() => readiness.report());
  new Gauge({
    name: 'fileset_ready',
    help: 'Whether the worker is ready (every readiness check passes): 1 or 0',
    registers: [registry],
    async collect() {
      this.set((await report()).ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fileset_readiness_check',
    help: 'Readiness checks at scrape time: 1 passing, 0 failing',
    labelNames: ['check'],
    registers: [registry],
    async collect() {
      const { checks } = await report();
      this.reset();
      for (const [check, outcome] of Object.entries(checks)) this.set({ check }, outcome === 'ok' ? 1 : 0);
    },
  });
}

function registerDisk(registry: Registry, dataDir: string): void {
  // A data directory not made yet (or gone) gives NaN rather than failing the whole scrape.
  const stats = shared(() => statfs(dataDir).catch(() => ({ bavail: NaN, blocks: NaN, bsize: NaN })));
  new Gauge({
    name: 'fileset_data_dir_free_bytes',
    help: 'Bytes available to the worker on the file system of its data directory',
    registers: [registry],
    async collect() {
      const { bavail, bsize } = await stats();
      this.set(bavail * bsize);
    },
  });
  new Gauge({
    name: 'fileset_data_dir_size_bytes',
    help: 'Size in bytes of the file system of the worker data directory',
    registers: [registry],
    async collect() {
      const { blocks, bsize } = await stats();
      this.set(blocks * bsize);
    },
  });
}

/** `fn`, with calls made while one is under way sharing its answer. */
function shared<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= fn().finally(() => (pending = undefined)));
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves on host:port (port 0: any free port): `/metrics` (Prometheus text format), `/healthz`
 * (200 while the process runs) and `/readyz` (200 when every readiness check passes, else 503;
 * a JSON body names each check's outcome). Workers pass FILESET_METRICS_PORT, and do not call
 * this when it is 0 (off).
 */
export async function serveMetrics(
  metrics: Metrics,
  host: string,
  port: number,
  logger: Logger,
  readiness?: Readiness,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz' && path !== '/readyz')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    const answer =
      path === '/readyz'
        ? (readiness?.report() ?? Promise.resolve({ ready: true, checks: {} })).then((report) =>
            res
              .writeHead(report.ready ? 200 : 503, { 'Content-Type': 'application/json' })
              .end(`${JSON.stringify(report)}\n`),
          )
        : metrics.registry
            .metrics()
            .then((text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text));
    answer.catch((err: unknown) => {
      logger.error({ err, path }, 'metrics endpoint failed');
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`;
  logger.info({ url }, 'metrics endpoint listening');
  return {
    url,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What one `fileset-ingest verify` run found. */
export interface VerifyFigures {
  warcFiles: number;
  records: number;
  payloadBytes: number;
  items: number;
  itemFiles: number;
  problems: number;
  seconds: number;
  /** When the run finished. */
  finished: Date;
}

/**
 * The figures of a `verify` run in Prometheus text format, for node_exporter's textfile
 * collector (`verify --metrics-file`): an alert on `fileset_verify_problems > 0`, or on a last
 * run too long ago, watches the archive's fixity.
 */
export async function verifyMetricsText(figures: VerifyFigures): Promise<string> {
  const registry = new Registry();
  const gauge = (name: string, help: string, value: number) =>
    new Gauge({ name: `fileset_verify_${name}`, help, registers: [registry] }).set(value);
  gauge('problems', 'Problems the last verify run found (damaged records or item files).', figures.problems);
  gauge('warc_files', 'WARC files the last verify run read.', figures.warcFiles);
  gauge('warc_records', 'WARC records the last verify run checked.', figures.records);
  gauge(
    'payload_bytes',
    'Payload bytes of response and resource records the last verify run read.',
    figures.payloadBytes,
  );
  gauge('items', 'Items the last verify run checked.', figures.items);
  gauge('item_files', 'Item files the last verify run hashed.', figures.itemFiles);
  gauge('duration_seconds', 'How long the last verify run took.', figures.seconds);
  gauge(
    'last_run_timestamp_seconds',
    'When the last verify run finished (Unix time).',
    figures.finished.getTime() / 1000,
  );
  return registry.metrics();
}
