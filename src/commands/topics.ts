// `fileset-ingest topics create`: the request and result topics, with the configured partitions.
import type { Config } from '../config.js';
import { checkBrokers, createKafka, createTopicsAndWait } from '../kafka/client.js';
import { kafkaNames } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import { UsageError } from '../errors.js';

export { topicsUsage as usage } from './usage.js';

/** `args`: the positionals after "topics" (exactly "create"). */
export async function run(
  config: Config,
  logger: Logger,
  args: string[],
  options: { output?: NodeJS.WritableStream } = {},
): Promise<number> {
  if (args.length !== 1 || args[0] !== 'create') throw new UsageError('expected "topics create"');
  const names = kafkaNames(config);
  const wanted = [...new Set([...names.requestTopics, names.filesetResults, names.fileResults])];
  await checkBrokers(config, logger);
  const admin = createKafka(config, logger, { clientId: 'fileset-ingest-topics' }).admin();
  await admin.connect();
  try {
    const before = new Set(await admin.listTopics());
    const missing = wanted.filter((topic) => !before.has(topic));
    if (missing.length) {
      await createTopicsAndWait(
        admin,
        missing.map((topic) => ({
          topic,
          numPartitions: config.kafka.partitions,
          replicationFactor: config.kafka.replication,
        })),
      );
    }
    // Another process may have created some in between: ask the broker what exists now.
    const after = new Set(await admin.listTopics());
    const notMade = wanted.filter((topic) => !after.has(topic));
    if (notMade.length) throw new Error(`topics not created: ${notMade.join(', ')}`);
    const report = { created: missing, existing: wanted.filter((topic) => before.has(topic)) };
    (options.output ?? process.stdout).write(`${JSON.stringify(report)}\n`);
    logger.info(
      { ...report, partitions: config.kafka.partitions, replication: config.kafka.replication },
      'topics ready',
    );
    return 0;
  } finally {
    await admin.disconnect();
  }
}
