// The persist worker: fileset results from Kafka into PostgreSQL, one transaction per batch, and
// offsets committed only after that transaction committed (DESIGN §7, §8). At-least-once: a batch
// that could not be written is retried, or left uncommitted for redelivery; upserts are idempotent.
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { persistResults } from '../db/persist.js';
import { InfrastructureError, describeError } from '../errors.js';
import { createKafka } from '../kafka/client.js';
import { kafkaNames } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

export interface PersistWorkerOptions {
  /** Abort to stop: the current batch is finished and committed, then the consumer disconnects. */
  signal: AbortSignal;
  metrics: Metrics;
  /** The database to write to; default: opened from config (and closed at the end). */
  db?: Database;
  /** Backoff after a failed batch: this delay, doubled per attempt up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/** A message taken from Kafka: its parsed value, or NOT_JSON (skipped, but committed past). */
interface Taken {
  topic: string;
  partition: number;
  offset: string;
  value: unknown;
  takenAt: number;
}

const NOT_JSON = Symbol('not-json');
// kafkajs's own heartbeat() is throttled to its heartbeatInterval; asking more often costs nothing.
const HEARTBEAT_EVERY_MS = 1000;

/** Thrown out of a retry loop when the worker is stopping: the batch stays uncommitted. */
class Stopping extends Error {
  override name = 'Stopping';
}

/**
 * Consumes `sandcrawler-{env}.ingest-fileset-results` as group
 * `sandcrawler-{env}-persist-ingest-fileset` until options.signal aborts. Resolves once stopped;
 * rejects (InfrastructureError) when the broker cannot be reached or the consumer gives up.
 */
export async function runPersistWorker(config: Config, logger: Logger, options: PersistWorkerOptions): Promise<void> {
  const log = logger.child({ worker: 'persist-ingest-fileset' });
  const { signal } = options;
  if (signal.aborted) return;
  const names = kafkaNames(config);
  const ownDb = options.db ? undefined : await openDatabase(config, log);
  const db = options.db ?? (ownDb as Database);
  // Aborted by the caller's signal, or by us when the consumer is gone: either way the batcher
  // stops retrying a failing batch (it stays uncommitted) so that stopping cannot hang.
  const halt = new AbortController();

  const consumer = createKafka(config, log, { clientId: 'fileset-ingest-persist' }).consumer({
    groupId: names.persistGroup,
    // A short fetch wait keeps shutdown quick; data that is there is returned at once anyway.
    maxWaitTimeInMs: 1000,
  });
  let stopping = false;
  const batcher = new Batcher({
    db,
    log,
    metrics: options.metrics,
    signal: AbortSignal.any([signal, halt.signal]),
    batchSize: config.persist.batchSize,
    lingerMs: config.persist.lingerMs,
    retryDelayMs: options.retryDelayMs ?? 1000,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
    commit: (offsets) => consumer.commitOffsets(offsets),
  });

  let giveUp: (err: unknown) => void = () => undefined;
  const crashed = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    // kafkajs restarts itself after retriable crashes; only a final one ends the worker.
    if (!payload.restart) giveUp(new InfrastructureError(`Kafka consumer stopped: ${describeError(payload.error)}`, { cause: payload.error }));
  });

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
    if (stopping) return;   // not resolved, not committed: redelivered to whoever runs next
    batcher.noteHighWatermark(batch.topic, batch.partition, batch.highWatermark);
    for (const message of batch.messages) {
      if (stopping || !isRunning() || isStale()) break;
      batcher.take(batch.topic, batch.partition, message);
      resolveOffset(message.offset);
    }
    const beating = setInterval(() => {
      heartbeat().catch((err: unknown) => log.debug({ err }, 'heartbeat during a persist batch failed'));
    }, HEARTBEAT_EVERY_MS);
    try {
      await batcher.flush(false);
    } catch (err) {
      if (!(err instanceof Stopping)) throw err;
    } finally {
      clearInterval(beating);
    }
  };

  try {
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: names.filesetResults, fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
    } catch (err) {
      throw new InfrastructureError(`Kafka at ${config.kafka.brokers.join(',')}: ${describeError(err)}`, { cause: err });
    }
    log.info({ topic: names.filesetResults, group: names.persistGroup, batchSize: config.persist.batchSize }, 'persist worker running');
    await Promise.race([untilAborted(signal), crashed]);
  } finally {
    stopping = true;
    halt.abort();
    // While still a group member (commits after disconnect are dropped), write what was taken.
    await batcher.drain();
    await consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'Kafka consumer disconnect failed'));
    await ownDb?.close();
    log.info('persist worker stopped');
  }
}

interface BatcherDeps {
  db: Database;
  log: Logger;
  metrics: Metrics;
  signal: AbortSignal;
  batchSize: number;
  lingerMs: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  commit(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
}

/**
 * Messages taken but not yet written, across kafkajs batches and partitions, in arrival order.
 * Flushes run one at a time: `batchSize` messages per transaction, the rest once the oldest has
 * waited `lingerMs`. Every flush writes, then commits, the oldest messages first, so a committed
 * offset never passes a message that was not written.
 */
class Batcher {
  private pending: Taken[] = [];
  /** Highest offset taken per partition: a redelivery (after a rebalance) is not taken twice. */
  private readonly taken = new Map<string, bigint>();
  private readonly highWatermarks = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: BatcherDeps) {}

  noteHighWatermark(topic: string, partition: number, highWatermark: string): void {
    this.highWatermarks.set(`${topic}/${partition}`, highWatermark);
  }

  take(topic: string, partition: number, message: KafkaMessage): void {
    const key = `${topic}/${partition}`;
    const offset = BigInt(message.offset);
    if (offset <= (this.taken.get(key) ?? -1n)) return;
    this.taken.set(key, offset);
    this.pending.push({ topic, partition, offset: message.offset, value: this.parse(topic, partition, message), takenAt: Date.now() });
  }

  /** Writes full batches now, and everything when the oldest message has lingered long enough. */
  flush(all: boolean): Promise<void> {
    const run = this.queue.then(() => this.flushNow(all));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Writes everything taken (one attempt each once stopping); what fails stays uncommitted. */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    try {
      await this.flush(true);
    } catch (err) {
      if (!(err instanceof Stopping)) throw err;
    }
    clearTimeout(this.timer);
    if (this.pending.length) {
      this.deps.log.warn({ messages: this.pending.length }, 'stopping with results not written: they stay uncommitted and will be redelivered');
    }
  }

  private async flushNow(all: boolean): Promise<void> {
    const { batchSize, lingerMs } = this.deps;
    clearTimeout(this.timer);
    this.timer = undefined;
    const lingered = () => this.pending.length > 0 && Date.now() - this.pending[0]!.takenAt >= lingerMs;
    while (this.pending.length >= batchSize || (this.pending.length > 0 && (all || lingered()))) {
      const chunk = this.pending.slice(0, batchSize);
      await this.write(chunk);
      this.pending.splice(0, chunk.length);
      await this.commit(chunk);
    }
    if (this.pending.length && !this.deps.signal.aborted) {
      const wait = Math.max(0, this.pending[0]!.takenAt + lingerMs - Date.now());
      this.timer = setTimeout(() => void this.flush(true).catch(() => undefined), wait);
    }
  }

  /** One persistResults call (one transaction); a failure is retried with backoff until it works. */
  private async write(chunk: Taken[]): Promise<void> {
    const { db, log, metrics, signal } = this.deps;
    const results = chunk.filter((t) => t.value !== NOT_JSON).map((t) => t.value);
    if (!results.length) return;
    let delay = this.deps.retryDelayMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        // persistResults counts the batch size, duration, rows and rejected rows in metrics.
        const outcome = await persistResults(db, results, { logger: log, metrics });
        log.debug({ results: outcome.results, rows: outcome.rows, rejected: outcome.rejected.length }, 'persisted a batch');
        return;
      } catch (err) {
        metrics.infraRetries.inc({ reason: 'database' });
        const first = chunk[0]!;
        log.error({ err, attempt, results: results.length, topic: first.topic, partition: first.partition, offset: first.offset, retryInMs: delay }, 'persist batch failed; retrying the same batch');
        if (signal.aborted || !(await sleep(delay, signal))) throw new Stopping('stopping while the database fails');
        delay = Math.min(delay * 2, this.deps.maxRetryDelayMs);
      }
    }
  }

  /** Commits past the chunk, per partition. A failed commit only means a harmless redelivery. */
  private async commit(chunk: Taken[]): Promise<void> {
    const next = new Map<string, { topic: string; partition: number; offset: string }>();
    for (const t of chunk) next.set(`${t.topic}/${t.partition}`, { topic: t.topic, partition: t.partition, offset: (BigInt(t.offset) + 1n).toString() });
    const offsets = [...next.values()];
    try {
      await this.deps.commit(offsets);
    } catch (err) {
      this.deps.log.warn({ err, offsets }, 'offset commit failed after the batch was written; it may be redelivered (harmless)');
      return;
    }
    for (const [key, { topic, partition, offset }] of next) {
      const highWatermark = this.highWatermarks.get(key);
      if (highWatermark !== undefined) {
        const lag = BigInt(highWatermark) - BigInt(offset);
        this.deps.metrics.consumerLag.set({ topic, partition: String(partition) }, Number(lag > 0n ? lag : 0n));
      }
    }
  }

  private parse(topic: string, partition: number, message: KafkaMessage): unknown {
    const text = message.value?.toString('utf8') ?? '';
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      this.deps.metrics.skipped.inc({ reason: 'not-json' });
      this.deps.log.warn({ topic, partition, offset: message.offset, bytes: message.value?.length ?? 0, head: text.slice(0, 80), err }, 'skipping a message that is not JSON');
      return NOT_JSON;
    }
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Waits ms; false when the signal aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (slept: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(slept);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
