// Request budgets shared by every worker process on every machine through PostgreSQL (tables of
// sql/004_request_budgets.sql): a budget's concurrency is a set of leased slots, its rate a
// "next start" time that a request claims when it starts, and a 429 pause a "paused until" time.
// Times come from the database's clock. A lease is renewed while its request runs and expires
// when its holder dies. rate-limiter-flexible's PostgreSQL store was weighed and not used: it
// counts fixed windows by each client's clock (twice the limit can pass across a window edge),
// and has no leases for concurrency.
import { randomBytes, randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import type { BudgetLimits } from '../config.js';
import { budgetLimits, isHostBudget, startInterval, type BudgetObserver, type RequestBudgets } from '../http/budget.js';
import { HostLimiter, type Release } from '../http/host-limiter.js';
import type { Logger } from '../logger.js';
import { abortable, backoffDelay, sleep } from '../retry.js';
import type { Database } from './database.js';

/** `$n` milliseconds from now by the database's clock. */
const fromNow = (param: string) => `clock_timestamp() + ${param}::float8 * interval '1 millisecond'`;

/**
 * Claims the budget's next start (the row from `source`: budget, the start after this one), unless
 * the rate or a pause forbids starting now. Returns a row when it claimed. The next start is
 * computed again when the row is updated (`interval`: the parameter holding the milliseconds): a
 * claim that waited for another's row lock must not count its interval from before the wait, or
 * two starts could be closer than the rate allows.
 */
const claimStart = (source: string, interval: string) => `
    INSERT INTO fileset_budget AS b (budget, next_start)
    ${source}
    ON CONFLICT (budget) DO UPDATE SET next_start = ${fromNow(interval)}
      WHERE b.next_start <= clock_timestamp() AND b.paused_until <= clock_timestamp()
    RETURNING 1`;

/**
 * Takes a free slot below the concurrency (free: no lease, or an expired one), looking from slot
 * $6 on so that requests taking slots at the same moment mostly look at different ones, and, with
 * it, claims the budget's next start if the rate and pauses allow: one round trip when nothing
 * waits. `slot` is null when no slot was taken (nothing is claimed then): `had_free` says whether
 * one looked free, that is, whether a concurrent request took it first.
 */
const TAKE_SLOT_AND_START = `
  WITH free AS (
    SELECT s.slot FROM generate_series(0, $2::integer - 1) AS s(slot)
    WHERE NOT EXISTS (
      SELECT 1 FROM fileset_budget_lease l
      WHERE l.budget = $1 AND l.slot = s.slot AND l.expires_at > clock_timestamp())
    ORDER BY (s.slot + $2::integer - $6::integer) % $2::integer
    LIMIT 1),
  lease AS (
    INSERT INTO fileset_budget_lease AS l (budget, slot, holder, expires_at)
    SELECT $1, free.slot, $3, ${fromNow('$4')} FROM free
    ON CONFLICT (budget, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
      WHERE l.expires_at <= clock_timestamp()
    RETURNING slot),
  claim AS (${claimStart(`SELECT $1, ${fromNow('$5')} WHERE EXISTS (SELECT 1 FROM lease)`, '$5')})
  SELECT (SELECT slot FROM lease) AS slot, EXISTS (SELECT 1 FROM claim) AS claimed,
         EXISTS (SELECT 1 FROM free) AS had_free`;

/**
 * Claims the budget's next start if the rate and pauses allow; otherwise says how long until they
 * might (a row locked by a concurrent claim reads as it was before that claim).
 */
const CLAIM_START = `
  WITH claim AS (${claimStart(`VALUES ($1, ${fromNow('$2')})`, '$2')})
  SELECT EXISTS (SELECT 1 FROM claim) AS claimed,
         (SELECT extract(epoch FROM greatest(next_start, paused_until) - clock_timestamp())::float8 * 1000
          FROM fileset_budget WHERE budget = $1) AS wait_ms`;

/** Every host paused now, and for how long. */
const PAUSED_HOSTS = `
  SELECT budget, extract(epoch FROM paused_until - clock_timestamp())::float8 * 1000 AS wait_ms
  FROM fileset_budget WHERE budget LIKE 'host:%' AND paused_until > clock_timestamp()`;

/**
 * How old a read of the paused hosts may be: a host's 429 seen by another worker holds back this
 * one's requests to it within this time, and a busy worker reads the table a few times a second
 * rather than before every request.
 */
const HOST_PAUSES_FRESH_MS = 200;

const PAUSE = `
  INSERT INTO fileset_budget AS b (budget, paused_until)
  VALUES ($1, ${fromNow('$2')})
  ON CONFLICT (budget) DO UPDATE SET paused_until = greatest(b.paused_until, excluded.paused_until)`;

/** Host rows exist only for hosts that answered 429; they go once their pause is long over. */
const FORGET_OLD_HOSTS = `
  DELETE FROM fileset_budget
  WHERE budget LIKE 'host:%' AND paused_until < clock_timestamp() - interval '1 hour'`;

const RENEW = `
  UPDATE fileset_budget_lease SET expires_at = ${fromNow('$2')}
  WHERE holder = $1 AND (budget, slot) IN (SELECT * FROM unnest($3::text[], $4::integer[]))`;

const RELEASE = 'DELETE FROM fileset_budget_lease WHERE budget = $1 AND slot = $2 AND holder = $3';
const RELEASE_ALL = 'DELETE FROM fileset_budget_lease WHERE holder = $1';

export interface SharedBudgetsOptions {
  overrides: ReadonlyMap<string, BudgetLimits>;
  logger: Logger;
  observer?: BudgetObserver;
  /** A lease its holder has not renewed for this long is free again. Default 30 s; renewed every third of it. */
  leaseMs?: number;
  /** Longest wait between two tries for a slot that others hold. Default 1 s. */
  maxPollMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class SharedBudgets implements RequestBudgets {
  readonly #db: Database;
  readonly #overrides: ReadonlyMap<string, BudgetLimits>;
  readonly #log: Logger;
  readonly #observer: BudgetObserver | undefined;
  readonly #leaseMs: number;
  readonly #maxPollMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Names this process in the lease table: host, pid and a random part. */
  readonly holder = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  /** Requests of this process queue here first, so that at most `concurrency` of them ask the database. */
  readonly #local = new Map<string, HostLimiter>();
  /** Pauses this process has seen, applied at once while their writes reach the database. */
  readonly #pausedUntil = new Map<string, number>();
  /** Leases held, as `budget` → slots. */
  readonly #held = new Map<string, Set<number>>();
  readonly #writes = new Set<Promise<void>>();
  /** Releases on their way to the database, per budget: a slot is taken only after them. */
  readonly #releasing = new Map<string, Set<Promise<void>>>();
  /** The paused hosts as last read (`host:…` → paused until, by this process's clock), shared by every request. */
  #hostPauses: { readAt: number; until: Map<string, number> } | undefined;
  #hostPausesRead: Promise<void> | undefined;
  readonly #renewer: NodeJS.Timeout;
  /**
   * Where the next take starts looking: one on from the last, so the requests of this process
   * look at different slots, from a random place, so other processes mostly do too.
   */
  #nextLook = randomInt(1 << 16);

  constructor(db: Database, options: SharedBudgetsOptions) {
    this.#db = db;
    this.#overrides = options.overrides;
    this.#log = options.logger.child({ module: 'shared-budgets' });
    this.#observer = options.observer;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#maxPollMs = options.maxPollMs ?? 1_000;
    this.#sleep = options.sleep ?? sleep;
    this.#renewer = setInterval(
      () => this.#background(this.#renew(), {}, 'could not renew leases; they may expire under running requests'),
      this.#leaseMs / 3,
    );
    this.#renewer.unref();
  }

  async acquire(name: string, signal?: AbortSignal): Promise<Release> {
    const limits = budgetLimits(name, this.#overrides);
    if (!limits) return () => {};
    if (isHostBudget(name)) {
      await this.#waitForPause(name, signal);
      return () => {};
    }
    const started = performance.now();
    let local = this.#local.get(name);
    if (!local) this.#local.set(name, (local = new HostLimiter(limits.concurrency)));
    const releaseLocal = await local.acquire(name, signal);
    const interval = startInterval(limits);
    let slot: number | undefined;
    try {
      // The slot this process just gave back is free only once its release has reached the database.
      const releasing = this.#releasing.get(name);
      if (releasing) await Promise.all(releasing);
      const taken = await this.#takeSlot(name, limits.concurrency, interval, signal);
      slot = taken.slot;
      if (!taken.claimed) await this.#claimStart(name, interval, signal);
    } catch (err) {
      if (slot !== undefined) this.#release(name, slot);
      releaseLocal();
      throw err;
    }
    this.#observer?.waited(name, performance.now() - started);
    const taken = slot;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release(name, taken);
      releaseLocal();
    };
  }

  pause(name: string, ms: number): void {
    if (!budgetLimits(name, this.#overrides)) return;
    this.#pausedUntil.set(name, Math.max(this.#pausedUntil.get(name) ?? 0, Date.now() + ms));
    this.#observer?.paused(name, ms);
    this.#background(
      (async () => {
        await this.#db.query(PAUSE, [name, ms]);
        if (isHostBudget(name)) await this.#db.query(FORGET_OLD_HOSTS);
      })(),
      { budget: name, ms },
      'could not share a pause with the fleet (this process keeps it)',
    );
  }

  /** Stops renewing, waits for pending writes and gives back every lease of this process. */
  async close(): Promise<void> {
    clearInterval(this.#renewer);
    await Promise.allSettled([...this.#writes]);
    this.#held.clear();
    await this.#db.query(RELEASE_ALL, [this.holder]).catch((err: unknown) => {
      this.#log.warn({ err }, 'could not give back the leases; they expire by themselves');
    });
  }

  /** A slot of the budget, and whether its start was claimed with it. */
  async #takeSlot(
    name: string,
    concurrency: number,
    intervalMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ slot: number; claimed: boolean }> {
    for (let attempt = 0; ;) {
      // A 429 this process saw holds back even the first try, while its write reaches the database.
      await this.#waitForLocalPause(name, signal);
      const [row] = await this.#db.query<{ slot: number | null; claimed: boolean; had_free: boolean }>(
        TAKE_SLOT_AND_START,
        [name, concurrency, this.holder, this.#leaseMs, intervalMs, this.#nextLook++ % concurrency],
      );
      if (row && row.slot !== null) {
        let slots = this.#held.get(name);
        if (!slots) this.#held.set(name, (slots = new Set()));
        slots.add(row.slot);
        return { slot: row.slot, claimed: row.claimed };
      }
      // A slot that another request took between our look and our lease: others may still be free.
      if (row?.had_free) continue;
      await this.#wait(backoffDelay(attempt++, { baseMs: 50, maxMs: this.#maxPollMs, jitter: true }), signal);
    }
  }

  /** Waits until the budget's rate and pauses allow a start, and claims it. */
  async #claimStart(name: string, intervalMs: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      await this.#waitForLocalPause(name, signal);
      const [row] = await this.#db.query<{ claimed: boolean; wait_ms: number | null }>(CLAIM_START, [name, intervalMs]);
      if (row?.claimed) return;
      // A claim that lost a race reads the row as it was: wait at least a little before the next try.
      await this.#wait(Math.max(row?.wait_ms ?? 0, 5), signal);
    }
  }

  /** Waits while the host is paused by any worker (read from the shared table at most every 200 ms). */
  async #waitForPause(name: string, signal: AbortSignal | undefined): Promise<void> {
    for (let waited = false; ; waited = true) {
      await this.#waitForLocalPause(name, signal);
      // After a wait, read again: another worker may have paused the host for longer meanwhile.
      const until = (await this.#pausedHosts(waited)).get(name);
      if (until === undefined || until <= Date.now()) return;
      await this.#wait(until - Date.now(), signal);
    }
  }

  async #pausedHosts(fresh: boolean): Promise<Map<string, number>> {
    const known = this.#hostPauses;
    if (known && !fresh && performance.now() - known.readAt < HOST_PAUSES_FRESH_MS) return known.until;
    this.#hostPausesRead ??= (async () => {
      try {
        const readAt = performance.now();
        const rows = await this.#db.query<{ budget: string; wait_ms: number }>(PAUSED_HOSTS);
        this.#hostPauses = { readAt, until: new Map(rows.map((row) => [row.budget, Date.now() + row.wait_ms])) };
      } finally {
        this.#hostPausesRead = undefined;
      }
    })();
    await this.#hostPausesRead;
    return this.#hostPauses!.until;
  }

  async #waitForLocalPause(name: string, signal: AbortSignal | undefined): Promise<void> {
    const until = this.#pausedUntil.get(name);
    if (until === undefined) return;
    if (until <= Date.now()) return void this.#pausedUntil.delete(name);
    await this.#wait(until - Date.now(), signal);
  }

  #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return abortable(this.#sleep(ms, signal), signal);
  }

  #release(name: string, slot: number): void {
    this.#held.get(name)?.delete(slot);
    let releasing = this.#releasing.get(name);
    if (!releasing) this.#releasing.set(name, (releasing = new Set()));
    const release = this.#background(
      this.#db.query(RELEASE, [name, slot, this.holder]).then(() => undefined),
      { budget: name, slot },
      'could not give back a lease; it expires by itself',
    );
    releasing.add(release);
    void release.finally(() => {
      releasing.delete(release);
      if (releasing.size === 0 && this.#releasing.get(name) === releasing) this.#releasing.delete(name);
    });
  }

  async #renew(): Promise<void> {
    const budgets: string[] = [];
    const slots: number[] = [];
    for (const [budget, held] of this.#held)
      for (const slot of held) {
        budgets.push(budget);
        slots.push(slot);
      }
    if (budgets.length) await this.#db.query(RENEW, [this.holder, this.#leaseMs, budgets, slots]);
  }

  /** Runs a write in the background: awaited by close(), logged when it fails; the promise never rejects. */
  #background(write: Promise<void>, context: Record<string, unknown>, failure: string): Promise<void> {
    const tracked = write.catch((err: unknown) => this.#log.warn({ err, ...context }, failure));
    this.#writes.add(tracked);
    void tracked.finally(() => this.#writes.delete(tracked));
    return tracked;
  }
}
