// Politeness: at most N requests in flight per host, granted first come first served.

interface Waiter {
  grant: () => void;
}

interface HostState {
  active: number;
  queue: Waiter[];
}

/** A release function; calling it more than once is harmless. */
export type Release = () => void;

export class HostLimiter {
  readonly #limit: number;
  readonly #hosts = new Map<string, HostState>();

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Waits for a slot on `host`; an abort stops the wait at once and rejects with the signal's reason. */
  acquire(host: string, signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let state = this.#hosts.get(host);
    if (!state) {
      state = { active: 0, queue: [] };
      this.#hosts.set(host, state);
    }
    if (state.active < this.#limit) {
      state.active++;
      return Promise.resolve(this.#releaser(host, state));
    }
    const queued = state;
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        const index = queued.queue.indexOf(waiter);
        if (index >= 0) queued.queue.splice(index, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser(host, queued));
        },
      };
      queued.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Requests in flight for `host` (for tests and metrics). */
  active(host: string): number {
    return this.#hosts.get(host)?.active ?? 0;
  }

  #releaser(host: string, state: HostState): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the next waiter, so a newcomer cannot overtake the queue.
      const next = state.queue.shift();
      if (next) return next.grant();
      state.active--;
      if (state.active === 0) this.#hosts.delete(host);
    };
  }
}
