// Which offsets a consumer may commit: per partition, the lowest offset taken and not yet done
// (else the one after the highest taken). Work finishes out of order; a commit never passes a
// message whose work is unfinished, so a crash loses nothing (at least once). No broker here.

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface CommitOffset extends TopicPartition {
  /** The next offset to consume, as Kafka wants it committed. */
  offset: string;
}

interface PartitionOffsets extends TopicPartition {
  /** The highest offset taken; -1n before the first. */
  highest: bigint;
  /** Offsets taken and not yet done. */
  unfinished: Set<bigint>;
  /** The offset last committed (the next to consume); -1n before the first commit. */
  committed: bigint;
  /** Which assignment of the partition this is: work taken under an earlier one is not ours to finish. */
  lease: number;
}

const keyOf = (topic: string, partition: number) => `${topic}|${partition}`;

export class OffsetTracker {
  readonly #partitions = new Map<string, PartitionOffsets>();
  #leases = 0;

  /**
   * The partitions now assigned to this consumer. Revoked ones are forgotten, with their unfinished
   * work: another member commits them now. Returns the revoked partitions.
   */
  assign(assigned: readonly TopicPartition[]): TopicPartition[] {
    const keep = new Set(assigned.map((tp) => keyOf(tp.topic, tp.partition)));
    const revoked: TopicPartition[] = [];
    for (const [key, state] of this.#partitions) {
      if (keep.has(key)) continue;
      this.#partitions.delete(key);
      revoked.push({ topic: state.topic, partition: state.partition });
    }
    for (const { topic, partition } of assigned) this.#state(topic, partition);
    return revoked;
  }

  /** Assigned partitions. */
  partitions(): TopicPartition[] {
    return [...this.#partitions.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** False for an offset taken before: redelivered after a rebalance, in flight or done but not committed. */
  isNew(topic: string, partition: number, offset: string): boolean {
    const state = this.#partitions.get(keyOf(topic, partition));
    return state === undefined || BigInt(offset) > state.highest;
  }

  /** A message is taken: its work starts, and no commit passes it until done() says so. False if taken before. */
  take(topic: string, partition: number, offset: string): boolean {
    if (!this.isNew(topic, partition, offset)) return false;
    const state = this.#state(topic, partition);
    const value = BigInt(offset);
    state.highest = value;
    state.unfinished.add(value);
    return true;
  }

  /**
   * The partition's current assignment, to hand to done(): work taken before a revocation must not
   * finish a message taken again after the partition came back (it is redelivered, then in flight twice).
   */
  lease(topic: string, partition: number): number | undefined {
    return this.#partitions.get(keyOf(topic, partition))?.lease;
  }

  /** The work of a message is finished (a revoked partition's, or one taken under another `lease`, is ignored). */
  done(topic: string, partition: number, offset: string, lease?: number): void {
    const state = this.#partitions.get(keyOf(topic, partition));
    if (!state || (lease !== undefined && lease !== state.lease)) return;
    state.unfinished.delete(BigInt(offset));
  }

  /** Messages taken and not done, across partitions. */
  get unfinished(): number {
    let count = 0;
    for (const state of this.#partitions.values()) count += state.unfinished.size;
    return count;
  }

  /** Per partition whose commit point moved past its last commit: the offset to commit now. */
  due(): CommitOffset[] {
    const due: CommitOffset[] = [];
    for (const state of this.#partitions.values()) {
      if (state.highest < 0n) continue;
      const next = this.#next(state);
      if (next > state.committed) due.push({ topic: state.topic, partition: state.partition, offset: next.toString() });
    }
    return due;
  }

  /**
   * Forgets what was committed: every partition's commit point is due again. For when commits may
   * have been lost without an error (kafkajs drops a commit while its consumer is not running).
   */
  forgetCommits(): void {
    for (const state of this.#partitions.values()) state.committed = -1n;
  }

  /** A commit of these offsets succeeded. */
  committed(offsets: readonly CommitOffset[]): void {
    for (const { topic, partition, offset } of offsets) {
      const state = this.#partitions.get(keyOf(topic, partition));
      if (state && BigInt(offset) > state.committed) state.committed = BigInt(offset);
    }
  }

  #next(state: PartitionOffsets): bigint {
    let lowest = state.highest + 1n;
    for (const offset of state.unfinished) if (offset < lowest) lowest = offset;
    return lowest;
  }

  #state(topic: string, partition: number): PartitionOffsets {
    const key = keyOf(topic, partition);
    let state = this.#partitions.get(key);
    if (!state)
      this.#partitions.set(
        key,
        (state = { topic, partition, highest: -1n, unfinished: new Set(), committed: -1n, lease: ++this.#leases }),
      );
    return state;
  }
}
