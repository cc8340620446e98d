// The persist worker: fileset results from Kafka into PostgreSQL, one transaction per batch, and
// offsets committed only after that transaction committed. At least once: a batch that could not
// be written is retried, or left uncommitted for redelivery; upserts are idempotent. Composition:
// the JSON consumer (kafka/consumer.ts) hands each result to a batcher.
import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { persistResults } from '../db/persist.js';
import { createKafka } from '../kafka/client.js';
import { JsonConsumer, type ConsumerTimings } from '../kafka/consumer.js';
import { kafkaNames } from '../kafka/topics.js';
import type { Readiness } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { retry, type Backoff } from '../retry.js';

export interface PersistWorkerOptions {
  /** Abort to stop: the results taken are written and committed, then the consumer disconnects. */
  signal: AbortSignal;
  metrics: Metrics;
  /** The database to write to; default: opened from config (and closed at the end). */
  db?: Database;
  /** Backoff after a failed batch: this delay, doubled per attempt up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Given checks of the database and the consumer group while the worker runs. */
  readiness?: Readiness;
  /** Consumer group timings (tests: a short session, so a killed worker's partitions move on quickly). */
  consumer?: ConsumerTimings;
}

/**
 * Consumes `sandcrawler-{env}.ingest-fileset-results` as group
 * `sandcrawler-{env}-persist-ingest-fileset` until options.signal aborts. Resolves once stopped;
 * rejects (InfrastructureError) when the broker cannot be reached or the consumer gives up.
 */
export async function runPersistWorker(config: Config, logger: Logger, options: PersistWorkerOptions): Promise<void> {
  const log = logger.child({ worker: 'persist-ingest-fileset' });
  if (options.signal.aborted) return;
  const names = kafkaNames(config);
  const ownDb = options.db ? undefined : await openDatabase(config, log);
  const db = options.db ?? (ownDb as Database);
  const { batchSize, lingerMs } = config.persist;
  const consumer = new JsonConsumer(createKafka(config, log, { clientId: 'fileset-ingest-persist' }), {
    groupId: names.persistGroup,
    topics: [names.filesetResults],
    // Room for the next batch to gather while one is written.
    concurrency: 2 * batchSize,
    logger: log,
    metrics: options.metrics,
    ...(options.consumer ? { timings: options.consumer } : {}),
  });
  const batcher = new Batcher({
    db,
    log,
    metrics: options.metrics,
    stopping: consumer.stopping,
    batchSize,
    lingerMs,
    backoff: { baseMs: options.retryDelayMs ?? 1000, maxMs: options.maxRetryDelayMs ?? 30_000 },
  });
  const removeChecks = [
    options.readiness?.add('database', async () => void (await db.query('SELECT 1'))),
    options.readiness?.add('kafka', () => consumer.checkGroup()),
  ];
  try {
    log.info({ topic: names.filesetResults, group: names.persistGroup, batchSize }, 'persist worker starting');
    await consumer.run((message) => batcher.add(message.value), options.signal);
  } finally {
    for (const remove of removeChecks) remove?.();
    await ownDb?.close();
    log.info('persist worker stopped');
  }
}

interface BatcherDeps {
  db: Database;
  log: Logger;
  metrics: Metrics;
  /** Once aborted, everything taken is written (one attempt per batch) and nothing more is retried. */
  stopping: AbortSignal;
  batchSize: number;
  lingerMs: number;
  backoff: Backoff;
}

/** A result waiting to be written, and the settling of its handler. */
interface Pending {
  value: unknown;
  takenAt: number;
  written: () => void;
  failed: (err: unknown) => void;
}

/**
 * Results taken but not yet written, in arrival order. Flushes run one at a time: `batchSize`
 * results per transaction, the rest once the oldest has waited `lingerMs`. A result's handler
 * resolves when its transaction committed, so the consumer commits its offset only then.
 */
class Batcher {
  #pending: Pending[] = [];
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: BatcherDeps) {
    deps.stopping.addEventListener('abort', () => this.#flush(), { once: true });
  }

  add(value: unknown): Promise<void> {
    return new Promise((written, failed) => {
      this.#pending.push({ value, takenAt: Date.now(), written, failed });
      if (this.#pending.length >= this.deps.batchSize) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.deps.lingerMs);
    });
  }

  #flush(): void {
    this.#queue = this.#queue.then(() => this.#flushNow());
  }

  /** Writes full batches, and the rest when the oldest has lingered long enough or the worker stops. */
  async #flushNow(): Promise<void> {
    const { batchSize, lingerMs, stopping, log } = this.deps;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lingered = () => this.#pending.length > 0 && Date.now() - this.#pending[0]!.takenAt >= lingerMs;
    while (this.#pending.length >= batchSize || (this.#pending.length > 0 && (stopping.aborted || lingered()))) {
      const chunk = this.#pending.splice(0, batchSize);
      try {
        await this.#write(chunk);
      } catch (err) {
        // Stopping while the database fails: this batch and everything after it stay uncommitted.
        const unwritten = [...chunk, ...this.#pending.splice(0)];
        log.warn(
          { messages: unwritten.length },
          'stopping with results not written: they stay uncommitted and will be redelivered',
        );
        for (const pending of unwritten) pending.failed(err);
        return;
      }
      for (const pending of chunk) pending.written();
    }
    if (this.#pending.length && !stopping.aborted) {
      const wait = Math.max(0, this.#pending[0]!.takenAt + lingerMs - Date.now());
      this.#timer = setTimeout(() => this.#flush(), wait);
    }
  }

  /** One persistResults call (one transaction); a failure is retried with backoff until it works or the worker stops. */
  async #write(chunk: Pending[]): Promise<void> {
    const { db, log, metrics, stopping, backoff } = this.deps;
    const results = chunk.map((pending) => pending.value);
    await retry(
      async () => {
        // persistResults counts the batch size, duration, rows and rejected rows in metrics.
        const outcome = await persistResults(db, results, { logger: log, metrics });
        log.debug(
          { results: outcome.results, rows: outcome.rows, rejected: outcome.rejected.length },
          'persisted a batch',
        );
      },
      {
        retries: Infinity,
        backoff,
        signal: stopping,
        onRetry: (err, attempt, retryInMs) => {
          metrics.infraRetries.inc({ reason: 'database' });
          log.error(
            { err, attempt: attempt + 1, results: results.length, retryInMs },
            'persist batch failed; retrying the same batch',
          );
        },
      },
    );
  }
}
