// Waiting and trying again, for every retry loop of the program: one backoff formula (doubling
// from a base up to a cap, with full jitter where many clients may retry at once), a server's
// Retry-After, one abortable sleep, and retry(), the loop itself.

/** How long to wait before each retry. */
export interface Backoff {
  /** The wait before the first retry; each further retry doubles it. */
  baseMs: number;
  /** No wait is longer, Retry-After included. */
  maxMs: number;
  /** Full jitter: a random wait between 0 and the doubled one, so that retries of many clients spread out. */
  jitter?: boolean;
}

/** The wait before retry number `retry` (0 for the first). */
export function backoffDelay(retry: number, backoff: Backoff, random = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(retry, 40));
  return backoff.jitter ? Math.round(random() * ceiling) : ceiling;
}

export interface RetryPolicy {
  /** Retries after the first attempt; Infinity: until the attempt succeeds or `signal` aborts. */
  retries: number;
  backoff: Backoff;
  /**
   * Whether a failure is worth another attempt (default: every failure). A number is the wait the
   * failure asks for (a server's Retry-After), taken instead of the backoff.
   */
  retryable?: (err: unknown, retry: number) => boolean | number;
  /** Told before each wait: logs and metrics. */
  onRetry?: (err: unknown, retry: number, delayMs: number) => void;
  /** Aborting it ends a wait at once: retry() then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Replaces the timer (tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Runs `attempt` until it succeeds. A failure the policy does not retry, or the failure after the
 * last retry, is thrown as it is.
 */
export async function retry<T>(attempt: (retry: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let n = 0; ; n += 1) {
    try {
      return await attempt(n);
    } catch (err) {
      const verdict = policy.retryable ? policy.retryable(err, n) : true;
      if (verdict === false || n >= policy.retries) throw err;
      const delayMs = Math.min(
        policy.backoff.maxMs,
        typeof verdict === 'number' ? verdict : backoffDelay(n, policy.backoff),
      );
      policy.onRetry?.(err, n, delayMs);
      await abortable((policy.sleep ?? sleep)(delayMs, policy.signal), policy.signal);
    }
  }
}

/** Milliseconds a Retry-After header asks for (delta-seconds or an HTTP-date), or undefined. */
export function retryAfterDelay(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Waits `ms`, rejecting with the signal's reason the moment it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * abortable() for work that cannot be interrupted and holds something once done (a connection):
 * when `signal` aborts first, the caller goes on at once, and what the work yields later is handed
 * to `release` (its failure, and release's, are ignored).
 */
export function abandonable<T>(work: Promise<T>, signal: AbortSignal, release: (value: T) => unknown): Promise<T> {
  return abortable(work, signal).catch((err: unknown) => {
    if (signal.aborted) work.then(release).catch(() => undefined);
    throw err;
  });
}

/** Makes any promise give up when `signal` aborts (an injected sleep may ignore the signal). */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    // The promise may reject too (a sleep that saw the same abort): that rejection is expected.
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
