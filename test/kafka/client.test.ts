// The kafkajs client factory against the test broker: kafkajs logs go through pino; consumer lag.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { consumerLag, createKafka, createTopicsAndWait } from '../../src/kafka/client.js';
import { createTopics, produce, testKafka, uniqueEnv, waitFor } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');

/** An admin whose metadata answers are scripted: an error, or each topic's partition leaders. */
function scriptedAdmin(answers: Array<Error | number[]>) {
  const asked: string[][] = [];
  return {
    asked,
    createTopics: async () => true,
    fetchTopicMetadata: async (options?: { topics: string[] }) => {
      const topics = options?.topics ?? [];
      asked.push(topics);
      const answer = answers.shift() ?? [];
      if (answer instanceof Error) throw answer;
      return {
        topics: topics.map((name) => ({
          name,
          partitions: answer.map((leader, partitionId) => ({
            partitionId,
            leader,
            replicas: [],
            isr: [],
            offlineReplicas: [],
            partitionErrorCode: 0,
          })),
        })),
      };
    },
  };
}

const protocolError = (type: string) => Object.assign(new Error(type), { type });

describe('createTopicsAndWait', () => {
  it('waits through "unknown topic" and leaderless partitions until every partition has a leader', async () => {
    const admin = scriptedAdmin([
      protocolError('UNKNOWN_TOPIC_OR_PARTITION'),
      [1, -1],
      protocolError('LEADER_NOT_AVAILABLE'),
      [1, 1],
    ]);
    await expect(createTopicsAndWait(admin, [{ topic: 't', numPartitions: 2 }], { pollMs: 1 })).resolves.toBe(true);
    expect(admin.asked).toHaveLength(4);
  });

  it('passes any other error on, and gives up with what it was waiting for once its time is up', async () => {
    const refused = scriptedAdmin([protocolError('TOPIC_AUTHORIZATION_FAILED')]);
    await expect(createTopicsAndWait(refused, [{ topic: 't' }], { pollMs: 1 })).rejects.toThrow(
      'TOPIC_AUTHORIZATION_FAILED',
    );
    const leaderless = scriptedAdmin(Array.from({ length: 1000 }, () => [-1]));
    await expect(createTopicsAndWait(leaderless, [{ topic: 't' }], { pollMs: 1, timeoutMs: 20 })).rejects.toThrow(
      'topics t not ready: no leader yet for t',
    );
  });
});

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
