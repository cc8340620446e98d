// Prometheus metrics of a worker process (prom-client), and the HTTP endpoint that serves them.
// Every metric an ops dashboard reads is declared here, once; deploy/grafana/ uses these names
// (test/metrics.test.ts checks that the dashboard asks for nothing else).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.js';

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
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'fileset_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'fileset_ingest_requests_total',
      help: 'Ingest requests finished, by status, platform and strategy',
      labelNames: ['status', 'platform', 'strategy'],
      registers,
    }),
    skipped: new Counter({
      name: 'fileset_ingest_skipped_total',
      help: 'Messages skipped without a result, by reason',
      labelNames: ['reason'],
      registers,
    }),
    bytesArchived: new Counter({
      name: 'fileset_ingest_bytes_archived_total',
      help: 'Bytes of dataset files archived',
      labelNames: ['strategy'],
      registers,
    }),
    filesArchived: new Counter({
      name: 'fileset_ingest_files_archived_total',
      help: 'Dataset files archived',
      labelNames: ['strategy'],
      registers,
    }),
    ingestSeconds: new Histogram({
      name: 'fileset_ingest_duration_seconds',
      help: 'Time from taking a request to its result',
      labelNames: ['status'],
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600],
      registers,
    }),
    inFlight: new Gauge({ name: 'fileset_ingest_in_flight', help: 'Requests being processed now', registers }),
    infraRetries: new Counter({
      name: 'fileset_ingest_infra_retries_total',
      help: 'Requests retried after an infrastructure failure',
      labelNames: ['reason'],
      registers,
    }),
    httpRetries: new Counter({
      name: 'fileset_http_retries_total',
      help: 'HTTP requests retried, by reason',
      labelNames: ['reason'],
      registers,
    }),
    rateLimited: new Counter({
      name: 'fileset_http_rate_limited_total',
      help: '429 answers, by host',
      labelNames: ['host'],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'fileset_kafka_consumer_lag',
      help: 'Messages not yet consumed, per topic partition',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    persistBatchSize: new Histogram({
      name: 'fileset_persist_batch_size',
      help: 'Results per persist batch',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 5000],
      registers,
    }),
    persistSeconds: new Histogram({
      name: 'fileset_persist_batch_duration_seconds',
      help: 'Time to write one persist batch (one transaction)',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    persistRows: new Counter({
      name: 'fileset_persist_rows_total',
      help: 'Rows upserted, by table',
      labelNames: ['table'],
      registers,
    }),
    persistRejected: new Counter({
      name: 'fileset_persist_rejected_rows_total',
      help: 'Results refused whole (none of their rows written), by the table whose row broke a rule',
      labelNames: ['table'],
      registers,
    }),
  };
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text format) on host:port (port 0: any free port). Workers pass
 * FILESET_METRICS_PORT, and do not call this when it is 0 (off).
 */
export async function serveMetrics(
  metrics: Metrics,
  host: string,
  port: number,
  logger: Logger,
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        logger.error({ err }, 'metrics collection failed');
        res.writeHead(500).end();
      },
    );
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
