// Producing to Kafka: acknowledged sends, and results shaped to fit a topic's message size limit.
import type { Message, Producer, TopicMessages } from 'kafkajs';
import { abandonable, retry, type Backoff } from '../retry.js';
import type { DatasetFileResult, FilesetResult } from '../schemas/result.js';
import { isTransientKafkaError } from './client.js';
import type { KafkaNames } from './topics.js';

/**
 * Largest message value we send. Kafka's default `max.message.bytes` is 1 MiB + 12 bytes for the
 * whole record batch; this leaves room for the key and the batch framing. A larger result (a
 * request echoing megabytes of junk) would be refused by the broker on every retry and stop its
 * partition, so it is trimmed instead (see fitResult).
 */
export const MAX_MESSAGE_BYTES = 1_000_000;

/** Longest key; a key is a base_url, which a hostile request can make megabytes long. */
export const MAX_KEY_CHARS = 4096;

/**
 * Connects a worker's producer. The command's start-up check (checkBrokers) found a broker a moment
 * ago, so a broker that is down now is an outage that began since: waited out with `backoff` until
 * it is over, as the consumer waits one out. Resolves false when `signal` aborts first, without
 * waiting for kafkajs's connect retries (it cannot be interrupted: a producer whose connect is
 * given up is disconnected once it ends). Any other failure (a refused login) is thrown.
 */
export async function connectProducer(
  producer: Producer,
  options: { signal: AbortSignal; backoff: Backoff; onRetry: (err: unknown, retry: number, delayMs: number) => void },
): Promise<boolean> {
  const { signal } = options;
  try {
    await retry(() => abandonable(producer.connect(), signal, () => producer.disconnect()), {
      ...options,
      retries: Infinity,
      retryable: (err) => !signal.aborted && isTransientKafkaError(err),
    });
    return true;
  } catch (err) {
    if (signal.aborted) return false;
    throw err;
  }
}

/** Sends and resolves once every in-sync replica has the messages (acks: -1). */
export async function sendAcked(producer: Producer, topicMessages: TopicMessages[]): Promise<void> {
  await producer.sendBatch({ topicMessages, acks: -1 });
}

/** The message key of a request or result: its base_url (clipped), or none. */
export function keyOf(request: unknown): string | null {
  if (typeof request !== 'object' || request === null) return null;
  const base = (request as Record<string, unknown>).base_url;
  if (typeof base !== 'string' || !base) return null;
  return base.length > MAX_KEY_CHARS ? base.slice(0, MAX_KEY_CHARS) : base;
}

/** The Kafka message of a result, keyed by its request's base_url. */
export function resultMessage(result: FilesetResult | DatasetFileResult): { message: Message; trimmed: boolean } {
  const { value, trimmed } = fitResult(result);
  return { message: { key: keyOf(result.request), value }, trimmed };
}

/**
 * The messages of one request's outcome: the dataset-file result (when there is one) and the
 * fileset result, each keyed by base_url. `trimmed` names the topics whose result had to be cut.
 */
export function outcomeMessages(
  outcome: { result: FilesetResult; fileResult: DatasetFileResult | null },
  names: Pick<KafkaNames, 'filesetResults' | 'fileResults'>,
): { topicMessages: TopicMessages[]; trimmed: string[] } {
  const results = [
    ...(outcome.fileResult ? [{ topic: names.fileResults, result: outcome.fileResult }] : []),
    { topic: names.filesetResults, result: outcome.result },
  ];
  const topicMessages: TopicMessages[] = [];
  const trimmed: string[] = [];
  for (const { topic, result } of results) {
    const fitted = resultMessage(result);
    if (fitted.trimmed) trimmed.push(topic);
    topicMessages.push({ topic, messages: [fitted.message] });
  }
  return { topicMessages, trimmed };
}

/**
 * The result as JSON, made to fit MAX_MESSAGE_BYTES. Steps, each taken only if still too large:
 * long strings anywhere are clipped (a 10 MB field in the request echo); then the request echo
 * keeps only its sandcrawler fields, the landing page's html_biblio and the manifest entries'
 * platform `extra` go; last, a skeleton with the status is left. Status, hit and counts survive.
 */
export function fitResult(result: FilesetResult | DatasetFileResult): { value: string; trimmed: boolean } {
  const full = JSON.stringify(result);
  if (Buffer.byteLength(full) <= MAX_MESSAGE_BYTES) return { value: full, trimmed: false };
  const clipped = clipStrings(result, 4096) as FilesetResult;
  const steps: Array<(r: FilesetResult) => FilesetResult> = [
    (r) => r,
    (r) => ({ ...r, request: pickRequestFields(r.request) }),
    (r) => {
      const { html_biblio: _biblio, ...rest } = r;
      return { ...rest, ...(rest.manifest ? { manifest: rest.manifest.map(({ extra: _extra, ...e }) => e) } : {}) };
    },
  ];
  let current = clipped;
  for (const step of steps) {
    current = step(current);
    const value = JSON.stringify(current);
    if (Buffer.byteLength(value) <= MAX_MESSAGE_BYTES) return { value, trimmed: true };
  }
  const skeleton = {
    hit: current.hit,
    status: current.status,
    request: pickRequestFields(current.request),
    error_message: 'result too large for the topic: only its status was kept',
  };
  return { value: JSON.stringify(skeleton), trimmed: true };
}

const REQUEST_FIELDS = [
  'base_url',
  'ingest_type',
  'link_source',
  'link_source_id',
  'ingest_request_source',
  'release_stage',
  'force_recrawl',
  'rel',
];

function pickRequestFields(request: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const field of REQUEST_FIELDS) {
    const value = request[field];
    if (value === undefined) continue;
    picked[field] = typeof value === 'string' && value.length > MAX_KEY_CHARS ? value.slice(0, MAX_KEY_CHARS) : value;
  }
  return picked;
}

/** A deep copy with every string longer than `max` cut to `max` characters. */
function clipStrings(value: unknown, max: number): unknown {
  if (typeof value === 'string') return value.length > max ? value.slice(0, max) : value;
  if (Array.isArray(value)) return value.map((v) => clipStrings(v, max));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clipStrings(v, max)]));
  }
  return value;
}
