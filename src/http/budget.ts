// Request budgets: per-platform politeness beyond the per-host limit. A budget (`zenodo:api`,
// `dryad:download`) has its own concurrency and a rate (request starts per minute), is shared by
// every request that names it, and is paused as a whole when the platform answers 429, so one
// dataset's rate-limit trouble slows everything asking that platform instead of failing it.
// `Budgets` keeps them in this process; src/db/shared-budgets.ts shares them through PostgreSQL.
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

/** Host budgets (`host:<name>`) have no limits of their own; only 429 pauses. */
export function isHostBudget(name: string): boolean {
  return name.startsWith('host:');
}

/** The limits a budget name gets: an override, a `*:<kind>` override, a default, or none. */
export function budgetLimits(name: string, overrides: ReadonlyMap<string, BudgetLimits>): BudgetLimits | undefined {
  if (isHostBudget(name)) return HOST_PAUSE_ONLY;
  const kind = name.slice(name.lastIndexOf(':'));
  return (
    overrides.get(name) ??
    overrides.get(`*${kind}`) ??
    DEFAULT_BUDGETS[name] ??
    (kind === ':api' ? DEFAULT_API_BUDGET : undefined)
  );
}

/** Milliseconds between two request starts under `limits` (0: no rate limit). */
export function startInterval(limits: BudgetLimits): number {
  return limits.perMinute ? 60_000 / limits.perMinute : 0;
}

/** Told how long requests waited for their budget, and of every pause: workers count them. */
export interface BudgetObserver {
  /** A request of a platform budget got its slot and start after `ms` (host budgets are not reported). */
  waited(budget: string, ms: number): void;
  paused(budget: string, ms: number): void;
}

/** What the HTTP client asks of request budgets, in process (Budgets) or shared (SharedBudgets). */
export interface RequestBudgets {
  /** Waits for a slot and for the budget's rate and pauses; the slot is held until release. */
  acquire(name: string, signal?: AbortSignal): Promise<Release>;
  /** The platform asked us to slow down: nothing under this budget starts for `ms`. */
  pause(name: string, ms: number): void;
}

interface BudgetState {
  limits: BudgetLimits;
  limiter: HostLimiter;
  /** Earliest time the next request may start (rate and 429 pauses). */
  nextStart: number;
}

/** Request budgets of this process only. */
export class Budgets implements RequestBudgets {
  readonly #overrides: ReadonlyMap<string, BudgetLimits>;
  readonly #states = new Map<string, BudgetState>();
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #observer: BudgetObserver | undefined;

  constructor(
    overrides: ReadonlyMap<string, BudgetLimits> = new Map(),
    clock: { now?: () => number; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> } = {},
    observer?: BudgetObserver,
  ) {
    this.#overrides = overrides;
    this.#now = clock.now ?? Date.now;
    this.#sleep = clock.sleep ?? sleep;
    this.#observer = observer;
  }

  /** The limits a budget name gets. */
  limits(name: string): BudgetLimits | undefined {
    return budgetLimits(name, this.#overrides);
  }

  async acquire(name: string, signal?: AbortSignal): Promise<Release> {
    // Host budgets exist only while a pause is pending, so a long-lived worker keeps no state per host.
    const state = isHostBudget(name) ? this.#pausedHost(name) : this.#state(name);
    if (!state) return () => {};
    const started = this.#now();
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
      state.nextStart = this.#now() + startInterval(state.limits);
      if (!isHostBudget(name)) this.#observer?.waited(name, this.#now() - started);
      return release;
    } catch (err) {
      release();
      throw err;
    }
  }

  pause(name: string, ms: number): void {
    const state = this.#state(name);
    if (!state) return;
    state.nextStart = Math.max(state.nextStart, this.#now() + ms);
    this.#observer?.paused(name, ms);
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
