// The one Kafka consumer, both workers' base: JSON messages handed to a handler with at most
// `concurrency` in flight, offsets committed only past work that is done (kafka/offsets.ts),
// heartbeats while a handler runs for an hour, partitions paused on request, consumer lag as a
// metric, and a stop that drains in-flight work within a grace period, commits and disconnects.
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { describeError, InfrastructureError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { abandonable, abortable, retry, sleep, type Backoff } from '../retry.js';
import { consumerLag, isTransientKafkaError } from './client.js';
import { DRAIN_GRACE_MS } from './drain.js';
import { OffsetTracker, type CommitOffset, type TopicPartition } from './offsets.js';

export { DRAIN_GRACE_MS } from './drain.js';
/** A failed commit is tried again after 1 s, 2 s, ... up to 10 s; while stopping, five tries in all. */
const COMMIT_BACKOFF = { baseMs: 1_000, maxMs: 10_000 };
const COMMIT_TRIES_WHEN_STOPPING = 5;
/** A consumer kafkajs gave up on is built again after 1 s, 2 s, ... up to 30 s, jittered (a fleet restarts at once). */
const RESTART_BACKOFF: Backoff = { baseMs: 1_000, maxMs: 30_000, jitter: true };
/** How long a stop waits for a consumer-lag query under way before it disconnects the admin client. */
const LAG_WAIT_AT_STOP_MS = 2_000;

export interface ConsumerTimings {
  /** kafkajs consumer timings (ms); defaults: session 30 s, heartbeat 3 s, rebalance 60 s. */
  sessionTimeout?: number;
  heartbeatInterval?: number;
  rebalanceTimeout?: number;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Messages handed to the handler and not yet done, at most. */
  concurrency: number;
  logger: Logger;
  metrics: Metrics;
  timings?: ConsumerTimings;
  drainGraceMs?: number;
  /** How often the consumer lag of every assigned partition is asked of the broker. */
  lagIntervalMs?: number;
  /** Waits between attempts to rebuild a consumer that kafkajs gave up on (default 1 s doubling to 30 s). */
  restartBackoff?: Backoff;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** The value, parsed. A message that is not JSON never reaches the handler: it is logged, counted and committed past. */
  value: unknown;
}

export interface MessageContext {
  /** Aborted when the drain grace period is over: give up the work, it will be redelivered. */
  abandoned: AbortSignal;
  /** Pauses the message's partition until the returned function is called (while its work fails on our side). */
  holdPartition(): () => void;
}

/** Resolves once the message's work is done, so its offset may be committed; a rejection leaves it uncommitted. */
export type MessageHandler = (message: ConsumedMessage, ctx: MessageContext) => Promise<void>;

export class JsonConsumer {
  readonly #kafka: Kafka;
  readonly #options: ConsumerOptions;
  readonly #log: Logger;
  readonly #timings: Required<ConsumerTimings>;
  readonly #tracker = new OffsetTracker();
  readonly #stop = new AbortController();
  /** Aborts in-flight work when the drain grace period is over. */
  readonly #abandon = new AbortController();
  readonly #tasks = new Set<Promise<void>>();
  readonly #waiters: Array<() => void> = [];
  /** Work holding each partition paused, by `topic|partition`. */
  readonly #held = new Map<string, number>();
  readonly #highWatermarks = new Map<string, string>();
  #free: number;
  #fatal: unknown;
  #consumer: Consumer | undefined;
  #admin: Admin | undefined;
  #commitWanted = false;
  #committing: Promise<void> | null = null;
  /** The lag query under way: one at a time, awaited (LAG_WAIT_AT_STOP_MS at most) before the admin client disconnects. */
  #lagUpdate: Promise<void> = Promise.resolve();
  /** Our member id while we are a member of the group (between a join and a rebalance, crash or stop). */
  #memberId: string | null = null;
  /**
   * Set by each join, cleared by the first fetch after it. kafkajs answers a commit made while its
   * consumer is not running (restarting after a crash, joining, stopping) with success and sends
   * nothing; so once the consumer fetches again, everything done is committed again.
   */
  #recommitOnFetch = false;
  /** Bumped when commits are made again: a commit begun before then does not count as made. */
  #commitEpoch = 0;
  /** Resolves with the error when the running kafkajs consumer gives up for good on a transient error. */
  #crashed: Promise<unknown> = new Promise(() => {});

  constructor(kafka: Kafka, options: ConsumerOptions) {
    this.#kafka = kafka;
    this.#options = options;
    this.#log = options.logger.child({ module: 'kafka-consumer', group: options.groupId });
    this.#timings = { sessionTimeout: 30_000, heartbeatInterval: 3_000, rebalanceTimeout: 60_000, ...options.timings };
    this.#free = options.concurrency;
  }

  /** Aborted as soon as the consumer stops, whatever the reason: work in progress should finish up. */
  get stopping(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * Consumes until `signal` aborts, then drains, commits and disconnects. Rejects with an
   * InfrastructureError when the broker cannot be reached or the consumer gives up for good.
   */
  async run(handler: MessageHandler, signal: AbortSignal): Promise<void> {
    const admin = this.#kafka.admin();
    this.#admin = admin;
    const onAbort = () => this.#halt();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) this.#halt();
    const lagTimer = setInterval(() => this.#refreshLag(), this.#options.lagIntervalMs ?? 15_000);
    try {
      try {
        await this.#startUnlessStopped(handler);
        this.#log.info({ topics: this.#options.topics }, 'consuming');
      } catch (err) {
        if (this.#stop.signal.aborted) this.#log.info('stopped while joining');
        else if (!isTransientKafkaError(err))
          throw new InfrastructureError(`Kafka: ${describeError(err)}`, { cause: err });
        // The command's start-up check (checkBrokers) found a broker a moment ago: an outage that
        // began while the consumer joined, ridden out as a running consumer rides one out.
        else await this.#restart(err, handler);
      }
      await this.#consumeUntilStopped(handler);
      await this.#drain();
    } finally {
      this.#halt();
      clearInterval(lagTimer);
      signal.removeEventListener('abort', onAbort);
      // A lag query against a broker that is down retries for tens of seconds: not waited for that long.
      await abortable(this.#lagUpdate, AbortSignal.timeout(LAG_WAIT_AT_STOP_MS)).catch(() =>
        this.#log.debug('consumer lag query still under way at the stop'),
      );
      await Promise.allSettled([this.#consumer?.disconnect(), admin.disconnect()]);
    }
    if (this.#fatal) throw this.#fatal;
  }

  /**
   * Waits for the stop. kafkajs gives up for good on some errors of a broker outage (no group
   * coordinator while the broker restarts); such a crash rebuilds the consumer with backoff
   * instead of ending the worker. Returns when stopping; a crash that is not an outage stops it too
   * (#halt keeps the error for run() to throw).
   */
  async #consumeUntilStopped(handler: MessageHandler): Promise<void> {
    for (;;) {
      const crash = await Promise.race([this.#crashed, once(this.#stop.signal)]);
      if (this.#stop.signal.aborted) return;
      await this.#restart(crash, handler);
      if (this.#stop.signal.aborted) return;
    }
  }

  /** Builds a new consumer after a transient crash, with backoff until it runs again or the stop. */
  async #restart(crash: unknown, handler: MessageHandler): Promise<void> {
    // The crashed member's partitions are no longer ours: in-flight work on them finishes but never
    // commits (the new member may be given them in another generation, and they are redelivered).
    this.#revokeAll();
    await this.#consumer?.disconnect().catch((err: unknown) => this.#log.debug({ err }, 'crashed consumer disconnect'));
    const restart = (err: unknown, n: number, delayMs: number) => {
      this.#options.metrics.infraRetries.inc({ reason: 'consumer-restart' });
      this.#log.warn(
        { err, restarts: n + 1, delayMs },
        'Kafka consumer gave up on a broker outage; building a new one',
      );
    };
    try {
      await retry(
        async (n) => {
          if (n === 0) throw crash; // the first wait, before any new consumer
          await this.#startUnlessStopped(handler);
        },
        {
          retries: Infinity,
          backoff: this.#options.restartBackoff ?? RESTART_BACKOFF,
          retryable: (err) => isTransientKafkaError(err),
          onRetry: restart,
          signal: this.#stop.signal,
        },
      );
      this.#log.info({ topics: this.#options.topics }, 'consuming again after a restart');
    } catch (err) {
      if (this.#stop.signal.aborted) return;
      this.#halt(new InfrastructureError(`Kafka consumer stopped: ${describeError(err)}`, { cause: err }));
    }
  }

  /**
   * #start, given up the moment the consumer stops. Against a broker that refuses, kafkajs retries
   * a connect for tens of seconds and cannot be interrupted; a stop does not wait for that (a
   * worker must stop within systemd's TimeoutStopSec). The consumer being built is left to finish
   * its attempt and disconnected when it has (#start disconnects it itself when the attempt fails).
   */
  async #startUnlessStopped(handler: MessageHandler): Promise<void> {
    await abandonable(this.#start(handler), this.#stop.signal, (consumer) => consumer.disconnect());
  }

  /** A new kafkajs consumer, connected, subscribed and running; #crashed resolves when it gives up. */
  async #start(handler: MessageHandler): Promise<Consumer> {
    const consumer = this.#kafka.consumer({ groupId: this.#options.groupId, ...this.#timings, maxWaitTimeInMs: 1_000 });
    this.#consumer = consumer;
    let crashed!: (err: unknown) => void;
    this.#crashed = new Promise((resolve) => (crashed = resolve));
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.#memberId = payload.memberId;
      this.#recommitOnFetch = true;
      this.#assign(payload.memberAssignment);
    });
    // kafkajs emits a join before its consumer runs; a fetch only while it runs.
    consumer.on(consumer.events.FETCH_START, () => {
      if (!this.#recommitOnFetch) return;
      this.#recommitOnFetch = false;
      this.#commitEpoch += 1;
      this.#tracker.forgetCommits();
      this.#scheduleCommit();
    });
    for (const left of [consumer.events.REBALANCING, consumer.events.STOP, consumer.events.DISCONNECT])
      consumer.on(left, () => (this.#memberId = null));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.#memberId = null;
      // kafkajs restarts itself after retriable crashes; only a final one is ours to handle.
      if (payload.restart)
        return void this.#log.error({ err: payload.error }, 'Kafka consumer crashed; kafkajs restarts it');
      if (this.#stop.signal.aborted) return;
      if (isTransientKafkaError(payload.error)) return crashed(payload.error);
      this.#log.error({ err: payload.error }, 'Kafka consumer crashed');
      this.#halt(
        new InfrastructureError(`Kafka consumer stopped: ${describeError(payload.error)}`, { cause: payload.error }),
      );
    });
    try {
      await consumer.connect();
      // A new group starts at the earliest offset: messages produced before it existed are not lost.
      await consumer.subscribe({ topics: this.#options.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.#eachBatch(payload, handler),
      });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    return consumer;
  }

  /** Forgets every partition, as a revocation does. */
  #revokeAll(): void {
    for (const { topic, partition } of this.#tracker.assign([]))
      this.#options.metrics.consumerLag.remove({ topic, partition: String(partition) });
  }

  /**
   * A readiness check: resolves when this consumer is a member of its group and the broker, asked
   * now, says the group is stable with us in it; otherwise throws saying which is not so.
   */
  async checkGroup(): Promise<void> {
    const memberId = this.#memberId;
    if (!this.#consumer || memberId === null) throw new Error(`not a member of group ${this.#options.groupId}`);
    const group = await this.#consumer.describeGroup();
    if (group.state !== 'Stable') throw new Error(`group ${group.groupId} is ${group.state}`);
    if (!group.members.some((m) => m.memberId === memberId))
      throw new Error(`group ${group.groupId} does not list member ${memberId}`);
  }

  #halt(err?: unknown): void {
    if (err) this.#fatal ??= err;
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#wake();
  }

  /** Stops fetching, lets in-flight work finish within the grace period, commits. */
  async #drain(): Promise<void> {
    try {
      this.#consumer!.pause(this.#options.topics.map((topic) => ({ topic })));
    } catch (err) {
      // Restarting after a crash: it fetches nothing until it rejoins, and disconnect ends that.
      this.#log.warn({ err }, 'consumer restarting while draining');
    }
    const grace = this.#options.drainGraceMs ?? DRAIN_GRACE_MS;
    this.#log.info({ inFlight: this.#tasks.size, graceMs: grace }, 'draining');
    if (!(await this.#settled(grace))) {
      this.#log.warn(
        { inFlight: this.#tasks.size },
        'drain grace period over: abandoning in-flight work (it will be redelivered)',
      );
      this.#abandon.abort(new Error('abandoned at shutdown'));
      await this.#settled(30_000);
    }
    this.#scheduleCommit();
    await this.#committing;
    this.#log.info('drained');
  }

  /** True once every in-flight handler has settled, false when `ms` ran out first. */
  async #settled(ms: number): Promise<boolean> {
    const timer = new AbortController();
    try {
      const timeUp = sleep(ms, timer.signal).then(
        () => false,
        () => false,
      );
      return await Promise.race([Promise.allSettled([...this.#tasks]).then(() => true), timeUp]);
    } finally {
      timer.abort(); // no timer outlives the drain
    }
  }

  #assign(assignment: Record<string, number[]>): void {
    const assigned = Object.entries(assignment).flatMap(([topic, partitions]) =>
      partitions.map((partition) => ({ topic, partition })),
    );
    for (const { topic, partition } of this.#tracker.assign(assigned)) {
      // Revoked: its in-flight work still finishes, but another member commits it now.
      this.#options.metrics.consumerLag.remove({ topic, partition: String(partition) });
    }
    // A consumer restarted after a crash has forgotten its pauses.
    for (const { topic, partition } of assigned)
      if (this.#isHeld(topic, partition)) this.#applyPause(topic, partition, true);
    this.#log.info({ assignment }, 'partitions assigned');
    this.#refreshLag();
  }

  /**
   * Hands a batch's messages to free slots and returns: the fetch loop goes on while handlers
   * run. Waiting for a slot keeps the session alive with heartbeats, and gives up on a rebalance.
   */
  async #eachBatch(
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
    handler: MessageHandler,
  ): Promise<void> {
    const { topic, partition } = batch;
    this.#highWatermarks.set(key(topic, partition), batch.highWatermark);
    let rebalancing = false;
    const beat = setInterval(() => {
      heartbeat().catch((err: unknown) => {
        this.#log.debug({ err }, 'heartbeat refused: leaving the batch for the rebalance');
        rebalancing = true;
        this.#wake();
      });
    }, this.#timings.heartbeatInterval);
    const blocked = () =>
      rebalancing || this.#stop.signal.aborted || this.#isHeld(topic, partition) || !isRunning() || isStale();
    try {
      for (const message of batch.messages) {
        if (blocked()) break;
        // Redelivered after a rebalance, while it is still in flight here or done but uncommitted.
        if (!this.#tracker.isNew(topic, partition, message.offset)) {
          resolveOffset(message.offset);
          continue;
        }
        const value = this.#parse(topic, partition, message);
        if (value === NOT_JSON) {
          this.#tracker.take(topic, partition, message.offset);
          this.#tracker.done(topic, partition, message.offset);
          resolveOffset(message.offset);
          this.#scheduleCommit();
          continue;
        }
        if (!(await this.#acquireSlot(blocked))) break;
        this.#tracker.take(topic, partition, message.offset);
        const lease = this.#tracker.lease(topic, partition);
        resolveOffset(message.offset);
        const consumed = {
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          value,
        };
        const task = this.#work(consumed, lease, handler).finally(() => this.#tasks.delete(task));
        this.#tasks.add(task);
      }
    } finally {
      clearInterval(beat);
    }
  }

  async #work(message: ConsumedMessage, lease: number | undefined, handler: MessageHandler): Promise<void> {
    const { topic, partition, offset } = message;
    try {
      await handler(message, { abandoned: this.#abandon.signal, holdPartition: () => this.#hold(topic, partition) });
      this.#tracker.done(topic, partition, offset, lease);
      this.#scheduleCommit();
    } catch (err) {
      if (this.#abandon.signal.aborted) this.#log.debug({ topic, partition, offset }, 'abandoned: left uncommitted');
      else this.#log.error({ err, topic, partition, offset }, 'message failed in the worker; left uncommitted');
    } finally {
      this.#free += 1;
      this.#wake();
    }
  }

  #parse(topic: string, partition: number, message: KafkaMessage): unknown {
    const text = message.value?.toString('utf8') ?? '';
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      this.#options.metrics.skipped.inc({ reason: 'not-json' });
      this.#log.warn(
        { topic, partition, offset: message.offset, err, bytes: text.length, start: text.slice(0, 200) },
        'skipping a message that is not JSON',
      );
      return NOT_JSON;
    }
  }

  async #acquireSlot(blocked: () => boolean): Promise<boolean> {
    while (this.#free === 0 && !blocked()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (blocked()) return false;
    this.#free -= 1;
    return true;
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #isHeld(topic: string, partition: number): boolean {
    return (this.#held.get(key(topic, partition)) ?? 0) > 0;
  }

  #hold(topic: string, partition: number): () => void {
    const k = key(topic, partition);
    const count = (this.#held.get(k) ?? 0) + 1;
    this.#held.set(k, count);
    if (count === 1) this.#applyPause(topic, partition, true);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#held.get(k) ?? 1) - 1;
      if (left > 0) return void this.#held.set(k, left);
      this.#held.delete(k);
      if (!this.#stop.signal.aborted) this.#applyPause(topic, partition, false);
      this.#wake();
    };
  }

  /**
   * While kafkajs restarts a crashed consumer (a broker outage), pause and resume throw; the join
   * that ends the restart applies the pauses again (see #assign), so the throw is only logged.
   */
  #applyPause(topic: string, partition: number, paused: boolean): void {
    const tp = [{ topic, partitions: [partition] }];
    try {
      if (paused) this.#consumer!.pause(tp);
      else this.#consumer!.resume(tp);
    } catch (err) {
      this.#log.warn({ err, topic, partition }, 'consumer restarting: partition pause state applied after the rejoin');
    }
  }

  #scheduleCommit(): void {
    this.#commitWanted = true;
    this.#committing ??= this.#commitLoop().finally(() => {
      this.#committing = null;
      // A completion that arrived after the loop's last look.
      if (this.#commitWanted && !this.#stop.signal.aborted) this.#scheduleCommit();
    });
  }

  /** Commits what is due, one commit at a time, coalescing completions that arrive meanwhile. */
  async #commitLoop(): Promise<void> {
    while (this.#commitWanted) {
      this.#commitWanted = false;
      try {
        await retry(() => this.#commitDue(), {
          retries: Infinity,
          backoff: COMMIT_BACKOFF,
          // While stopping, give up after a few tries: what is uncommitted is redelivered.
          retryable: (_err, n) => !(this.#stop.signal.aborted && n + 1 >= COMMIT_TRIES_WHEN_STOPPING),
          onRetry: (err, n) => this.#log.warn({ err, failures: n + 1 }, 'committing offsets failed; will retry'),
        });
      } catch {
        return;
      }
    }
  }

  async #commitDue(): Promise<void> {
    const due = this.#tracker.due();
    if (!due.length) return;
    const epoch = this.#commitEpoch;
    await this.#consumer!.commitOffsets(due);
    // Commits were forgotten meanwhile (a rejoin): this one may have been dropped; the loop goes on.
    if (epoch !== this.#commitEpoch) return;
    this.#tracker.committed(due);
    this.#lagAfterCommit(due);
  }

  /** The lag a commit leaves, from the high watermark of the partition's last batch. */
  #lagAfterCommit(committed: CommitOffset[]): void {
    for (const { topic, partition, offset } of committed) {
      const highWatermark = this.#highWatermarks.get(key(topic, partition));
      if (highWatermark === undefined) continue;
      const lag = BigInt(highWatermark) - BigInt(offset);
      this.#options.metrics.consumerLag.set({ topic, partition: String(partition) }, Number(lag > 0n ? lag : 0n));
    }
  }

  #refreshLag(): void {
    if (!this.#stop.signal.aborted) this.#lagUpdate = this.#lagUpdate.then(() => this.#updateLag());
  }

  /** Consumer lag of every assigned partition, as the broker sees the group's commits. */
  async #updateLag(): Promise<void> {
    const partitions: TopicPartition[] = this.#tracker.partitions();
    if (!partitions.length || !this.#admin) return;
    try {
      const lags = await consumerLag(this.#admin, this.#options.groupId, partitions);
      for (const { topic, partition, lag } of lags)
        this.#options.metrics.consumerLag.set({ topic, partition: String(partition) }, lag);
    } catch (err) {
      this.#log.debug({ err }, 'consumer lag not updated');
    }
  }
}

const NOT_JSON = Symbol('not-json');

/** Resolves when `signal` aborts. */
function once(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function key(topic: string, partition: number): string {
  return `${topic}|${partition}`;
}
