// Benchmark: what request budgets cost per request. The same HTTP requests against a local server
// on loopback (a round trip far shorter than any platform's) under one platform budget, with the
// budgets of this process and with the budgets shared through a fresh PostgreSQL database; then
// budget acquire+release alone, one at a time and from three pools at once. The budget limits are
// set high, so that only the bookkeeping is measured, not waits.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { openPostgres } from '../src/db/postgres.js';
import { migrate } from '../src/db/migrate.js';
import { SharedBudgets } from '../src/db/shared-budgets.js';
import type { Database } from '../src/db/database.js';
import { Budgets, type RequestBudgets } from '../src/http/budget.js';
import { HttpClient } from '../src/http/client.js';
import { benchScale, fmt, log, markdownTable, withCleanup, withDatabase, type BenchReport } from './lib.js';

const logger = pino({ level: 'silent' });
const BUDGET = 'bench:api';
const LIMITS = new Map([[BUDGET, { concurrency: 64 }]]);
const WORKERS = 3;
const PER_WORKER_CONCURRENCY = 8;

interface Row {
  what: string;
  count: number;
  seconds: number;
  /** Milliseconds per operation, one at a time. */
  latencies?: number[];
}

export async function budgetsBench(): Promise<BenchReport> {
  const count = Math.max(200, Math.round(2_000 * benchScale()));
  const rows: Row[] = [];
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  await withCleanup(
    () => closeServer(server),
    () =>
      withDatabase('postgres', async (databaseUrl) => {
        const pools: Database[] = [];
        for (let i = 0; i < WORKERS; i++) pools.push(await openPostgres(databaseUrl!, logger, { max: 4 }));
        await migrate(pools[0]!, logger);
        const shared = pools.map((db) => new SharedBudgets(db, { overrides: LIMITS, logger }));
        try {
          log(`${count} requests to a loopback server, one at a time`);
          const bare = client();
          rows.push(await sequential('HTTP request, no budget', count, () => request(bare, url, undefined)));
          const local = client(new Budgets(LIMITS));
          rows.push(await sequential('HTTP request, budget of this process', count, () => request(local, url, BUDGET)));
          const fleet = client(shared[0]);
          rows.push(
            await sequential('HTTP request, budget shared in PostgreSQL', count, () => request(fleet, url, BUDGET)),
          );
          log('budget acquire + release alone');
          const inProcess = new Budgets(LIMITS);
          rows.push(await sequential('acquire + release, this process', count, () => cycle(inProcess)));
          rows.push(await sequential('acquire + release, shared', count, () => cycle(shared[0]!)));
          rows.push(
            await parallel(
              `acquire + release, shared, ${WORKERS} pools × ${PER_WORKER_CONCURRENCY} at once`,
              count,
              shared,
            ),
          );
        } finally {
          for (const budgets of shared) await budgets.close();
          for (const db of pools) await db.close();
        }
      }),
  );
  return { markdown: report(count, rows), invalid: [] };
}

function client(budgets?: RequestBudgets): HttpClient {
  const config = loadConfig({ FILESET_HTTP_ALLOW_PRIVATE: 'true', FILESET_LOG_LEVEL: 'silent' });
  return new HttpClient({ config, logger, ...(budgets ? { budgets } : {}) });
}

async function request(http: HttpClient, url: string, budget: string | undefined): Promise<void> {
  const response = await http.request(url, budget ? { budget } : {});
  for await (const chunk of response.body) void chunk;
}

/** A request's budget work: its platform budget, then its host budget, then giving the slot back. */
async function cycle(budgets: RequestBudgets): Promise<void> {
  const release = await budgets.acquire(BUDGET);
  (await budgets.acquire('host:127.0.0.1'))();
  release();
}

async function sequential(what: string, count: number, op: () => Promise<void>): Promise<Row> {
  for (let i = 0; i < Math.min(50, count); i++) await op(); // warm up connections and JIT
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await op();
    latencies.push(performance.now() - t);
  }
  return { what, count, seconds: (performance.now() - start) / 1000, latencies };
}

async function parallel(what: string, count: number, budgets: SharedBudgets[]): Promise<Row> {
  let left = count;
  const start = performance.now();
  await Promise.all(
    budgets.flatMap((b) =>
      Array.from({ length: PER_WORKER_CONCURRENCY }, async () => {
        while (left-- > 0) await cycle(b);
      }),
    ),
  );
  return { what, count, seconds: (performance.now() - start) / 1000 };
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function report(count: number, rows: Row[]): string {
  const table = markdownTable(
    ['what', 'operations', 'per second', 'wall ms / operations', 'p50 ms', 'p99 ms'],
    rows.map((r) => [
      r.what,
      String(r.count),
      fmt(r.count / r.seconds, 0),
      fmt((r.seconds * 1000) / r.count, 3),
      r.latencies ? fmt(quantile(r.latencies, 0.5), 3) : '–',
      r.latencies ? fmt(quantile(r.latencies, 0.99), 3) : '–',
    ]),
  );
  return (
    `${count} operations per line against the local PostgreSQL and a server on loopback. A shared ` +
    `acquire + release is one statement (take a slot and claim a start) and a second in the ` +
    `background (give the slot back); the paused hosts are read at most every 200 ms; the ` +
    `in-process budget is the same work in memory.\n\n${table}`
  );
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
