// `fileset-ingest worker ingest`: the Kafka ingest worker process, with its metrics endpoint.
import type { Config } from '../config.js';
import { Readiness } from '../health.js';
import { checkBrokers } from '../kafka/client.js';
import { checkItemStore } from '../stores/items/index.js';
import type { Logger } from '../logger.js';
import { createMetrics, serveMetrics, type MetricsServer } from '../metrics.js';
import { DRAIN_GRACE_MS } from '../kafka/consumer.js';
import { runIngestWorker } from '../workers/ingest-fileset.js';
import { UsageError } from '../errors.js';

export const usage = `Usage: fileset-ingest worker ingest [config flags]

Consumes ingest requests from FILESET_KAFKA_REQUEST_TOPICS (group sandcrawler-{env}-ingest-fileset),
archives every "dataset" request (other ingest types are skipped and counted), and produces
each fileset result to sandcrawler-{env}.ingest-fileset-results and each dataset-file result
to sandcrawler-{env}.ingest-file-results, keyed by base_url. A request's offset is committed
only after its results were acknowledged. FILESET_WORKER_CONCURRENCY requests run at once.
Prometheus metrics on http://FILESET_METRICS_HOST:FILESET_METRICS_PORT/metrics, /healthz and /readyz (port 0: off).
SIGTERM or SIGINT: stop taking requests, let those in flight finish for up to
${DRAIN_GRACE_MS / 1000} s (the rest are redelivered later), commit, exit 0. A second signal
ends the process at once (what is uncommitted is redelivered).
Exit status 3 when Kafka, the database or the disk fail at start or for good.`;

export interface WorkerIngestOptions {
  /** Aborting it stops the worker like SIGTERM does (tests, embedding). */
  signal?: AbortSignal;
}

/** `args`: the positionals after "worker ingest" (none are accepted). */
export async function run(
  config: Config,
  logger: Logger,
  args: string[],
  options: WorkerIngestOptions = {},
): Promise<number> {
  if (args.length) throw new UsageError(`unexpected argument "${args[0]}"`);
  const readiness = new Readiness();
  const metrics = createMetrics({ kind: 'ingest', readiness, dataDir: config.dataDir });
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping: draining in-flight requests');
    if (signal === 'SIGINT') {
      process.stderr.write(
        `\nfileset-ingest: Ctrl-C: finishing the requests in flight (up to ${DRAIN_GRACE_MS / 1000} s); Ctrl-C again quits at once\n`,
      );
    }
    stop.abort();
  };
  const onAbort = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  let server: MetricsServer | null = null;
  try {
    await checkBrokers(config, logger);
    await checkItemStore(config, logger);
    if (config.metrics.port !== 0)
      server = await serveMetrics(metrics, config.metrics.host, config.metrics.port, logger, readiness);
    await runIngestWorker(config, logger, { signal: stop.signal, metrics, readiness });
    logger.info('ingest worker stopped');
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    options.signal?.removeEventListener('abort', onAbort);
    await server?.close();
  }
}
