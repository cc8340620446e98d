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

export { workerIngestUsage as usage } from './usage.js';

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
