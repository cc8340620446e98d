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

export { workerPersistUsage as usage } from './usage.js';

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
