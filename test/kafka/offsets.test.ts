// The offset tracker alone: no broker.
import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../../src/kafka/offsets.js';

const T = 'requests';

describe('OffsetTracker', () => {
  it('commits the lowest unfinished offset while work finishes out of order', () => {
    const tracker = new OffsetTracker();
    tracker.assign([{ topic: T, partition: 0 }]);
    for (const offset of ['0', '1', '2']) expect(tracker.take(T, 0, offset)).toBe(true);
    expect(tracker.due()).toEqual([{ topic: T, partition: 0, offset: '0' }]);
    tracker.committed(tracker.due());
    tracker.done(T, 0, '2');
    tracker.done(T, 0, '1');
    expect(tracker.due()).toEqual([]); // 0 is still running: nothing past it may be committed
    tracker.done(T, 0, '0');
    expect(tracker.due()).toEqual([{ topic: T, partition: 0, offset: '3' }]);
    tracker.committed(tracker.due());
    expect(tracker.due()).toEqual([]);
    expect(tracker.unfinished).toBe(0);
  });

  it('keeps partitions apart and commits only those that moved', () => {
    const tracker = new OffsetTracker();
    tracker.assign([
      { topic: T, partition: 0 },
      { topic: T, partition: 1 },
      { topic: 'other', partition: 0 },
    ]);
    tracker.take(T, 0, '10');
    tracker.take(T, 1, '20');
    tracker.done(T, 1, '20');
    expect(tracker.due()).toEqual([
      { topic: T, partition: 0, offset: '10' },
      { topic: T, partition: 1, offset: '21' },
    ]);
    tracker.committed(tracker.due());
    tracker.done(T, 0, '10');
    expect(tracker.due()).toEqual([{ topic: T, partition: 0, offset: '11' }]);
    expect(tracker.unfinished).toBe(0);
  });

  it('does not take a redelivered offset twice, in flight or done but uncommitted', () => {
    const tracker = new OffsetTracker();
    tracker.assign([{ topic: T, partition: 0 }]);
    expect(tracker.take(T, 0, '5')).toBe(true);
    expect(tracker.take(T, 0, '6')).toBe(true);
    tracker.done(T, 0, '5');
    expect(tracker.isNew(T, 0, '5')).toBe(false);
    expect(tracker.take(T, 0, '5')).toBe(false);
    expect(tracker.take(T, 0, '6')).toBe(false);
    expect(tracker.take(T, 0, '7')).toBe(true);
    expect(tracker.unfinished).toBe(2);
  });

  it('forgets a revoked partition and its unfinished work; a late done() changes nothing', () => {
    const tracker = new OffsetTracker();
    tracker.assign([
      { topic: T, partition: 0 },
      { topic: T, partition: 1 },
    ]);
    tracker.take(T, 0, '1');
    tracker.take(T, 1, '1');
    expect(tracker.assign([{ topic: T, partition: 1 }])).toEqual([{ topic: T, partition: 0 }]);
    tracker.done(T, 0, '1');
    expect(tracker.partitions()).toEqual([{ topic: T, partition: 1 }]);
    expect(tracker.due()).toEqual([{ topic: T, partition: 1, offset: '1' }]);
    expect(tracker.unfinished).toBe(1);
  });

  it('owes no commit for a partition where nothing was taken, and never moves a commit back', () => {
    const tracker = new OffsetTracker();
    tracker.assign([{ topic: T, partition: 0 }]);
    expect(tracker.due()).toEqual([]);
    tracker.take(T, 0, '3');
    tracker.done(T, 0, '3');
    tracker.committed([{ topic: T, partition: 0, offset: '4' }]);
    tracker.committed([{ topic: T, partition: 0, offset: '2' }]);
    expect(tracker.due()).toEqual([]);
  });

  it('handles offsets beyond 2^53 exactly', () => {
    const tracker = new OffsetTracker();
    const big = '9007199254740993';
    tracker.take(T, 0, big);
    tracker.done(T, 0, big);
    expect(tracker.due()).toEqual([{ topic: T, partition: 0, offset: '9007199254740994' }]);
  });

  it('ignores work taken before a revocation once the partition came back', () => {
    const tracker = new OffsetTracker();
    tracker.assign([{ topic: T, partition: 0 }]);
    tracker.take(T, 0, '0');
    const before = tracker.lease(T, 0);
    tracker.assign([]); // revoked (or our member crashed)
    tracker.assign([{ topic: T, partition: 0 }]);
    expect(tracker.lease(T, 0)).not.toBe(before);
    expect(tracker.take(T, 0, '0')).toBe(true); // redelivered
    tracker.done(T, 0, '0', before); // the old work finishing
    expect(tracker.due()).toEqual([{ topic: T, partition: 0, offset: '0' }]);
    tracker.done(T, 0, '0', tracker.lease(T, 0));
    expect(tracker.due()).toEqual([{ topic: T, partition: 0, offset: '1' }]);
  });
});
