import { describe, expect, it } from 'vitest';
import { abandonable, backoffDelay, retry, retryAfterDelay, sleep, type RetryPolicy } from '../src/retry.js';

describe('retryAfterDelay', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 01 May 2024 12:00:30 GMT', 30_000],
    ['Wed, 01 May 2024 11:00:00 GMT', 0], // in the past: go now
    ['soon', undefined],
    [undefined, undefined],
  ])('%s -> %s', (value, expected) => expect(retryAfterDelay(value, now)).toBe(expected));
});

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    const backoff = { baseMs: 500, maxMs: 60_000 };
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, backoff))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(20, backoff)).toBe(60_000);
    expect(backoffDelay(5000, backoff)).toBe(60_000);
  });

  it('with full jitter waits a random share of that', () => {
    const backoff = { baseMs: 500, maxMs: 60_000, jitter: true };
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, backoff, () => 1))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(3, backoff, () => 0)).toBe(0);
    expect(backoffDelay(3, backoff, () => 0.5)).toBe(2000);
  });
});

describe('retry', () => {
  /** A policy whose waits are recorded instead of slept. */
  function recording(overrides: Partial<RetryPolicy> = {}) {
    const waits: number[] = [];
    const policy: RetryPolicy = {
      retries: 3,
      backoff: { baseMs: 100, maxMs: 1000 },
      sleep: async (ms) => void waits.push(ms),
      ...overrides,
    };
    return { waits, policy };
  }

  it('tries again after each failure, waiting the backoff, until the attempt succeeds', async () => {
    const { waits, policy } = recording();
    const attempts: number[] = [];
    const value = await retry(async (n) => {
      attempts.push(n);
      if (n < 2) throw new Error(`failure ${n}`);
      return 'done';
    }, policy);
    expect(value).toBe('done');
    expect(attempts).toEqual([0, 1, 2]);
    expect(waits).toEqual([100, 200]);
  });

  it('throws the last failure once the retries are spent', async () => {
    const { waits, policy } = recording({ retries: 2 });
    await expect(retry(async (n) => Promise.reject(new Error(`failure ${n}`)), policy)).rejects.toThrow('failure 2');
    expect(waits).toEqual([100, 200]);
  });

  it('throws at once what the policy does not retry, and waits what a failure asks for (capped)', async () => {
    const { waits, policy } = recording({
      retryable: (err) => ((err as Error).message === 'slow down' ? 5000 : (err as Error).message !== 'fatal'),
    });
    const failures = ['slow down', 'again', 'fatal'];
    await expect(retry(async (n) => Promise.reject(new Error(failures[n])), policy)).rejects.toThrow('fatal');
    expect(waits).toEqual([1000, 200]);
  });

  it('tells onRetry about each wait', async () => {
    const told: Array<[string, number, number]> = [];
    const { policy } = recording({ onRetry: (err, n, delayMs) => told.push([(err as Error).message, n, delayMs]) });
    await retry(async (n) => (n < 1 ? Promise.reject(new Error('once')) : 'ok'), policy);
    expect(told).toEqual([['once', 0, 100]]);
  });

  it('retries without end when told to, and an abort ends the wait with the signal reason', async () => {
    const controller = new AbortController();
    let attempts = 0;
    const running = retry(
      async () => {
        attempts += 1;
        if (attempts === 3) setImmediate(() => controller.abort(new Error('stopping')));
        throw new Error('down');
      },
      { retries: Infinity, backoff: { baseMs: 1, maxMs: 60_000 }, signal: controller.signal },
    );
    await expect(running).rejects.toThrow('stopping');
    expect(attempts).toBeGreaterThanOrEqual(3);
  });
});

describe('sleep', () => {
  it('rejects with the reason of an abort, also one before it started', async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort(new Error('now'));
    await expect(waiting).rejects.toThrow('now');
    await expect(sleep(1, controller.signal)).rejects.toThrow('now');
  });
});

describe('abandonable', () => {
  it('passes the result through when the work ends first, releasing nothing', async () => {
    const released: string[] = [];
    const signal = new AbortController().signal;
    await expect(abandonable(Promise.resolve('conn'), signal, (v) => released.push(v))).resolves.toBe('conn');
    await expect(abandonable(Promise.reject(new Error('refused')), signal, (v) => released.push(v))).rejects.toThrow(
      'refused',
    );
    expect(released).toEqual([]);
  });

  it('gives up at an abort without waiting, and releases what the work yields afterwards', async () => {
    let done!: (value: string) => void;
    const work = new Promise<string>((resolve) => (done = resolve));
    const released: string[] = [];
    const stop = new AbortController();
    const waiting = abandonable(work, stop.signal, (v) => released.push(v));
    stop.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    expect(released).toEqual([]);
    done('late conn');
    await work;
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toEqual(['late conn']);
  });

  it('ignores a late failure of the work and of the release', async () => {
    let fail!: (err: Error) => void;
    const work = new Promise<string>((_, reject) => (fail = reject));
    const stop = new AbortController();
    const waiting = abandonable(work, stop.signal, () => {
      throw new Error('never called');
    });
    stop.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    fail(new Error('refused late'));
    await new Promise((resolve) => setImmediate(resolve));
    const failing = abandonable(Promise.resolve('x'), AbortSignal.abort(new Error('gone')), () =>
      Promise.reject(new Error('disconnect failed')),
    );
    await expect(failing).rejects.toThrow('gone');
    await new Promise((resolve) => setImmediate(resolve));
  });
});
