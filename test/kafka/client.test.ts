// The kafkajs client factory against the test broker: kafkajs logs go through pino; consumer lag.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { consumerLag, createKafka } from '../../src/kafka/client.js';
import { createTopics, produce, testKafka, uniqueEnv, waitFor } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');

describe.skipIf(!brokers)('kafka client', () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const kafka = createKafka(loadConfig({ FILESET_KAFKA_BROKERS: brokers, FILESET_LOG_LEVEL: 'debug' }), logger, {
    clientId: 'client-test',
  });
  const admin = kafka.admin();

  beforeAll(async () => {
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it('reports consumer lag from the committed offset, or from the start when nothing is committed', async () => {
    const topic = `${uniqueEnv('lag-')}.requests`;
    const groupId = `${topic}-group`;
    await createTopics(admin, [topic], { partitions: 2 });
    await produce(testKafka(brokers), topic, [
      { key: 'a', value: '1' },
      { key: 'a', value: '2' },
      { key: 'a', value: '3' },
    ]);
    const [withMessages] = (await admin.fetchTopicOffsets(topic)).filter((p) => p.high === '3');
    const busy = withMessages!.partition;
    const idle = 1 - busy;
    const partitions = [
      { topic, partition: busy },
      { topic, partition: idle },
    ];
    expect(await consumerLag(admin, groupId, partitions)).toEqual([
      { topic, partition: busy, lag: 3 },
      { topic, partition: idle, lag: 0 },
    ]);
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: busy, offset: '1' }] });
    expect(await consumerLag(admin, groupId, partitions)).toEqual([
      { topic, partition: busy, lag: 2 },
      { topic, partition: idle, lag: 0 },
    ]);
  });

  it("sends kafkajs's log entries through pino, its INFO as debug", async () => {
    const topic = `${uniqueEnv('log-')}.requests`;
    const groupId = `${topic}-group`;
    const joined = (l: Record<string, unknown>) => l.msg === 'Consumer has joined the group' && l.groupId === groupId;
    await createTopics(admin, [topic]);
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic });
      await consumer.run({ eachMessage: async () => {} });
      await waitFor(() => lines.some(joined), { what: () => 'the join log line' });
    } finally {
      await consumer.disconnect();
    }
    expect(lines.find(joined)).toMatchObject({ level: 20, module: 'kafkajs', namespace: 'ConsumerGroup' });
  });
});
