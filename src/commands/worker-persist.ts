// `fileset-ingest worker persist`: the persist worker as a long-running process (systemd, Docker).
import type { Config } from '../config.js';
import { checkBrokers } from '../kafka/client.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { Readiness } from '../health.js';
import type { Logger } from '../logger.js';
import { createMetrics, serveMetrics, type MetricsServer } from '../metrics.js';
import { runPersistWorker } from '../workers/persist-ingest-fileset.js';
import { UsageError } from '../errors.js';

export const usage = `Usage: fileset-ingest worker persist [config flags]

Consumes fileset results from sandcrawler-{env}.ingest-fileset-results as consumer group
sandcrawler-{env}-persist-ingest-fileset and writes them to FILESET_DATABASE_URL: ingest_request,
ingest_file_result, ingest_fileset_platform, cdx and file_meta. One transaction per batch of at
most FILESET_PERSIST_BATCH_SIZE results, waiting at most FILESET_PERSIST_LINGER_MS to fill one.
Offsets are committed only after the transaction; while the database is down the same batch is
retried, never skipped. A message that is not JSON is logged, counted and committed past.
Applies pending migrations first. Prometheus metrics on
http://FILESET_METRICS_HOST:FILESET_METRICS_PORT/metrics, /healthz and /readyz (port 0: off).
Runs until SIGTERM or SIGINT, then finishes the current batch, commits and exits 0.
Exit status: 2 on bad usage, 3 when the database or the broker cannot be used.`;

export async function run(
  config: Config,
  logger: Logger,
  args: string[],
  options: { input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream; signal?: AbortSignal } = {},
): Promise<number> {
  if (args.length) throw new UsageError(`unexpected argument "${args[0]}"`);

  const stop = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    logger.info({ signal: name }, 'stopping: finishing the current batch');
    if (name === 'SIGINT') {
      process.stderr.write('\nfileset-ingest: Ctrl-C: finishing the current batch; Ctrl-C again quits at once\n');
    }
    stop.abort();
  };
  // once: a second SIGINT/SIGTERM gets Node's default and ends the process at once.
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const forward = () => stop.abort();
  if (options.signal?.aborted) stop.abort();
  options.signal?.addEventListener('abort', forward, { once: true });

  const readiness = new Readiness();
  const metrics = createMetrics({ kind: 'persist', readiness, dataDir: config.dataDir });
  let server: MetricsServer | undefined;
  await checkBrokers(config, logger);
  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
    if (config.metrics.port !== 0)
      server = await serveMetrics(metrics, config.metrics.host, config.metrics.port, logger, readiness);
    await runPersistWorker(config, logger, { signal: stop.signal, metrics, db, readiness });
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    options.signal?.removeEventListener('abort', forward);
    await server?.close();
    await db.close();
  }
}
