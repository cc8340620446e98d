// `fileset-ingest produce --topic T [file|-]`: JSON-lines ingest requests to a Kafka topic, checked first.
import type { Config } from '../config.js';
import { checkBrokers, createKafka, createProducer, type Message } from '../kafka/client.js';
import { keyOf, sendAcked } from '../kafka/produce.js';
import type { Logger } from '../logger.js';
import { parseRequest } from '../schemas/request.js';
import { checkInput, inputOf, jsonLines } from './json-lines.js';
import { UsageError } from '../errors.js';

export { produceUsage as usage } from './usage.js';

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
export async function run(
  config: Config,
  logger: Logger,
  args: string[],
  options: ProduceOptions = {},
): Promise<number> {
  const topic = options.topic;
  if (!topic) throw new UsageError('--topic is required');
  if (args.length > 1) throw new UsageError('expected at most one input file');
  if (!options.input) await checkInput(args[0]);
  const input = options.input ?? inputOf(args[0]);
  const output = options.output ?? process.stdout;
  const errors = options.errors ?? process.stderr;

  await checkBrokers(config, logger);
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
    for await (const line of jsonLines(input)) {
      if (options.signal?.aborted) break;
      const problem = 'notJson' in line ? line.notJson : problemOf(line.value);
      if ('notJson' in line || problem) {
        rejected += 1;
        errors.write(`line ${line.number}: ${problem}, not sent\n`);
        continue;
      }
      batch.push({ key: keyOf(line.value), value: line.text });
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
function problemOf(value: unknown): string | null {
  const parsed = parseRequest(value);
  return 'problem' in parsed ? parsed.problem : null;
}
