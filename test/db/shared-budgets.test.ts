// Request budgets shared through PostgreSQL. Each SharedBudgets has its own pool here, as separate
// workers would (test/db/shared-budgets-fleet.test.ts runs them in separate processes). Only lower
// bounds of time are asserted: a loaded machine makes waits longer, never shorter.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { SharedBudgets, type SharedBudgetsOptions } from '../../src/db/shared-budgets.js';
import type { Database } from '../../src/db/database.js';
import type { Release } from '../../src/http/host-limiter.js';
import { silentLogger } from '../support/context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { waitFor, watchProcess, type WorkerProcess } from '../support/kafka.js';
import { startTcpProxy, targetOf, viaProxy } from '../support/tcp-proxy.js';
import { InfrastructureError } from '../../src/errors.js';
import { HttpClient } from '../../src/http/client.js';
import { testConfig } from '../http/helpers.js';
import { startServer, type TestServer } from '../http/helpers.js';

let database: TestDatabase;
const open: Array<{ db: Database; budgets: SharedBudgets }> = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const db = await openPostgres(database.url, silentLogger);
  await migrate(db, silentLogger);
  await db.close();
});

afterEach(async () => {
  for (const { db, budgets } of open.splice(0)) {
    await budgets.close();
    await db.close();
  }
});

afterAll(async () => {
  await database?.drop();
});

/** A worker's budgets: its own pool on the shared database; `statements` collects what it runs. */
async function worker(
  budgets: string,
  options: Partial<SharedBudgetsOptions> = {},
  statements?: string[],
): Promise<SharedBudgets> {
  const db = await openPostgres(database.url, silentLogger, { max: 4 });
  const counted: Database = {
    kind: db.kind,
    query: (sql, params) => (statements?.push(sql.trim().split(/\s+/).slice(0, 3).join(' ')), db.query(sql, params)),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  const shared = new SharedBudgets(counted, {
    overrides: parse(budgets),
    logger: silentLogger,
    maxPollMs: 50,
    ...options,
  });
  open.push({ db, budgets: shared });
  return shared;
}

function parse(text: string) {
  return new Map(
    text.split(',').map((entry) => {
      const [name, value] = entry.split('=') as [string, string];
      const [concurrency, perMinute] = value.split('@');
      return [name, { concurrency: Number(concurrency), ...(perMinute ? { perMinute: Number(perMinute) } : {}) }];
    }),
  );
}

async function leases(budget: string): Promise<Array<{ slot: number; holder: string }>> {
  const db = open[0]!.db;
  return db.query(
    'SELECT slot, holder FROM fileset_budget_lease WHERE budget = $1 AND expires_at > clock_timestamp() ORDER BY slot',
    [budget],
  );
}

describe('SharedBudgets', () => {
  it('holds a concurrency of 2 across three workers: a third request waits for a release anywhere', async () => {
    const [a, b, c] = [await worker('c1:download=2'), await worker('c1:download=2'), await worker('c1:download=2')];
    const first = await a.acquire('c1:download');
    const second = await b.acquire('c1:download');
    // Which slot each took depends on where each looked first: the slots are a set.
    expect((await leases('c1:download')).map((l) => l.holder).sort()).toEqual([a.holder, b.holder].sort());
    let third: Release | undefined;
    const waiting = c.acquire('c1:download').then((release) => (third = release));
    // The third worker keeps asking; the slot it gets is the one given back.
    await waitFor(async () => (await leases('c1:download')).length === 2);
    expect(third).toBeUndefined();
    first();
    await waiting;
    expect((await leases('c1:download')).map((l) => l.holder).sort()).toEqual([b.holder, c.holder].sort());
    second();
    third!();
    await waitFor(async () => (await leases('c1:download')).length === 0, { what: () => 'leases given back' });
  });

  it('a lease its holder stops renewing expires, and the slot goes to another worker', async () => {
    const dying = await worker('c2:download=1', { leaseMs: 600 });
    const other = await worker('c2:download=1');
    await dying.acquire('c2:download');
    const [lease] = await open[0]!.db.query<{ expires_at: Date }>(
      'SELECT expires_at FROM fileset_budget_lease WHERE budget = $1',
      ['c2:download'],
    );
    // The holder's pool goes away without giving the lease back: it cannot renew it any more.
    await open.shift()!.db.close();
    await other.acquire('c2:download');
    expect(Date.now()).toBeGreaterThanOrEqual(lease!.expires_at.getTime());
    expect((await leases('c2:download')).map((l) => l.holder)).toEqual([other.holder]);
    await dying.close(); // its pool is gone: nothing to give back, it only stops its timer
  });

  it('renews the leases of running requests, so a long request keeps its slot', async () => {
    const holder = await worker('c3:download=1', { leaseMs: 1_000 });
    const other = await worker('c3:download=1');
    const release = await holder.acquire('c3:download');
    let taken = false;
    const waiting = other.acquire('c3:download').then((r) => {
      taken = true;
      return r;
    });
    // Several lease periods pass; the renewed lease stays the holder's.
    const until = Date.now() + 2_500;
    await waitFor(() => Date.now() > until, { timeoutMs: 10_000 });
    expect(taken).toBe(false);
    expect((await leases('c3:download')).map((l) => l.holder)).toEqual([holder.holder]);
    release();
    (await waiting)();
  });

  it('a pause seen by one worker holds back the budget and the host in every worker', async () => {
    const seer = await worker('p1:api=4');
    const other = await worker('p1:api=4');
    (await other.acquire('p1:api'))();
    const pausedAt = Date.now();
    seer.pause('p1:api', 800);
    seer.pause('host:p1.example.org', 800);
    await waitFor(
      async () =>
        (
          await open[0]!.db.query(
            `SELECT 1 FROM fileset_budget WHERE budget IN ('p1:api', 'host:p1.example.org') AND paused_until > clock_timestamp()`,
          )
        ).length === 2,
    );
    (await other.acquire('p1:api'))();
    expect(Date.now()).toBeGreaterThanOrEqual(pausedAt + 800);
    (await other.acquire('host:p1.example.org'))();
    expect(Date.now()).toBeGreaterThanOrEqual(pausedAt + 800);
  });

  it('reads the paused hosts once for many requests at once, and again only when the read is 200 ms old', async () => {
    const statements: string[] = [];
    const budgets = await worker('h:api=1', {}, statements);
    await Promise.all(Array.from({ length: 20 }, async () => (await budgets.acquire('host:many.example.org'))()));
    expect(statements).toEqual(['SELECT budget, extract(epoch']);
    const read = Date.now();
    await waitFor(() => Date.now() > read + 250, { timeoutMs: 10_000 });
    (await budgets.acquire('host:many.example.org'))();
    expect(statements).toHaveLength(2);
  });

  it('takes a slot this process just gave back without asking twice (the release reaches the database first)', async () => {
    const statements: string[] = [];
    const budgets = await worker('one:download=1', {}, statements);
    for (let i = 0; i < 5; i++) (await budgets.acquire('one:download'))();
    await budgets.close();
    const takes = statements.filter((sql) => sql.startsWith('WITH free AS'));
    expect(takes).toHaveLength(5);
  });

  it('requests taking slots at the same moment take different ones, none waiting for a retry', async () => {
    const statements: string[] = [];
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    const budgets = await worker('many:download=8', { sleep }, statements);
    const releases = await Promise.all(Array.from({ length: 8 }, () => budgets.acquire('many:download')));
    expect((await leases('many:download')).map((l) => l.slot)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(waits).toEqual([]);
    expect(statements.filter((sql) => sql.startsWith('WITH free AS'))).toHaveLength(8);
    for (const release of releases) release();
  });

  it("a start claimed after waiting for another claim's row lock counts its interval from the claim, not from before the wait", async () => {
    // 12 a minute: 5 s between starts. The row is claimable; another transaction holds its lock for 2 s.
    const budgets = await worker('lock:api=1@12');
    (await budgets.acquire('lock:api'))();
    const db = open[0]!.db;
    await db.query(
      "UPDATE fileset_budget SET next_start = clock_timestamp() - interval '1 second' WHERE budget = 'lock:api'",
    );
    const other = await openPostgres(database.url, silentLogger, { max: 1 });
    try {
      let claimed: Promise<Release> | undefined;
      await other.transaction(async (tx) => {
        await tx.query("SELECT 1 FROM fileset_budget WHERE budget = 'lock:api' FOR UPDATE");
        claimed = budgets.acquire('lock:api');
        await waitFor(
          async () =>
            (
              await db.query(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
              )
            ).length > 0,
          { what: () => 'the claim to wait for the row lock' },
        );
        const held = Date.now();
        await waitFor(() => Date.now() > held + 2000, { timeoutMs: 10_000 });
      });
      (await claimed!)();
      const [row] = await db.query<{ ahead_ms: number }>(
        "SELECT extract(epoch FROM next_start - clock_timestamp())::float8 * 1000 AS ahead_ms FROM fileset_budget WHERE budget = 'lock:api'",
      );
      // Counted from before the wait, the next start would be about 3 s ahead; from the claim, about 5 s.
      expect(row!.ahead_ms).toBeGreaterThan(4000);
    } finally {
      await other.close();
    }
  });

  it('spaces the starts of a budget by its rate across workers', async () => {
    const workers = [await worker('r1:api=9@600'), await worker('r1:api=9@600'), await worker('r1:api=9@600')];
    const started = Date.now();
    // 600 a minute: one start per 100 ms, so 9 starts take at least 800 ms whoever makes them.
    await Promise.all(workers.flatMap((w) => [1, 2, 3].map(async () => (await w.acquire('r1:api'))())));
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it('keeps no state for a host that never answered 429, and none for a budget it does not know', async () => {
    const budgets = await worker('k:api=1');
    (await budgets.acquire('host:quiet.example.org'))();
    (await budgets.acquire('nobody:download'))();
    expect(
      await open[0]!.db.query(
        `SELECT budget FROM fileset_budget WHERE budget IN ('host:quiet.example.org', 'nobody:download')`,
      ),
    ).toEqual([]);
    expect(await leases('nobody:download')).toEqual([]);
  });

  it('close() gives back the leases still held', async () => {
    const budgets = await worker('g:download=3');
    await budgets.acquire('g:download');
    await budgets.acquire('g:download');
    expect(await leases('g:download')).toHaveLength(2);
    await budgets.close();
    expect(await leases('g:download')).toEqual([]);
  });

  it("a database outage fails the request as our infrastructure, never as the platform's network error (regression)", async () => {
    const proxy = await startTcpProxy(targetOf(database.url));
    try {
      const db = await openPostgres(viaProxy(database.url, proxy), silentLogger, { max: 1 });
      const budgets = new SharedBudgets(db, { overrides: parse('down:api=1'), logger: silentLogger });
      open.push({ db, budgets });
      const retries: string[] = [];
      const http = new HttpClient({
        config: testConfig(),
        logger: silentLogger,
        budgets,
        retryBaseDelayMs: 1,
        onRetry: (reason) => retries.push(reason),
      });
      await proxy.cut();
      const failure = await http
        .request('http://127.0.0.1:9/never', { budget: 'down:api' })
        .catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(InfrastructureError);
      expect(retries).toEqual([]); // the host was not asked again for our database's trouble
      await http.close();
    } finally {
      await proxy.close();
    }
  });

  it('an aborted wait for a slot takes no slot', async () => {
    const a = await worker('ab:download=1');
    const b = await worker('ab:download=1');
    const release = await a.acquire('ab:download');
    const controller = new AbortController();
    const waiting = b.acquire('ab:download', controller.signal);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    expect((await leases('ab:download')).map((l) => l.holder)).toEqual([a.holder]);
    release();
  });
});

/** A killed holder's lease lasts this long after its last renewal. */
const FLEET_LEASE_MS = 4_000;

/** A budget user in its own process: an HttpClient on SharedBudgets, fetching the URLs it is sent on stdin. */
const BUDGET_USER = `
  const { createInterface } = await import('node:readline');
  const { loadConfig } = await import('./src/config.ts');
  const { createLogger } = await import('./src/logger.ts');
  const { openDatabase } = await import('./src/db/database.ts');
  const { SharedBudgets } = await import('./src/db/shared-budgets.ts');
  const { HttpClient } = await import('./src/http/client.ts');
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config, logger);
  const budgets = new SharedBudgets(db, { overrides: config.http.budgets, logger, leaseMs: ${FLEET_LEASE_MS}, maxPollMs: 100 });
  const http = new HttpClient({ config, logger, budgets });
  process.stderr.write('ready ' + budgets.holder + '\\n');
  for await (const line of createInterface({ input: process.stdin })) {
    await Promise.all(JSON.parse(line).map(async ({ url, budget }) => {
      const response = await http.request(url, budget ? { budget } : {});
      for await (const _ of response.body);
    }));
    process.stderr.write('done\\n');
  }
  await http.close();
  await budgets.close();
  await db.close();`;

interface BudgetUser {
  process: WorkerProcess;
  holder: string;
  /** Fetches the URLs (at once), each under its budget; resolves when all are done. */
  fetch(jobs: Array<{ url: string; budget?: string }>): Promise<void>;
}

async function startBudgetUser(env: Record<string, string>): Promise<BudgetUser> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', BUDGET_USER], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const proc = watchProcess(child);
  const lines = () => proc.stderr().split('\n');
  await waitFor(() => lines().some((l) => l.startsWith('ready ')) || proc.exitCode() !== undefined, {
    timeoutMs: 60_000,
    what: () => `budget user to start: ${proc.stderr()}`,
  });
  const holder = lines()
    .find((l) => l.startsWith('ready '))
    ?.slice('ready '.length);
  if (!holder) throw new Error(`budget user failed: ${proc.stderr()}`);
  let batches = 0;
  return {
    process: proc,
    holder,
    async fetch(jobs) {
      const done = ++batches;
      child.stdin!.write(`${JSON.stringify(jobs)}\n`);
      await waitFor(() => lines().filter((l) => l === 'done').length >= done || proc.exitCode() !== undefined, {
        timeoutMs: 120_000,
        what: () => `budget user to finish: ${proc.stderr().slice(-2000)}`,
      });
      if (proc.exitCode() !== undefined) throw new Error(`budget user exited: ${proc.stderr().slice(-2000)}`);
    },
  };
}

/** Requests as the server saw them: path, the server's own clock at arrival, the status it answered. */
interface Seen {
  path: string;
  at: number;
  status?: number;
}

describe('SharedBudgets in separate processes against one server', () => {
  let server: TestServer;
  const seen: Seen[] = [];
  let users: BudgetUser[] = [];
  let limitedAnswered = false;

  beforeAll(async () => {
    server = await startServer((req: IncomingMessage, res: ServerResponse) => {
      const entry: Seen = { path: req.url ?? '', at: Date.now() };
      seen.push(entry);
      if (entry.path.startsWith('/hang')) return; // never answered: its budget slot stays taken
      // The first request for /limited is told to come back in 3 s; the rest are served.
      const limited = entry.path.startsWith('/limited') && !limitedAnswered;
      if (limited) limitedAnswered = true;
      entry.status = limited ? 429 : 200;
      res.writeHead(entry.status, limited ? { 'Retry-After': '3' } : {}).end('ok');
    });
    const env = {
      FILESET_DATABASE_URL: database.url,
      FILESET_HTTP_ALLOW_PRIVATE: 'true',
      // 60 a minute: one start a second for the fleet, whichever process makes it.
      FILESET_PLATFORM_BUDGETS: 'fleet:api=2@60,slow:download=1',
      FILESET_LOG_LEVEL: 'warn',
    };
    users = await Promise.all([1, 2, 3, 4].map(() => startBudgetUser(env)));
  }, 120_000);

  afterAll(async () => {
    for (const user of users) {
      user.process.child.stdin?.end();
      if (user.process.exitCode() === undefined) user.process.child.kill('SIGKILL');
    }
    await server?.close();
  });

  it('three processes with a shared budget of 4 per 4 s: the server never sees more than 5 in any 4 s', async () => {
    const [a, b, c] = users as [BudgetUser, BudgetUser, BudgetUser];
    const jobs = (who: string) =>
      [1, 2, 3].map((i) => ({ url: `${server.origin}/rate?${who}${i}`, budget: 'fleet:api' }));
    await Promise.all([a.fetch(jobs('a')), b.fetch(jobs('b')), c.fetch(jobs('c'))]);
    const arrivals = seen.filter((s) => s.path.startsWith('/rate')).map((s) => s.at);
    expect(arrivals).toHaveLength(9);
    const windowMs = 4_000;
    const busiest = Math.max(...arrivals.map((t) => arrivals.filter((u) => u >= t && u < t + windowMs).length));
    // Per-process budgets would let all 9 through in well under a second.
    expect(busiest).toBeLessThanOrEqual(5);
  }, 120_000);

  it("a 429 with Retry-After seen by one process stops the others' requests to that host for that long", async () => {
    const [a, b, c] = users as [BudgetUser, BudgetUser, BudgetUser];
    const first = a.fetch([{ url: `${server.origin}/limited?a`, budget: 'fleet:api' }]);
    // Once the pause is in the database, the others ask: one under the platform budget, one under none.
    await waitFor(async () => (await pausedBudgets()).includes('host:127.0.0.1'), { what: () => 'the shared pause' });
    await Promise.all([
      b.fetch([{ url: `${server.origin}/limited?b`, budget: 'fleet:api' }]),
      c.fetch([{ url: `${server.origin}/limited?c` }]),
      first,
    ]);
    const log = seen.filter((s) => s.path.startsWith('/limited'));
    expect(log[0]).toMatchObject({ path: '/limited?a', status: 429 });
    expect(
      log
        .slice(1)
        .map((s) => `${s.path} ${s.status}`)
        .sort(),
    ).toEqual(['/limited?a 200', '/limited?b 200', '/limited?c 200']);
    // Nothing reached the host until the Retry-After had passed, by the server's own clock.
    for (const later of log.slice(1)) expect(later.at - log[0]!.at, later.path).toBeGreaterThanOrEqual(3_000);
  }, 120_000);

  it("a killed holder's concurrency lease expires and another process gets the slot", async () => {
    const doomed = users[3]!;
    void doomed.fetch([{ url: `${server.origin}/hang`, budget: 'slow:download' }]).catch(() => {});
    await waitFor(() => seen.some((s) => s.path === '/hang'), { what: () => 'the held request' });
    const db = await openPostgres(database.url, silentLogger);
    const survivor = new SharedBudgets(db, {
      overrides: parse('slow:download=1'),
      logger: silentLogger,
      maxPollMs: 100,
    });
    open.push({ db, budgets: survivor });
    const holders = async () =>
      (
        await db.query<{ holder: string; expires_at: Date }>(
          'SELECT holder, expires_at FROM fileset_budget_lease WHERE budget = $1',
          ['slow:download'],
        )
      )[0];
    expect((await holders())?.holder).toBe(doomed.holder);
    let acquired: number | undefined;
    const waiting = survivor.acquire('slow:download').then((release) => {
      acquired = Date.now();
      return release;
    });
    doomed.process.child.kill('SIGKILL');
    await doomed.process.exited();
    // The slot was the dead process's until its last renewal ran out, then it is the survivor's.
    expect(acquired).toBeUndefined();
    const lastLease = (await holders())!;
    const release = await waiting;
    if (lastLease.holder === doomed.holder) expect(acquired!).toBeGreaterThanOrEqual(lastLease.expires_at.getTime());
    expect((await holders())?.holder).toBe(survivor.holder);
    release();
  }, 120_000);
});

async function pausedBudgets(): Promise<string[]> {
  const db = await openPostgres(database.url, silentLogger, { max: 1 });
  try {
    const rows = await db.query<{ budget: string }>(
      'SELECT budget FROM fileset_budget WHERE paused_until > clock_timestamp()',
    );
    return rows.map((r) => r.budget);
  } finally {
    await db.close();
  }
}
