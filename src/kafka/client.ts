// The one place that builds kafkajs clients: brokers from config, one retry policy, and kafkajs's
// own logs sent through pino (kafkajs otherwise prints to the console). Also the consumer-lag query
// both workers export as a metric.
import { Kafka, logLevel, Partitioners, type Admin, type LogEntry, type Producer } from 'kafkajs';

export type { Message, Producer } from 'kafkajs';
import type { Config } from '../config.js';
import { ServiceUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sleep } from '../retry.js';

export interface KafkaClientOptions {
  /** Names the process in broker logs and quotas, e.g. "fileset-ingest-worker". */
  clientId: string;
}

/**
 * kafkajs retries each request (connect, produce, commit, ...) this way before it gives up. The
 * workers add their own retry loop on top: a broker that is down for minutes is not a failure.
 */
export const KAFKA_RETRY = { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 } as const;

/**
 * kafkajs warnings about choices made here on purpose: our producer's retries are limited so that
 * a worker can give up on a send at shutdown; its own loop sends again (at least once).
 */
const EXPECTED_WARNINGS = new Set(['Limiting retries for the idempotent producer may invalidate EoS guarantees']);

export function createKafka(config: Config, logger: Logger, options: KafkaClientOptions): Kafka {
  const log = logger.child({ module: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: config.kafka.brokers,
    retry: KAFKA_RETRY,
    logLevel: kafkaLogLevel(log.level),
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      const fields = { ...extra, namespace: entry.namespace };
      switch (entry.level) {
        case logLevel.ERROR:
          log.error(fields, message);
          break;
        case logLevel.WARN:
          if (EXPECTED_WARNINGS.has(message)) log.debug(fields, message);
          else log.warn(fields, message);
          break;
        case logLevel.INFO:
          // kafkajs's INFO is chatty (every join, pause and resume): debug for us.
          log.debug(fields, message);
          break;
        default:
          log.trace(fields, message);
      }
    },
  });
}

/** kafkajs only builds the log entries pino would keep. */
function kafkaLogLevel(level: string): logLevel {
  switch (level) {
    case 'silent':
      return logLevel.NOTHING;
    case 'fatal':
    case 'error':
      return logLevel.ERROR;
    case 'warn':
    case 'info':
      return logLevel.WARN;
    case 'debug':
      return logLevel.INFO;
    default:
      return logLevel.DEBUG;
  }
}

/** How long the start-up check waits for a broker to answer. */
export const BROKER_CHECK_MS = 10_000;

/**
 * Start-up check of a command that needs Kafka: a broker answers a metadata request within
 * BROKER_CHECK_MS, or one ServiceUnavailableError names Kafka, the brokers and the variable. Once
 * running, the workers ride out broker outages with their own retries; a broker that is not there
 * at start is far more often a wrong address than an outage.
 */
export async function checkBrokers(config: Config, logger: Logger): Promise<void> {
  const log = logger.child({ module: 'kafkajs', check: true });
  const admin = new Kafka({
    clientId: 'fileset-ingest-check',
    brokers: config.kafka.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 5_000,
    retry: { initialRetryTime: 300, maxRetryTime: 2_000, retries: 3 },
    // Every failed attempt would be an error line: the one line that matters is ours.
    logLevel: logLevel.NOTHING,
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      admin.connect().then(() => admin.describeCluster()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${BROKER_CHECK_MS / 1000} s`)), BROKER_CHECK_MS);
      }),
    ]);
  } catch (err) {
    log.debug({ err }, 'Kafka start-up check failed');
    throw new ServiceUnavailableError(
      'Kafka',
      config.kafka.brokers.join(','),
      'FILESET_KAFKA_BROKERS',
      messageOf(err),
      {
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * A producer whose sends are acknowledged by every in-sync replica, idempotent (a retried send is
 * not written twice), keyed with the Java client's murmur2 partitioner so a base_url lands in the
 * same partition whichever client produced it.
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    // kafkajs requires one request in flight for an idempotent producer.
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: KAFKA_RETRY,
  });
}

/**
 * Messages not yet consumed by `groupId` on each of `partitions`: the high watermark minus the
 * group's committed offset (from the low watermark when the group has committed nothing yet).
 */
export async function consumerLag(
  admin: Admin,
  groupId: string,
  partitions: ReadonlyArray<{ topic: string; partition: number }>,
): Promise<Array<{ topic: string; partition: number; lag: number }>> {
  const lags: Array<{ topic: string; partition: number; lag: number }> = [];
  for (const topic of new Set(partitions.map((p) => p.topic))) {
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    for (const { partition } of partitions.filter((p) => p.topic === topic)) {
      const end = ends.find((e) => e.partition === partition);
      const done = Number(committed?.partitions.find((c) => c.partition === partition)?.offset ?? -1);
      if (end) lags.push({ topic, partition, lag: Number(end.high) - (done >= 0 ? done : Number(end.low)) });
    }
  }
  return lags;
}

/** Metadata answers while a topic created a moment ago is not yet everywhere in the cluster. */
const NOT_YET_IN_METADATA = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Creates the topics (those that exist are left alone) and waits until every partition of each has
 * a leader. kafkajs's own wait (`waitForLeaders`) gives up on the first "unknown topic or
 * partition", which a loaded broker answers for a moment after it created the topic; here that is
 * "not yet", until `timeoutMs`. Resolves with whether kafkajs created any.
 */
export async function createTopicsAndWait(
  admin: Pick<Admin, 'createTopics' | 'fetchTopicMetadata'>,
  topics: Parameters<Admin['createTopics']>[0]['topics'],
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<boolean> {
  const created = await admin.createTopics({ topics, waitForLeaders: false });
  const names = topics.map((t) => t.topic);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    let missing: string;
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics: names });
      const leaderless = meta.filter((t) => !t.partitions.length || t.partitions.some((p) => p.leader < 0));
      if (!leaderless.length) return created;
      missing = `no leader yet for ${leaderless.map((t) => t.name).join(', ')}`;
    } catch (err) {
      const type = (err as { type?: unknown }).type;
      if (typeof type !== 'string' || !NOT_YET_IN_METADATA.has(type)) throw err;
      missing = messageOf(err);
    }
    if (Date.now() > deadline) throw new Error(`topics ${names.join(', ')} not ready: ${missing}`);
    await sleep(options.pollMs ?? 200);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** kafkajs errors of a broker that is down, restarting or moving a group: they end when the broker is back. */
const TRANSIENT_ERROR_NAMES = new Set([
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
]);
/** Kafka protocol error codes (KafkaJSProtocolError `type`) of the same kind. */
const TRANSIENT_PROTOCOL_TYPES = new Set([
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_LOAD_IN_PROGRESS',
  'REQUEST_TIMED_OUT',
  'BROKER_NOT_AVAILABLE',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NETWORK_EXCEPTION',
]);

/**
 * Whether a Kafka failure (a consumer's crash, a producer's connect or send) is a broker outage
 * that ends by itself: the error or one of its causes (kafkajs wraps the last failure of its
 * retries as the cause) is one of the kinds above.
 */
export function isTransientKafkaError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth += 1) {
    if (TRANSIENT_ERROR_NAMES.has(e.name)) return true;
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && TRANSIENT_PROTOCOL_TYPES.has(type)) return true;
  }
  return false;
}
