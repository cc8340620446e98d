// Request budgets: per-platform politeness beyond the per-host limit. A budget (`zenodo:api`,
// `dryad:download`) has its own concurrency and a rate (request starts per minute), is shared by
// every request that names it, and is paused as a whole when the platform answers 429, so one
// dataset's rate-limit trouble slows everything asking that platform instead of failing it.
import type { BudgetLimits } from '../config.js';
import { HostLimiter, type Release } from './host-limiter.js';
import { abortable, sleep } from '../retry.js';

/**
 * Conservative defaults. Documented limits where they exist: Zenodo allows guests 60 API requests
 * a minute; Figshare asks for at most one request a second; Dryad allows anonymous users 30
 * requests a minute, with a lower (unstated) limit for file downloads.
 */
export const DEFAULT_BUDGETS: Readonly<Record<string, BudgetLimits>> = {
  'zenodo:api': { concurrency: 2, perMinute: 60 },
  'zenodo:download': { concurrency: 3 },
  'inveniordm:api': { concurrency: 2, perMinute: 60 },
  'figshare:api': { concurrency: 1, perMinute: 60 },
  'figshare:download': { concurrency: 3 },
  'dryad:api': { concurrency: 1, perMinute: 30 },
  'dryad:download': { concurrency: 1, perMinute: 15 },
  'dataverse:api': { concurrency: 2, perMinute: 120 },
  'dataverse:download': { concurrency: 3 },
  'osf:api': { concurrency: 2, perMinute: 100 },
  'osf:download': { concurrency: 3 },
  'archiveorg:api': { concurrency: 2, perMinute: 120 },
};

/** Any `<platform>:api` budget without an entry. Downloads without one are bounded per host only. */
const DEFAULT_API_BUDGET: BudgetLimits = { concurrency: 2, perMinute: 120 };

/** Every host has a budget too, unlimited but paused when the host answers 429. */
const HOST_PAUSE_ONLY: BudgetLimits = { concurrency: Number.MAX_SAFE_INTEGER };

export function hostBudget(url: URL): string {
  return `host:${url.hostname}`;
}

interface BudgetState {
  limits: BudgetLimits;
  limiter: HostLimiter;
  /** Earliest time the next request may start (rate and 429 pauses). */
  nextStart: number;
}

export class Budgets {
  readonly #overrides: ReadonlyMap<string, BudgetLimits>;
  readonly #states = new Map<string, BudgetState>();
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    overrides: ReadonlyMap<string, BudgetLimits> = new Map(),
    clock: { now?: () => number; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> } = {},
  ) {
    this.#overrides = overrides;
    this.#now = clock.now ?? Date.now;
    this.#sleep = clock.sleep ?? sleep;
  }

  /** The limits a budget name gets. */
  limits(name: string): BudgetLimits | undefined {
    if (name.startsWith('host:')) return HOST_PAUSE_ONLY;
    const kind = name.slice(name.lastIndexOf(':'));
    return (
      this.#overrides.get(name) ??
      this.#overrides.get(`*${kind}`) ??
      DEFAULT_BUDGETS[name] ??
      (kind === ':api' ? DEFAULT_API_BUDGET : undefined)
    );
  }

  /** Waits for a slot and for the budget's rate and pauses; the slot is held until release. */
  async acquire(name: string, signal?: AbortSignal): Promise<Release> {
    // Host budgets exist only while a pause is pending, so a long-lived worker keeps no state per host.
    const state = name.startsWith('host:') ? this.#pausedHost(name) : this.#state(name);
    if (!state) return () => {};
    const release = await state.limiter.acquire(name, signal);
    try {
      // Sleep until the start time; again only if a new pause moved it meanwhile.
      for (let waitedFor = -1; ;) {
        const target = state.nextStart;
        const wait = target - this.#now();
        if (wait <= 0 || target === waitedFor) break;
        await abortable(this.#sleep(wait, signal), signal);
        waitedFor = target;
      }
      const interval = state.limits.perMinute ? 60_000 / state.limits.perMinute : 0;
      state.nextStart = this.#now() + interval;
      return release;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The platform asked us to slow down: nothing under this budget starts for `ms`. */
  pause(name: string, ms: number): void {
    const state = this.#state(name);
    if (state) state.nextStart = Math.max(state.nextStart, this.#now() + ms);
  }

  #pausedHost(name: string): BudgetState | undefined {
    const state = this.#states.get(name);
    if (state && state.nextStart <= this.#now()) {
      this.#states.delete(name);
      return undefined;
    }
    return state;
  }

  #state(name: string): BudgetState | undefined {
    let state = this.#states.get(name);
    if (!state) {
      const limits = this.limits(name);
      if (!limits) return undefined;
      state = { limits, limiter: new HostLimiter(limits.concurrency), nextStart: 0 };
      this.#states.set(name, state);
    }
    return state;
  }
}
