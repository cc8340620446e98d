// Kafka helpers for integration tests on the shared test broker: unique names, topics, producing,
// reading a topic back, committed offsets, bounded polling, and workers run as processes of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol, Kafka, logLevel, Partitioners, type Admin, type IHeaders, type Producer } from 'kafkajs';
import { createTopicsAndWait, KAFKA_RETRY } from '../../src/kafka/client.js';

/**
 * The workers' own retry policy: on a loaded machine a topic created a moment ago can answer
 * UNKNOWN_TOPIC_OR_PARTITION for longer than kafkajs's default five quick retries.
 */
export function testKafka(brokers: string): Kafka {
  return new Kafka({
    clientId: 'fileset-ingest-test',
    brokers: brokers.split(','),
    retry: KAFKA_RETRY,
    logLevel: logLevel.NOTHING,
  });
}

/** A FILESET_KAFKA_ENV nobody else uses: topics and groups named after it are this test's own. */
export function uniqueEnv(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

export async function createTopics(
  admin: Admin,
  topics: string[],
  options: { partitions?: number; config?: Record<string, string> } = {},
): Promise<void> {
  const configEntries = Object.entries(options.config ?? {}).map(([name, value]) => ({ name, value }));
  await createTopicsAndWait(
    admin,
    topics.map((topic) => ({ topic, numPartitions: options.partitions ?? 1, configEntries })),
  );
  // Leaders elected is not yet every partition in the metadata every client is served.
  await admin.fetchTopicMetadata({ topics });
}

export interface TestMessage {
  key?: string | null;
  value: string | Buffer;
}

/**
 * A producer for a test's own messages, idempotent as the workers' is: on a loaded broker a send
 * can time out after it was written, and the retry of a plain producer writes it again (a test
 * then waits for a count of messages that is never the count in the topic).
 */
export function testProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/** Sends each message on its own (a 10 MB message must not share a record batch), acks from all replicas. */
export async function produce(kafka: Kafka, topic: string, messages: TestMessage[]): Promise<void> {
  const producer = testProducer(kafka);
  await producer.connect();
  try {
    for (const message of messages) await producer.send({ topic, acks: -1, messages: [message] });
  } finally {
    await producer.disconnect();
  }
}

export interface ReadMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  headers?: IHeaders;
}

/**
 * Every message on `topic` (read from the beginning by a throw-away group) once at least `count`
 * are there; fails after `timeoutMs` saying how many came.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = EVENT_BOUND_MS,
): Promise<ReadMessage[]> {
  const got: ReadMessage[] = [];
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(6).toString('hex')}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? '',
        });
      },
    });
    await waitFor(() => got.length >= count, {
      timeoutMs,
      what: () => `${count} messages on ${topic} (got ${got.length})`,
    });
    return got;
  } finally {
    await consumer.disconnect();
  }
}

/** Messages on a topic now: the sum over partitions of high watermark − low watermark. */
export async function messageCount(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

/** The group's committed offset per partition of `topic` (-1: none). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Record<number, number>> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return Object.fromEntries((entry?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

/** The high watermark per partition of `topic`. */
export async function endOffsets(admin: Admin, topic: string): Promise<Record<number, number>> {
  return Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
}

/**
 * How long a test waits for an event (a message, a rebalance, an exit) before it fails: generous,
 * because a loaded machine (a shared broker, two cores) is slow, and a wait ends at the event anyway.
 */
export const EVENT_BOUND_MS = 120_000;

/** Polls `condition` every `intervalMs` until it holds; throws after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; what?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? EVENT_BOUND_MS);
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what?.() ?? 'a condition'}`);
    await sleep(options.intervalMs ?? 50);
  }
}

/**
 * Waits until the broker coordinates consumer groups. A fresh broker creates and loads its offsets
 * topic on the first group request and answers "coordinator not available" or "coordinator is
 * loading" meanwhile; on a loaded machine that outlasted a test's first group (CI saw a persist
 * worker's first commits not land in 120 s). The test setup asks once, before any test runs.
 */
export async function waitForGroupCoordinator(brokers: string): Promise<void> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  let last: unknown;
  try {
    await waitFor(
      async () => {
        try {
          await admin.fetchOffsets({ groupId: 'fileset-test-setup', topics: [] });
          return true;
        } catch (err) {
          last = err;
          return false;
        }
      },
      { intervalMs: 200, what: () => `the broker to coordinate groups (${String(last)})` },
    );
  } finally {
    await admin.disconnect();
  }
}

/** The group's members and their assigned partitions, once it is Stable with `members` members. */
export async function stableGroup(
  admin: Admin,
  groupId: string,
  members: number,
  timeoutMs = EVENT_BOUND_MS,
): Promise<Array<{ memberId: string; partitions: number }>> {
  let result: Array<{ memberId: string; partitions: number }> = [];
  await waitFor(
    async () => {
      const [group] = (await admin.describeGroups([groupId])).groups;
      if (group?.state !== 'Stable' || group.members.length !== members) return false;
      result = group.members.map((m) => ({ memberId: m.memberId, partitions: assignedCount(m.memberAssignment) }));
      return result.every((m) => m.partitions > 0);
    },
    { timeoutMs, intervalMs: 200, what: () => `group ${groupId} stable with ${members} members` },
  );
  return result;
}

/** Partitions in a member's assignment (the consumer protocol's encoding). */
function assignedCount(buffer: Buffer): number {
  const decoded = AssignerProtocol.MemberAssignment.decode(buffer);
  return Object.values(decoded?.assignment ?? {}).reduce((n, partitions) => n + partitions.length, 0);
}

export interface WorkerProcess {
  child: ChildProcess;
  stderr(): string;
  /** The exit code once exited (null: killed by a signal), undefined while running. */
  exitCode(): number | null | undefined;
  /** Waits (bounded) for the process to exit; returns its exit code. */
  exited(timeoutMs?: number): Promise<number | null>;
}

/**
 * Runs `script` (an ES module body; top-level await allowed) in a new Node process from the
 * repository root with tsx, so it can import `./src/....ts`. `env` is its whole environment (plus PATH).
 */
export function spawnTsx(script: string, env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return watchProcess(child);
}

/** A child process whose stderr is kept and whose exit can be awaited. */
export function watchProcess(child: ChildProcess): WorkerProcess {
  let stderr = '';
  let code: number | null | undefined;
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (c) => (code = c));
  return {
    child,
    stderr: () => stderr,
    exitCode: () => code,
    async exited(timeoutMs = EVENT_BOUND_MS) {
      await waitFor(() => code !== undefined, {
        timeoutMs,
        what: () => `pid ${child.pid} to exit; stderr: ${stderr.slice(-4000)}`,
      });
      return code ?? null;
    },
  };
}
