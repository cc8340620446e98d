// Readiness of a worker process: named checks (broker, database, store, consumer group) that the
// worker registers once it has opened them, run together with a time bound by `/readyz` and by
// the `fileset_ready` metric. A process with no checks yet is starting, not ready.

/** A check resolves when its dependency is usable and throws (saying why) when it is not. */
export type ReadinessCheck = (signal: AbortSignal) => Promise<void>;

export interface ReadinessReport {
  ready: boolean;
  /** Each check: "ok" or the reason it failed. */
  checks: Record<string, string>;
}

/** A check that has not answered within this long has failed. */
export const CHECK_TIMEOUT_MS = 5_000;

interface Registered {
  check: ReadinessCheck;
  /** A pass is trusted this long before the check runs again (0: runs every time). */
  passFor: number;
  passedAt?: number;
}

export class Readiness {
  readonly #checks = new Map<string, Registered>();
  readonly #timeoutMs: number;

  constructor(options: { timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? CHECK_TIMEOUT_MS;
  }

  /**
   * Adds (or replaces) a check; the returned function removes it again. `passFor`: a check that
   * costs a remote service a request (an archive.org item listing) is not run again for that long
   * after it passed; a failure is always checked again.
   */
  add(name: string, check: ReadinessCheck, options: { passFor?: number } = {}): () => void {
    const registered: Registered = { check, passFor: options.passFor ?? 0 };
    this.#checks.set(name, registered);
    return () => {
      if (this.#checks.get(name) === registered) this.#checks.delete(name);
    };
  }

  /** Runs every check at once, each bounded by the timeout. */
  async report(): Promise<ReadinessReport> {
    if (!this.#checks.size) return { ready: false, checks: { worker: 'starting' } };
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, registered]) => [name, await this.#outcome(registered)] as const),
    );
    return { ready: entries.every(([, outcome]) => outcome === 'ok'), checks: Object.fromEntries(entries) };
  }

  async #outcome(registered: Registered): Promise<string> {
    const { passedAt, passFor } = registered;
    if (passedAt !== undefined && performance.now() - passedAt < passFor) return 'ok';
    const outcome = await this.#run(registered.check);
    if (outcome === 'ok') registered.passedAt = performance.now();
    else delete registered.passedAt;
    return outcome;
  }

  async #run(check: ReadinessCheck): Promise<string> {
    const timeout = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<string>((resolve) => {
      timer = setTimeout(() => {
        timeout.abort();
        resolve(`no answer within ${this.#timeoutMs} ms`);
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([
        check(timeout.signal).then(
          () => 'ok',
          (err: unknown) => (err instanceof Error ? err.message || err.name : String(err)),
        ),
        timedOut,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
