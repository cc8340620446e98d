// Proves the test Kafka broker from test/support/global-setup.ts works end to end:
// topic creation, keyed produce, consumer-group consume.
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTopicsAndWait } from '../../src/kafka/client.js';
import { testProducer } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');

describe.skipIf(!brokers)('test Kafka broker', () => {
  const kafka = new Kafka({
    clientId: 'fileset-ingest-harness-test',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const clients: Array<Admin | Producer | Consumer> = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.disconnect()));
  });

  it('creates a topic, produces keyed messages and consumes them with a group', async () => {
    const topic = `harness-${randomUUID()}`;
    const admin = kafka.admin();
    clients.push(admin);
    await admin.connect();
    expect(await createTopicsAndWait(admin, [{ topic, numPartitions: 3 }])).toBe(true);
    const [meta] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(meta?.partitions).toHaveLength(3);

    const sent = [
      { key: 'a', value: 'a-1' },
      { key: 'b', value: 'b-1' },
      { key: 'c', value: 'c-1' },
      { key: 'a', value: 'a-2' },
      { key: 'b', value: 'b-2' },
      { key: 'a', value: 'a-3' },
    ];
    const producer = testProducer(kafka);
    clients.push(producer);
    await producer.connect();
    const acks = await producer.send({ topic, messages: sent, acks: -1 });
    expect(acks.every((a) => a.errorCode === 0)).toBe(true);

    type Got = { key: string; value: string; partition: number; offset: string };
    const got: Got[] = [];
    const groupId = `harness-group-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId });
    clients.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const all = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.push({
            key: message.key?.toString() ?? '',
            value: message.value?.toString() ?? '',
            partition,
            offset: message.offset,
          });
          if (got.length >= sent.length) resolve();
        },
      });
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      all,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`consumed ${got.length}/${sent.length} messages`)), 30_000);
      }),
    ]);
    clearTimeout(timer);
    await consumer.disconnect();

    // Everything arrives exactly once.
    expect(got.map((m) => `${m.key}=${m.value}`).sort()).toEqual(sent.map((m) => `${m.key}=${m.value}`).sort());
    // Same key -> same partition, and per-key order is preserved.
    for (const key of ['a', 'b', 'c']) {
      const forKey = got.filter((m) => m.key === key);
      expect(new Set(forKey.map((m) => m.partition)).size).toBe(1);
      expect(forKey.map((m) => m.value)).toEqual(sent.filter((m) => m.key === key).map((m) => m.value));
    }
    // Partitions are the ones the (Java-compatible murmur2) default partitioner picks.
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = meta?.partitions ?? [];
    for (const m of got) {
      expect(m.partition).toBe(partitioner({ topic, partitionMetadata, message: { key: m.key, value: m.value } }));
    }
    expect(new Set(got.map((m) => m.partition)).size).toBeGreaterThan(1);

    // The group committed its offsets on the broker (kafkajs commits when the batch ends).
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const total = committed[0]?.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    expect(total).toBe(sent.length);

    await producer.disconnect();
    await admin.disconnect();
  });
});
