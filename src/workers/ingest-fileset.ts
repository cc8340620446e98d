// The Kafka ingest worker: dataset requests in, fileset (and dataset-file) results out, at least
// once. Composition: the JSON consumer (kafka/consumer.ts) hands each request to the pipeline, and
// its offset is committed only after its results were acknowledged by the broker.
import type { Config } from '../config.js';
import { describeError, InfrastructureError } from '../errors.js';
import { createKafka, createProducer, type Producer } from '../kafka/client.js';
import { JsonConsumer, type ConsumedMessage, type ConsumerTimings, type MessageContext } from '../kafka/consumer.js';
import { connectProducer, keyOf, outcomeMessages, sendAcked } from '../kafka/produce.js';
import { kafkaNames, type KafkaNames } from '../kafka/topics.js';
import type { Readiness } from '../health.js';
import type { Logger } from '../logger.js';
import { shipMetrics, type Metrics } from '../metrics.js';
import { ingestFileset, type IngestOutcome } from '../pipeline/ingest.js';
import { newResult } from '../pipeline/result.js';
import { openRuntime, type Runtime } from '../pipeline/runtime.js';
import { retry, type Backoff } from '../retry.js';

/** Unexpected (non-infrastructure) exceptions of one request are retried this often, then `internal-error`. */
const UNEXPECTED_RETRIES = 2;
/** The item the readiness check lists to see that the item store answers (it need not exist). */
const STORE_PROBE_ITEM = 'fileset-ingest-readiness-probe';
/** While the item store answers, it is asked at most once a minute (with ias3, each check is a request to archive.org). */
const STORE_CHECK_PASS_MS = 60_000;

export interface IngestWorkerOptions {
  signal: AbortSignal;
  metrics: Metrics;
  /** An open runtime to use (tests); the worker then leaves it open. Default: openRuntime(config). */
  runtime?: Runtime;
  drainGraceMs?: number;
  consumer?: ConsumerTimings;
  /** Backoff after an infrastructure failure: doubles from initialMs up to maxMs. */
  infraBackoff?: { initialMs: number; maxMs: number };
  /** How often consumerLag is refreshed. */
  lagIntervalMs?: number;
  /** Given checks of the database, the item store and the consumer group while the worker runs. */
  readiness?: Readiness;
}

/** Runs until `signal` aborts, then drains, commits and disconnects; rejects if Kafka fails for good. */
export async function runIngestWorker(config: Config, logger: Logger, options: IngestWorkerOptions): Promise<void> {
  const { metrics } = options;
  const runtime =
    options.runtime ??
    (await openRuntime(config, logger, {
      onHttpRetry: (reason, host) => {
        metrics.httpRetries.inc({ reason });
        if (reason === '429') metrics.rateLimited.inc({ host });
      },
      budgetObserver: {
        waited: (budget, ms) => metrics.budgetWaitSeconds.observe({ budget }, ms / 1000),
        paused: (budget) => metrics.budgetPauses.inc({ budget }),
      },
      shipObserver: shipMetrics(metrics),
    }));
  const kafka = createKafka(config, logger, { clientId: 'fileset-ingest-worker' });
  const names = kafkaNames(config);
  const producer = createProducer(kafka);
  const log = logger.child({ module: 'ingest-worker' });
  const consumer = new JsonConsumer(kafka, {
    groupId: names.ingestGroup,
    topics: names.requestTopics,
    concurrency: config.workerConcurrency,
    logger,
    metrics,
    ...(options.consumer ? { timings: options.consumer } : {}),
    ...(options.drainGraceMs !== undefined ? { drainGraceMs: options.drainGraceMs } : {}),
    ...(options.lagIntervalMs !== undefined ? { lagIntervalMs: options.lagIntervalMs } : {}),
  });
  const { initialMs, maxMs } = options.infraBackoff ?? { initialMs: 1_000, maxMs: 60_000 };
  const worker = new IngestRequests({ runtime, producer, names, log, metrics, backoff: { baseMs: initialMs, maxMs } });
  const removeChecks = [
    options.readiness?.add('database', async () => void (await runtime.db.query('SELECT 1'))),
    options.readiness?.add(
      'store',
      async (signal) => void (await runtime.deps.items.listFiles(STORE_PROBE_ITEM, signal)),
      { passFor: STORE_CHECK_PASS_MS },
    ),
    options.readiness?.add('kafka', () => consumer.checkGroup()),
  ];
  try {
    const connected = await connectProducer(producer, {
      signal: options.signal,
      backoff: { baseMs: initialMs, maxMs, jitter: true },
      onRetry: (err, attempt, delayMs) => {
        metrics.infraRetries.inc({ reason: 'broker' });
        log.warn({ err, attempt, delayMs }, 'Kafka producer could not connect; retrying');
      },
    });
    if (connected) await consumer.run((message, ctx) => worker.handle(message, ctx), options.signal);
  } finally {
    for (const remove of removeChecks) remove?.();
    await producer.disconnect().catch((err: unknown) => log.warn({ err }, 'Kafka producer disconnect failed'));
    if (!options.runtime) await runtime.close();
    log.info('ingest worker stopped');
  }
}

interface IngestRequestsDeps {
  runtime: Runtime;
  producer: Producer;
  names: KafkaNames;
  log: Logger;
  metrics: Metrics;
  backoff: Backoff;
}

/** One request message: the pipeline (retried on our failures), then its results produced, then counted. */
class IngestRequests {
  constructor(private readonly deps: IngestRequestsDeps) {}

  async handle(message: ConsumedMessage, ctx: MessageContext): Promise<void> {
    const { metrics } = this.deps;
    // A request of another ingest_type (a file request sharing the topic) is answered by the
    // pipeline like anywhere else: `skip-ingest-type`, nothing fetched.
    const started = performance.now();
    metrics.inFlight.inc();
    try {
      const outcome = await this.#ingest(message, ctx);
      await this.#produce(outcome, ctx);
      this.#count(outcome, (performance.now() - started) / 1000);
    } finally {
      metrics.inFlight.dec();
    }
  }

  /**
   * ingestFileset, retried after infrastructure failures with the partition paused. Unexpected
   * errors get a few tries, then an `internal-error` result. Rejects when abandoned.
   */
  async #ingest(message: ConsumedMessage, ctx: MessageContext): Promise<IngestOutcome> {
    const { runtime, metrics, log, backoff } = this.deps;
    const signal = ctx.abandoned;
    let release: (() => void) | undefined;
    try {
      const outcome = await retry(() => ingestFileset(message.value, runtime.deps, { signal }), {
        retries: Infinity,
        backoff,
        signal,
        retryable: (err, n) => !signal.aborted && (err instanceof InfrastructureError || n < UNEXPECTED_RETRIES),
        onRetry: (err, attempt, delay) => {
          metrics.infraRetries.inc({ reason: err instanceof InfrastructureError ? 'ingest' : 'unexpected' });
          release ??= ctx.holdPartition();
          log.warn(
            { err, attempt, delay, partition: message.partition },
            'ingest failed on our side; retrying the request',
          );
        },
      });
      signal.throwIfAborted();
      return outcome;
    } catch (err) {
      signal.throwIfAborted();
      log.error({ err }, 'unexpected error, giving the request an internal-error result');
      const echo = isObject(message.value) ? message.value : { value: message.value };
      return { result: newResult(echo, 'internal-error', describeError(err)), fileResult: null, ready: false };
    } finally {
      release?.();
    }
  }

  /** Sends the results until the broker acknowledges them; rejects when abandoned first. */
  async #produce(outcome: IngestOutcome, ctx: MessageContext): Promise<void> {
    const { producer, names, log, metrics, backoff } = this.deps;
    const { topicMessages, trimmed } = outcomeMessages(outcome, names);
    if (trimmed.length)
      log.warn(
        { topics: trimmed, base_url: keyOf(outcome.result.request) },
        'result too large for a Kafka message: trimmed',
      );
    await retry(() => sendAcked(producer, topicMessages), {
      retries: Infinity,
      backoff,
      signal: ctx.abandoned,
      onRetry: (err, attempt, delay) => {
        metrics.infraRetries.inc({ reason: 'broker' });
        log.warn({ err, attempt, delay }, 'producing the result failed; retrying');
      },
    });
  }

  #count({ result }: IngestOutcome, seconds: number): void {
    const { metrics } = this.deps;
    const strategy = result.ingest_strategy ?? '';
    metrics.requests.inc({ status: result.status, platform: result.platform_name ?? '', strategy });
    metrics.ingestSeconds.observe({ status: result.status }, seconds);
    const archived = (result.manifest ?? []).filter((entry) => entry.status === 'success');
    if (archived.length) {
      metrics.filesArchived.inc({ strategy }, archived.length);
      metrics.bytesArchived.inc(
        { strategy },
        archived.reduce((sum, entry) => sum + (entry.size ?? 0), 0),
      );
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
