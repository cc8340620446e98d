// `fileset-ingest produce --topic T [file|-]`: JSON-lines ingest requests to a Kafka topic, checked first.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Message } from 'kafkajs';
import type { Config } from '../config.js';
import { describeError } from '../errors.js';
import { createKafka, createProducer } from '../kafka/client.js';
import { keyOf, sendAcked } from '../kafka/produce.js';
import type { Logger } from '../logger.js';
import { IngestRequestSchema } from '../schemas/request.js';
import { UsageError } from './usage.js';

export const usage = `Usage: fileset-ingest produce --topic TOPIC [file|-] [config flags]

Reads ingest requests as JSON lines ("-" or no file: stdin), checks each against the request
schema and sends the good ones to TOPIC on FILESET_KAFKA_BROKERS, keyed by base_url, in batches,
each acknowledged by all in-sync replicas. A bad line is reported on stderr ("line N: ...") and
not sent. stdout: {"produced": n, "rejected": m}.
Exit status: 0 when every line was sent, 1 when some were rejected, 2 on bad usage, 3 when
Kafka could not be reached.`;

/** Messages per acknowledged send. */
const BATCH = 500;

export interface ProduceOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** stderr for the per-line reports (default process.stderr). */
  errors?: NodeJS.WritableStream;
  signal?: AbortSignal;
  /** The --topic flag, parsed by the CLI. */
  topic?: string;
}

/** `args`: the positionals after "produce" (at most one file; "-" is stdin). */
export async function run(config: Config, logger: Logger, args: string[], options: ProduceOptions = {}): Promise<number> {
  const topic = options.topic;
  if (!topic) throw new UsageError('--topic is required');
  if (args.length > 1) throw new UsageError('expected at most one input file');
  const input = options.input ?? (!args[0] || args[0] === '-' ? process.stdin : createReadStream(args[0]));
  const output = options.output ?? process.stdout;
  const errors = options.errors ?? process.stderr;

  const producer = createProducer(createKafka(config, logger, { clientId: 'fileset-ingest-produce' }));
  await producer.connect();
  let produced = 0;
  let rejected = 0;
  try {
    let batch: Message[] = [];
    const flush = async () => {
      if (!batch.length) return;
      await sendAcked(producer, [{ topic, messages: batch }]);
      produced += batch.length;
      batch = [];
    };
    let lineNumber = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (options.signal?.aborted) break;
      if (!line.trim()) continue;
      const problem = checkLine(line);
      if (problem) {
        rejected += 1;
        errors.write(`line ${lineNumber}: ${problem}, not sent\n`);
        continue;
      }
      batch.push({ key: keyOf(JSON.parse(line)), value: line });
      if (batch.length >= BATCH) await flush();
    }
    await flush();
  } finally {
    await producer.disconnect();
  }
  output.write(`${JSON.stringify({ produced, rejected })}\n`);
  logger.info({ topic, produced, rejected }, 'requests produced');
  return rejected ? 1 : 0;
}

/** Why a line is not a request, or null. */
function checkLine(line: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return `not JSON (${describeError(err)})`;
  }
  const parsed = IngestRequestSchema.safeParse(value);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  return `${issue.path.length ? `request.${issue.path.join('.')}` : 'request'}: ${issue.message}`;
}
