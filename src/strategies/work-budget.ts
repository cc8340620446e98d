// The working directory's disk budget, shared by every archiveorg-* download of the process.

/** Bytes the working directory may hold at once. A download reserves its declared size first; waiters are served in order. */
export class WorkBudget {
  #used = 0;
  #peak = 0;
  readonly #waiting: Array<{ bytes: number; grant: () => void }> = [];
  constructor(readonly total: number) {}

  /** The most bytes ever reserved at once. */
  get peak(): number {
    return this.#peak;
  }

  /** Waits until `bytes` fit (at most `total`), reserves them and returns the release. */
  async reserve(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (bytes > this.total) throw new RangeError(`${bytes} bytes can never fit a budget of ${this.total}`);
    if (this.#waiting.length || this.#used + bytes > this.total) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const waiter = { bytes, grant: () => (signal?.removeEventListener('abort', onAbort), resolve()) };
        const onAbort = () => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          this.#drain();
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(waiter);
      });
    } else {
      this.#take(bytes);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used -= bytes;
      this.#drain();
    };
  }

  #take(bytes: number): void {
    this.#used += bytes;
    this.#peak = Math.max(this.#peak, this.#used);
  }

  #drain(): void {
    while (this.#waiting.length && this.#used + this.#waiting[0]!.bytes <= this.total) {
      const next = this.#waiting.shift()!;
      this.#take(next.bytes);
      next.grant();
    }
  }
}
