// The Kafka ingest worker (DESIGN §8): dataset requests in, fileset (and dataset-file) results out,
// at least once. A request's offset is committed only after its results were acknowledged.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Config } from '../config.js';
import { describeError, InfrastructureError } from '../errors.js';
import { consumerLag, createKafka, createProducer } from '../kafka/client.js';
import { keyOf, outcomeMessages, sendAcked } from '../kafka/produce.js';
import { kafkaNames, type KafkaNames } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ingestFileset, type IngestOutcome } from '../pipeline/ingest.js';
import { newResult } from '../pipeline/result.js';
import { openRuntime, type Runtime } from '../pipeline/runtime.js';

/** In-flight requests get this long to finish after SIGTERM; then they are abandoned (redelivered). */
export const DRAIN_GRACE_MS = 60_000;
/** Unexpected (non-infrastructure) exceptions of one request are retried this often, then `internal-error`. */
const UNEXPECTED_RETRIES = 2;

export interface IngestWorkerOptions {
  signal: AbortSignal;
  metrics: Metrics;
  /** An open runtime to use (tests); the worker then leaves it open. Default: openRuntime(config). */
  runtime?: Runtime;
  drainGraceMs?: number;
  /** kafkajs consumer timings (ms); defaults: session 30 s, heartbeat 3 s, rebalance 60 s. */
  consumer?: { sessionTimeout?: number; heartbeatInterval?: number; rebalanceTimeout?: number };
  /** Backoff after an infrastructure failure: doubles from initialMs up to maxMs. */
  infraBackoff?: { initialMs: number; maxMs: number };
  /** How often consumerLag is refreshed. */
  lagIntervalMs?: number;
}

/** Runs until `signal` aborts, then drains, commits and disconnects; rejects if Kafka fails for good. */
export async function runIngestWorker(config: Config, logger: Logger, options: IngestWorkerOptions): Promise<void> {
  const { metrics } = options;
  const runtime =
    options.runtime ??
    (await openRuntime(config, logger, {
      onHttpRetry: (reason, host) => {
        metrics.httpRetries.inc({ reason });
        if (reason === '429') metrics.rateLimited.inc({ host });
      },
    }));
  const kafka = createKafka(config, logger, { clientId: 'fileset-ingest-worker' });
  const names = kafkaNames(config);
  const timings = { sessionTimeout: 30_000, heartbeatInterval: 3_000, rebalanceTimeout: 60_000, ...options.consumer };
  const consumer = kafka.consumer({ groupId: names.ingestGroup, ...timings, maxWaitTimeInMs: 1_000 });
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  try {
    await Promise.all([producer.connect(), consumer.connect(), admin.connect()]);
    // A new group starts at the earliest offset: requests produced before it existed are not lost.
    await consumer.subscribe({ topics: names.requestTopics, fromBeginning: true });
    const worker = new IngestWorker({ config, logger, names, runtime, consumer, producer, admin, options, timings });
    await worker.run();
  } finally {
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
    if (!options.runtime) await runtime.close();
  }
}

/** What this process knows of one assigned partition; offsets below `inFlight`'s least are done. */
interface PartitionState {
  topic: string;
  partition: number;
  /** The highest offset taken (dispatched or skipped); -1 before the first. */
  seen: number;
  inFlight: Set<number>;
  /** The offset we last committed (the next one to consume), -1 before the first commit. */
  committed: number;
  /** Requests of this partition waiting out an infrastructure failure: the partition is paused. */
  failing: number;
}

interface WorkerParts {
  config: Config;
  logger: Logger;
  names: KafkaNames;
  runtime: Runtime;
  consumer: Consumer;
  producer: Producer;
  admin: Admin;
  options: IngestWorkerOptions;
  timings: { heartbeatInterval: number };
}

class IngestWorker {
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly partitions = new Map<string, PartitionState>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly waiters: Array<() => void> = [];
  /** Aborts in-flight ingests when the drain grace period is over. */
  private readonly abandon = new AbortController();
  private free: number;
  private stopping = false;
  private fatal: unknown;
  private wakeStop: () => void = () => {};
  private commitWanted = false;
  private committing: Promise<void> | null = null;
  /** The consumer-lag refresh under way: one at a time, awaited before the admin client disconnects. */
  private lagUpdate: Promise<void> = Promise.resolve();

  constructor(private readonly p: WorkerParts) {
    this.log = p.logger.child({ module: 'ingest-worker' });
    this.metrics = p.options.metrics;
    this.free = p.config.workerConcurrency;
  }

  async run(): Promise<void> {
    const { consumer, options } = this.p;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.assign(payload.memberAssignment));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error, restart: payload.restart }, 'Kafka consumer crashed');
      if (!payload.restart) this.stop(payload.error);
    });
    const stopped = new Promise<void>((resolve) => (this.wakeStop = resolve));
    const onAbort = () => this.stop();
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal.aborted) this.stop();
    const lagTimer = setInterval(() => this.refreshLag(), options.lagIntervalMs ?? 15_000);
    try {
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.eachBatch(payload),
      });
      this.log.info({ topics: this.p.names.requestTopics, group: this.p.names.ingestGroup }, 'ingest worker started');
      await stopped;
      await this.drain();
    } finally {
      clearInterval(lagTimer);
      options.signal.removeEventListener('abort', onAbort);
      await this.lagUpdate;
    }
    if (this.fatal) throw this.fatal;
  }

  private stop(err?: unknown): void {
    if (err) this.fatal ??= err;
    if (this.stopping) return;
    this.stopping = true;
    this.wake();
    this.wakeStop();
  }

  /** Stops fetching, lets in-flight requests finish within the grace period, commits. */
  private async drain(): Promise<void> {
    const { consumer, names, options } = this.p;
    try {
      consumer.pause(names.requestTopics.map((topic) => ({ topic })));
    } catch (err) {
      // Restarting after a crash: it fetches nothing until it rejoins, and disconnect ends that.
      this.log.warn({ err }, 'consumer restarting while draining');
    }
    const grace = options.drainGraceMs ?? DRAIN_GRACE_MS;
    this.log.info({ inFlight: this.tasks.size, graceMs: grace }, 'draining');
    if (!(await this.settled(grace))) {
      this.log.warn({ inFlight: this.tasks.size }, 'drain grace period over: abandoning in-flight requests (they will be redelivered)');
      this.abandon.abort();
      await this.settled(30_000);
    }
    this.scheduleCommit();
    await this.committing;
    this.log.info('drained');
  }

  private settled(ms: number): Promise<boolean> {
    return Promise.race([Promise.allSettled([...this.tasks]).then(() => true), sleep(ms, false, { ref: false })]);
  }

  private assign(assignment: Record<string, number[]>): void {
    const keys = new Set(Object.entries(assignment).flatMap(([topic, ps]) => ps.map((p) => `${topic}|${p}`)));
    for (const [key, state] of this.partitions) {
      if (keys.has(key)) continue;
      // Revoked: its in-flight requests still finish and produce, but another member commits it now.
      this.partitions.delete(key);
      this.metrics.consumerLag.remove({ topic: state.topic, partition: String(state.partition) });
    }
    for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) this.partition(topic, p);
    // A consumer restarted after a crash has forgotten its pauses.
    for (const state of this.partitions.values()) if (state.failing > 0) this.applyPause(state);
    this.log.info({ assignment }, 'partitions assigned');
    this.refreshLag();
  }

  private partition(topic: string, partition: number): PartitionState {
    const key = `${topic}|${partition}`;
    let state = this.partitions.get(key);
    if (!state) this.partitions.set(key, (state = { topic, partition, seen: -1, inFlight: new Set(), committed: -1, failing: 0 }));
    return state;
  }

  /**
   * Dispatches a batch's messages to free slots and returns: the fetch loop goes on while requests
   * run. Waiting for a slot keeps the session alive with heartbeats, and gives up on a rebalance.
   */
  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const state = this.partition(batch.topic, batch.partition);
    let rebalancing = false;
    const beat = setInterval(() => {
      heartbeat().catch((err: unknown) => {
        this.log.debug({ err }, 'heartbeat refused: leaving the batch for the rebalance');
        rebalancing = true;
        this.wake();
      });
    }, this.p.timings.heartbeatInterval);
    const blocked = () => rebalancing || this.stopping || state.failing > 0 || !isRunning() || isStale();
    try {
      for (const message of batch.messages) {
        if (blocked()) break;
        const offset = Number(message.offset);
        // Redelivered after a rebalance, while it is still in flight here or done but uncommitted.
        if (offset <= state.seen) {
          resolveOffset(message.offset);
          continue;
        }
        const parsed = this.parse(message, state);
        if ('skip' in parsed) {
          this.metrics.skipped.inc({ reason: parsed.skip });
          state.seen = offset;
          resolveOffset(message.offset);
          this.scheduleCommit();
          continue;
        }
        if (!(await this.acquireSlot(blocked))) break;
        state.seen = offset;
        state.inFlight.add(offset);
        resolveOffset(message.offset);
        const task = this.process(state, offset, parsed.request).finally(() => this.tasks.delete(task));
        this.tasks.add(task);
      }
    } finally {
      clearInterval(beat);
    }
  }

  private parse(message: KafkaMessage, state: PartitionState): { request: unknown } | { skip: 'not-json' | 'not-dataset' } {
    const text = message.value?.toString('utf8') ?? '';
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch (err) {
      const where = { topic: state.topic, partition: state.partition, offset: message.offset };
      this.log.warn({ ...where, err, bytes: text.length, start: text.slice(0, 200) }, 'skipping a message that is not JSON');
      return { skip: 'not-json' };
    }
    const type = typeof request === 'object' && request !== null ? (request as Record<string, unknown>).ingest_type : undefined;
    // File requests share the topic: they belong to the file worker.
    if (typeof type === 'string' && type !== 'dataset') return { skip: 'not-dataset' };
    return { request };
  }

  private async acquireSlot(blocked: () => boolean): Promise<boolean> {
    while (this.free === 0 && !blocked()) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (blocked()) return false;
    this.free -= 1;
    return true;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private async process(state: PartitionState, offset: number, request: unknown): Promise<void> {
    const started = performance.now();
    this.metrics.inFlight.inc();
    try {
      const outcome = await this.ingest(state, request);
      // Abandoned at shutdown: nothing produced, offset not committed, redelivered later.
      if (!outcome || !(await this.produce(outcome))) return;
      this.count(outcome, (performance.now() - started) / 1000);
      state.inFlight.delete(offset);
      this.scheduleCommit();
    } catch (err) {
      this.log.error({ err, topic: state.topic, partition: state.partition, offset }, 'request failed in the worker; left uncommitted');
    } finally {
      this.metrics.inFlight.dec();
      this.free += 1;
      this.wake();
    }
  }

  /** ingestFileset, retried after infrastructure failures with the partition paused; null if abandoned. */
  private async ingest(state: PartitionState, request: unknown): Promise<IngestOutcome | null> {
    const signal = this.abandon.signal;
    let paused = false;
    try {
      for (let attempt = 0; ; attempt += 1) {
        try {
          const outcome = await ingestFileset(request, this.p.runtime.deps, { signal });
          return signal.aborted ? null : outcome;
        } catch (err) {
          if (signal.aborted) return null;
          const infra = err instanceof InfrastructureError;
          if (!infra && attempt >= UNEXPECTED_RETRIES) {
            this.log.error({ err }, 'unexpected error, giving the request an internal-error result');
            const echo = typeof request === 'object' && request !== null ? (request as Record<string, unknown>) : { value: request };
            return { result: newResult(echo, 'internal-error', describeError(err)), fileResult: null, ready: false };
          }
          this.metrics.infraRetries.inc({ reason: infra ? 'ingest' : 'unexpected' });
          if (!paused) this.pausePartition(state, +1);
          paused = true;
          const delay = this.backoff(attempt);
          this.log.warn({ err, attempt, delay, partition: state.partition }, 'ingest failed on our side; retrying the request');
          await sleep(delay, undefined, { signal }).catch(() => {});
        }
      }
    } finally {
      if (paused) this.pausePartition(state, -1);
    }
  }

  private pausePartition(state: PartitionState, delta: 1 | -1): void {
    state.failing += delta;
    if ((delta > 0 && state.failing === 1) || (delta < 0 && state.failing === 0 && !this.stopping)) this.applyPause(state);
  }

  /**
   * Pauses a partition while one of its requests fails on our side, resumes it after. While kafkajs
   * restarts a crashed consumer (a broker outage), pause and resume throw; the join that ends the
   * restart applies the state again (see assign), so the throw is only logged.
   */
  private applyPause(state: PartitionState): void {
    const tp = [{ topic: state.topic, partitions: [state.partition] }];
    try {
      if (state.failing > 0) this.p.consumer.pause(tp);
      else this.p.consumer.resume(tp);
    } catch (err) {
      this.log.warn({ err, partition: state.partition }, 'consumer restarting: partition pause state applied after the rejoin');
    }
  }

  private backoff(attempt: number): number {
    const { initialMs, maxMs } = this.p.options.infraBackoff ?? { initialMs: 1_000, maxMs: 60_000 };
    return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  }

  /** Sends the results until the broker acknowledges them; false if abandoned first. */
  private async produce(outcome: IngestOutcome): Promise<boolean> {
    const { topicMessages, trimmed } = outcomeMessages(outcome, this.p.names);
    if (trimmed.length) this.log.warn({ topics: trimmed, base_url: keyOf(outcome.result.request) }, 'result too large for a Kafka message: trimmed');
    for (let attempt = 0; ; attempt += 1) {
      try {
        await sendAcked(this.p.producer, topicMessages);
        return true;
      } catch (err) {
        if (this.abandon.signal.aborted) return false;
        this.metrics.infraRetries.inc({ reason: 'broker' });
        const delay = this.backoff(attempt);
        this.log.warn({ err, attempt, delay }, 'producing the result failed; retrying');
        await sleep(delay, undefined, { signal: this.abandon.signal }).catch(() => {});
      }
    }
  }

  private count({ result }: IngestOutcome, seconds: number): void {
    const strategy = result.ingest_strategy ?? '';
    this.metrics.requests.inc({ status: result.status, platform: result.platform_name ?? '', strategy });
    this.metrics.ingestSeconds.observe({ status: result.status }, seconds);
    const archived = (result.manifest ?? []).filter((entry) => entry.status === 'success');
    if (archived.length) {
      this.metrics.filesArchived.inc({ strategy }, archived.length);
      this.metrics.bytesArchived.inc({ strategy }, archived.reduce((sum, entry) => sum + (entry.size ?? 0), 0));
    }
  }

  private scheduleCommit(): void {
    this.commitWanted = true;
    this.committing ??= this.commitLoop().finally(() => {
      this.committing = null;
      // A completion that arrived after the loop's last look.
      if (this.commitWanted && !this.stopping) this.scheduleCommit();
    });
  }

  /** Commits, per partition, the least offset not yet done (one commit at a time, coalesced). */
  private async commitLoop(): Promise<void> {
    for (let failures = 0; this.commitWanted; ) {
      this.commitWanted = false;
      const due = [...this.partitions.values()]
        .map((state) => ({ state, next: state.inFlight.size ? Math.min(...state.inFlight) : state.seen + 1 }))
        .filter(({ state, next }) => state.seen >= 0 && next > state.committed);
      if (!due.length) continue;
      try {
        await this.p.consumer.commitOffsets(due.map(({ state, next }) => ({ topic: state.topic, partition: state.partition, offset: String(next) })));
        for (const { state, next } of due) state.committed = Math.max(state.committed, next);
        failures = 0;
      } catch (err) {
        failures += 1;
        this.log.warn({ err, failures }, 'committing offsets failed; will retry');
        // While stopping, give up after a few tries: uncommitted requests are redelivered.
        if (this.stopping && failures >= 5) return;
        this.commitWanted = true;
        await sleep(Math.min(10_000, 500 * 2 ** failures), undefined, { ref: false });
      }
    }
  }

  private refreshLag(): void {
    if (!this.stopping) this.lagUpdate = this.lagUpdate.then(() => this.updateLag());
  }

  /** consumerLag per assigned partition. */
  private async updateLag(): Promise<void> {
    try {
      const lags = await consumerLag(this.p.admin, this.p.names.ingestGroup, [...this.partitions.values()]);
      for (const { topic, partition, lag } of lags) this.metrics.consumerLag.set({ topic, partition: String(partition) }, lag);
    } catch (err) {
      this.log.debug({ err }, 'consumer lag not updated');
    }
  }
}
