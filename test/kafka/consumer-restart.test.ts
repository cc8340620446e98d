// JsonConsumer's answer to kafkajs giving up (a CRASH it does not restart itself), against a
// scripted stand-in for kafkajs's consumer: no broker. A broker outage rebuilds the consumer with
// backoff; work in flight across the rebuild never commits; anything else ends the run.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import {
  KafkaJSConnectionError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSSASLAuthenticationError,
  type EachBatchPayload,
  type Kafka,
} from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InfrastructureError } from '../../src/errors.js';
import { isTransientKafkaError } from '../../src/kafka/client.js';
import { JsonConsumer, type MessageHandler } from '../../src/kafka/consumer.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';

const TOPIC = 'requests';
/** kafkajs's error classes as they are at run time (message, options); the typings leave the arguments out. */
const make = <T>(Class: new (...args: never[]) => T, ...args: unknown[]): T =>
  new (Class as unknown as new (...a: unknown[]) => T)(...args);
const EVENTS = {
  GROUP_JOIN: 'join',
  REBALANCING: 'rebalancing',
  STOP: 'stop',
  DISCONNECT: 'disconnect',
  CRASH: 'crash',
  FETCH_START: 'fetch_start',
};

type Offsets = Array<{ topic: string; partition: number; offset: string }>;

/**
 * One kafkajs consumer as JsonConsumer uses it, driven by the test. As kafkajs's does, it answers
 * a commit made while it is not running (restarting after a crash, before its rejoin) with success
 * and sends nothing; so does a commit under way when it stopped running.
 */
class FakeConsumer extends EventEmitter {
  readonly events = EVENTS;
  readonly commits: Offsets[] = [];
  /** Commits answered with success and never sent. */
  readonly dropped: Offsets[] = [];
  eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  disconnected = false;
  disconnects = 0;
  running = false;
  /** While set, connect() waits for it (kafkajs retrying against a broker that refuses). */
  connectGate: Promise<void> | undefined;
  /** While set, commits wait for release() (a slow broker). */
  holdCommits = false;
  readonly #held: Array<() => void> = [];
  constructor(readonly connectError?: Error) {
    super();
  }
  async connect() {
    await this.connectGate;
    if (this.connectError) throw this.connectError;
  }
  async subscribe() {}
  async run({ eachBatch }: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) {
    this.eachBatch = eachBatch;
  }
  async disconnect() {
    this.disconnected = true;
    this.disconnects += 1;
  }
  pause() {}
  resume() {}
  async commitOffsets(offsets: Offsets) {
    if (this.disconnected) throw new Error('Consumer group was not initialized');
    let sent = this.running;
    if (this.holdCommits) {
      const stopped = () => (sent = false);
      this.once('not-running', stopped);
      await new Promise<void>((resolve) => this.#held.push(resolve));
      this.off('not-running', stopped);
    }
    (sent ? this.commits : this.dropped).push(offsets);
  }
  /** Lets the held commits finish. */
  release() {
    this.holdCommits = false;
    for (const resolve of this.#held.splice(0)) resolve();
  }
  /** A join (or a rejoin after kafkajs restarted it), then its first fetch, in kafkajs's order. */
  join(partitions: number[]) {
    this.emit(EVENTS.GROUP_JOIN, { payload: { memberId: 'm', memberAssignment: { [TOPIC]: partitions } } });
    this.running = true;
    this.emit(EVENTS.FETCH_START, { payload: { nodeId: 0 } });
  }
  /** kafkajs gave up (restart false: for good, and disconnected) or restarts the consumer itself. */
  crash(error: Error, restart = false) {
    this.running = false;
    this.emit('not-running');
    if (!restart) this.disconnected = true; // kafkajs disconnects a crashed consumer itself
    this.emit(EVENTS.CRASH, { payload: { error, restart, groupId: 'g' } });
  }
  /** Hands one message to the consumer, as a fetch would. */
  async deliver(partition: number, offset: string) {
    await this.eachBatch!({
      batch: {
        topic: TOPIC,
        partition,
        highWatermark: String(Number(offset) + 1),
        messages: [{ offset, key: null, value: Buffer.from(JSON.stringify({ offset })) }],
      },
      resolveOffset: () => {},
      heartbeat: async () => {},
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload);
  }
}

/** A Kafka whose consumer() hands out the scripted consumers in order. */
function fakeKafka(...scripted: FakeConsumer[]) {
  const built: FakeConsumer[] = [];
  const kafka = {
    consumer: () => {
      const next = scripted.shift() ?? new FakeConsumer();
      built.push(next);
      return next;
    },
    admin: () => ({ connect: async () => {}, disconnect: async () => {} }),
  } as unknown as Kafka;
  return { kafka, built };
}

function setup(kafka: Kafka): { consumer: JsonConsumer; metrics: Metrics; logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const metrics = createMetrics({ kind: 'ingest', defaultMetrics: false });
  const consumer = new JsonConsumer(kafka, {
    groupId: 'g',
    topics: [TOPIC],
    concurrency: 4,
    logger: pino({ level: 'warn' }, stream),
    metrics,
    drainGraceMs: 5_000,
    lagIntervalMs: 3_600_000,
    restartBackoff: { baseMs: 1, maxMs: 5 },
  });
  return { consumer, metrics, logs };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!condition()) throw new Error(`never happened: ${what}`);
}

const restarts = async (metrics: Metrics) =>
  (await metrics.infraRetries.get()).values.find((v) => v.labels.reason === 'consumer-restart')?.value ?? 0;

/** A handler whose work for each offset ends when the test says so, oldest first. */
function gatedHandler() {
  const pending: Array<{ key: string; resolve: () => void }> = [];
  const handler: MessageHandler = (message) =>
    new Promise<void>((resolve) => pending.push({ key: `${message.partition}:${message.offset}`, resolve }));
  const finish = (partition: number, offset: string) => {
    const at = pending.findIndex((p) => p.key === `${partition}:${offset}`);
    if (at < 0) throw new Error(`no work in flight for ${partition}:${offset}`);
    pending.splice(at, 1)[0]!.resolve();
  };
  return { handler, finish, pending };
}

describe('isTransientKafkaError', () => {
  it('takes a broker outage for transient, in the error or its causes', () => {
    expect(isTransientKafkaError(make(KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator'))).toBe(true);
    expect(isTransientKafkaError(new KafkaJSConnectionError('Connection error: ECONNREFUSED'))).toBe(true);
    const notCoordinator = make(KafkaJSProtocolError, {
      type: 'NOT_COORDINATOR_FOR_GROUP',
      code: 16,
      retriable: true,
      message: 'This is not the correct coordinator for this group',
    });
    expect(isTransientKafkaError(notCoordinator)).toBe(true);
    expect(
      isTransientKafkaError(make(KafkaJSNumberOfRetriesExceeded, notCoordinator, { retryCount: 8, retryTime: 1 })),
    ).toBe(true);
    expect(
      isTransientKafkaError(make(KafkaJSNonRetriableError, 'wrapped', { cause: new KafkaJSConnectionError('closed') })),
    ).toBe(true);
  });

  it('takes anything else for final', () => {
    expect(isTransientKafkaError(make(KafkaJSSASLAuthenticationError, 'SASL failed'))).toBe(false);
    expect(isTransientKafkaError(make(KafkaJSNonRetriableError, 'Invariant violated'))).toBe(false);
    const unknownTopic = make(KafkaJSProtocolError, {
      type: 'TOPIC_AUTHORIZATION_FAILED',
      code: 29,
      retriable: false,
      message: 'no',
    });
    expect(
      isTransientKafkaError(make(KafkaJSNumberOfRetriesExceeded, unknownTopic, { retryCount: 8, retryTime: 1 })),
    ).toBe(false);
    expect(isTransientKafkaError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientKafkaError('Failed to find group coordinator')).toBe(false);
  });
});

describe('JsonConsumer after kafkajs gives up', () => {
  it('builds a new consumer on a broker outage; work in flight across it never commits, new work does', async () => {
    const first = new FakeConsumer();
    // The broker is still down at the first rebuild: connecting fails, and is tried again.
    const refused = new FakeConsumer(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'));
    const { kafka, built } = fakeKafka(first, refused);
    const { consumer, metrics, logs } = setup(kafka);
    const { handler, finish, pending } = gatedHandler();
    const stop = new AbortController();
    const running = consumer.run(handler, stop.signal);

    await until(() => first.eachBatch !== undefined, 'first consumer running');
    first.join([0]);
    await first.deliver(0, '0');
    await first.deliver(0, '1');
    finish(0, '0');
    await until(() => first.commits.length === 1, 'first commit');
    expect(first.commits).toEqual([[{ topic: TOPIC, partition: 0, offset: '1' }]]);

    // Offset 1 is in flight when the group coordinator goes away.
    first.crash(make(KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator'));
    await until(() => built.length === 3 && built[2]!.eachBatch !== undefined, 'a third consumer running');
    const third = built[2]!;
    expect(await restarts(metrics)).toBe(2);
    expect(logs.filter((l) => l.msg === 'Kafka consumer gave up on a broker outage; building a new one')).toHaveLength(
      2,
    );
    expect(logs.every((l) => l.level === 40)).toBe(true); // warnings, no error

    // The partition comes back; offset 1 is redelivered and taken again while the old work still runs.
    third.join([0]);
    await third.deliver(0, '1');
    expect(pending.map((p) => p.key)).toEqual(['0:1', '0:1']);
    const committedOffsets = () => third.commits.flat().map((c) => c.offset);
    finish(0, '1'); // the work taken by the crashed member: it must not move the commit point
    await new Promise((resolve) => setTimeout(resolve, 50));
    // At most the offset the group had already (1, the redelivered message, is still in flight).
    expect(committedOffsets().filter((o) => o !== '1')).toEqual([]);
    // The redelivered one finishing commits it, in the new consumer only.
    await third.deliver(0, '2');
    expect(pending.map((p) => p.key)).toEqual(['0:1', '0:2']);
    finish(0, '2');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(committedOffsets().filter((o) => o !== '1')).toEqual([]); // 1 is still in flight
    finish(0, '1');
    await until(() => committedOffsets().includes('3'), 'commit past the redelivered work');
    expect(committedOffsets().filter((o) => o !== '1')).toEqual(['3']);
    expect(first.commits).toHaveLength(1);

    stop.abort();
    await expect(running).resolves.toBeUndefined();
    expect(third.disconnected).toBe(true);
  });

  it('ends the run on a crash that is not an outage, and leaves restarts to kafkajs when it restarts', async () => {
    const first = new FakeConsumer();
    const { kafka, built } = fakeKafka(first);
    const { consumer, metrics } = setup(kafka);
    const running = consumer.run(async () => {}, new AbortController().signal);
    await until(() => first.eachBatch !== undefined, 'consumer running');
    first.join([0]);
    first.crash(
      make(KafkaJSNumberOfRetriesExceeded, new KafkaJSConnectionError('closed'), {
        retryCount: 8,
        retryTime: 1,
      }),
      true,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(built).toHaveLength(1); // kafkajs restarts that one itself
    first.crash(make(KafkaJSSASLAuthenticationError, 'SASL authentication failed'));
    await expect(running).rejects.toThrow(InfrastructureError);
    await expect(running).rejects.toThrow(/Kafka consumer stopped: .*SASL/);
    expect(built).toHaveLength(1);
    expect(await restarts(metrics)).toBe(0);
  });

  it('rides out an outage that begins while it first joins (the start-up check found a broker just before)', async () => {
    const refused = new FakeConsumer(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'));
    const { kafka, built } = fakeKafka(refused);
    const { consumer, metrics } = setup(kafka);
    const seen: string[] = [];
    const stop = new AbortController();
    const running = consumer.run(async (message) => void seen.push(message.offset), stop.signal);
    await until(() => built.length === 2 && built[1]!.eachBatch !== undefined, 'a second consumer running');
    expect(await restarts(metrics)).toBe(1);
    built[1]!.join([0]);
    await built[1]!.deliver(0, '0');
    await until(() => built[1]!.commits.length === 1, 'a commit');
    expect(seen).toEqual(['0']);
    stop.abort();
    await expect(running).resolves.toBeUndefined();
  });

  it('stops at once while its first consumer still connects, and disconnects it when the connect ends', async () => {
    const slow = new FakeConsumer();
    let connected!: () => void;
    slow.connectGate = new Promise((resolve) => (connected = resolve));
    const { kafka, built } = fakeKafka(slow);
    const { consumer, metrics } = setup(kafka);
    const stop = new AbortController();
    const running = consumer.run(async () => {}, stop.signal);
    await until(() => built.length === 1, 'a consumer being built');
    stop.abort();
    // Resolves with the connect still under way (kafkajs's retries take tens of seconds).
    await expect(running).resolves.toBeUndefined();
    expect(slow.eachBatch).toBeUndefined();
    const before = slow.disconnects;
    connected();
    // The consumer given up went on to join and run: it is disconnected again.
    await until(() => slow.eachBatch !== undefined && slow.disconnects > before, 'the late consumer disconnected');
    expect(built).toHaveLength(1);
    expect(await restarts(metrics)).toBe(0);
  });

  it('stops at once while a consumer built after a crash still connects', async () => {
    const first = new FakeConsumer();
    const second = new FakeConsumer();
    let connected!: () => void;
    second.connectGate = new Promise((resolve) => (connected = resolve));
    const { kafka, built } = fakeKafka(first, second);
    const { consumer } = setup(kafka);
    const stop = new AbortController();
    const running = consumer.run(async () => {}, stop.signal);
    await until(() => first.eachBatch !== undefined, 'consumer running');
    first.join([0]);
    first.crash(make(KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator'));
    await until(() => built.length === 2, 'a second consumer being built');
    stop.abort();
    await expect(running).resolves.toBeUndefined();
    const before = second.disconnects;
    connected();
    await until(() => second.disconnects > before, 'the late consumer disconnected');
    expect(built).toHaveLength(2);
  });

  it('ends the run at once when the first consumer fails for a reason that is not an outage', async () => {
    const { kafka, built } = fakeKafka(new FakeConsumer(make(KafkaJSSASLAuthenticationError, 'SASL failed')));
    const { consumer, metrics } = setup(kafka);
    const running = consumer.run(async () => {}, new AbortController().signal);
    await expect(running).rejects.toThrow(InfrastructureError);
    await expect(running).rejects.toThrow(/^Kafka: .*SASL failed/);
    expect(built).toHaveLength(1);
    expect(await restarts(metrics)).toBe(0);
  });

  it('stops during the backoff without building another consumer', async () => {
    const first = new FakeConsumer();
    const { kafka, built } = fakeKafka(first);
    const logs: unknown[] = [];
    const consumer = new JsonConsumer(kafka, {
      groupId: 'g',
      topics: [TOPIC],
      concurrency: 1,
      logger: pino({ level: 'silent' }),
      metrics: createMetrics({ kind: 'persist', defaultMetrics: false }),
      lagIntervalMs: 3_600_000,
      restartBackoff: { baseMs: 3_600_000, maxMs: 3_600_000 },
    });
    const stop = new AbortController();
    const running = consumer.run(async () => void logs.push(1), stop.signal);
    await until(() => first.eachBatch !== undefined, 'consumer running');
    first.crash(make(KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort();
    await expect(running).resolves.toBeUndefined();
    expect(built).toHaveLength(1);
  });
});

describe('JsonConsumer while kafkajs restarts its consumer itself', () => {
  const restartable = () =>
    make(KafkaJSNumberOfRetriesExceeded, new KafkaJSConnectionError('Connection error: read ECONNRESET'), {
      retryCount: 8,
      retryTime: 1,
    });
  const offsetsOf = (commits: Offsets[]) => commits.flat().map((c) => c.offset);

  it('makes again, once the consumer fetches after its rejoin, a commit kafkajs dropped while restarting', async () => {
    const first = new FakeConsumer();
    const { kafka } = fakeKafka(first);
    const { consumer } = setup(kafka);
    const { handler, finish, pending } = gatedHandler();
    const stop = new AbortController();
    const running = consumer.run(handler, stop.signal);
    await until(() => first.eachBatch !== undefined, 'consumer running');
    first.join([0]);
    await first.deliver(0, '0');
    await first.deliver(0, '1');
    finish(0, '0');
    await until(() => first.commits.length === 1, 'first commit');

    // kafkajs's fetch gives up (a loaded broker); it restarts the consumer itself. Meanwhile the
    // work of offset 1 ends: its commit is answered with success and never sent.
    first.crash(restartable(), true);
    finish(0, '1');
    await until(() => first.dropped.length === 1, 'the commit dropped');
    expect(offsetsOf(first.dropped)).toEqual(['2']);

    // Rejoined with the same partition; the group's commit point is still 1, so 1 is fetched again:
    // done here already, it is not worked again, and the commit point moves past it.
    first.join([0]);
    await first.deliver(0, '1');
    expect(pending).toEqual([]);
    await until(() => offsetsOf(first.commits).includes('2'), 'offset 2 committed after the rejoin');
    expect(offsetsOf(first.commits)).toEqual(['1', '2']);

    stop.abort();
    await expect(running).resolves.toBeUndefined();
  });

  it('does not take a commit under way across the rejoin for made; it commits again', async () => {
    const first = new FakeConsumer();
    const { kafka } = fakeKafka(first);
    const { consumer } = setup(kafka);
    const { handler, finish } = gatedHandler();
    const stop = new AbortController();
    const running = consumer.run(handler, stop.signal);
    await until(() => first.eachBatch !== undefined, 'consumer running');
    first.join([0]);
    await first.deliver(0, '0');
    first.holdCommits = true; // the commit of offset 0's work is on its way when the consumer crashes
    finish(0, '0');
    await new Promise((resolve) => setTimeout(resolve, 20));
    first.crash(restartable(), true);
    first.join([0]); // rejoined before the old commit answers
    first.release(); // the old commit answers success, having sent nothing
    await until(() => first.commits.length === 1, 'a commit after the rejoin');
    expect(offsetsOf(first.dropped)).toEqual(['1']);
    expect(offsetsOf(first.commits)).toEqual(['1']);

    stop.abort();
    await expect(running).resolves.toBeUndefined();
  });
});
