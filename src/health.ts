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

export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();
  readonly #timeoutMs: number;

  constructor(options: { timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? CHECK_TIMEOUT_MS;
  }

  /** Adds (or replaces) a check; the returned function removes it again. */
  add(name: string, check: ReadinessCheck): () => void {
    this.#checks.set(name, check);
    return () => {
      if (this.#checks.get(name) === check) this.#checks.delete(name);
    };
  }

  /** Runs every check at once, each bounded by the timeout. */
  async report(): Promise<ReadinessReport> {
    if (!this.#checks.size) return { ready: false, checks: { worker: 'starting' } };
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, check]) => [name, await this.#run(check)] as const),
    );
    return { ready: entries.every(([, outcome]) => outcome === 'ok'), checks: Object.fromEntries(entries) };
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
