import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseBudgets } from '../../src/config.js';
import { Budgets, DEFAULT_BUDGETS } from '../../src/http/budget.js';
import type { HttpClient } from '../../src/http/client.js';
import { readBody, startServer, testClient, type TestServer } from './helpers.js';

/** A clock that only moves when someone sleeps on it. */
function fakeClock() {
  const clock = { time: 1_000_000, sleeps: [] as number[] };
  return {
    clock,
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.time += ms;
    },
  };
}

describe('parseBudgets', () => {
  it('reads <platform>:<api|download>=<concurrency>[@<per minute>] entries', () => {
    expect(parseBudgets('zenodo:api=1@30, Dryad:download=2,x.y-z:api=3@0.5')).toEqual(
      new Map([
        ['zenodo:api', { concurrency: 1, perMinute: 30 }],
        ['dryad:download', { concurrency: 2 }],
        ['x.y-z:api', { concurrency: 3, perMinute: 0.5 }],
      ]),
    );
    expect(parseBudgets('')).toEqual(new Map());
  });

  it.each(['zenodo=1', 'zenodo:upload=1', 'zenodo:api=0', 'zenodo:api=1@0', 'zenodo:api=two'])(
    'refuses "%s"',
    (text) => {
      expect(() => parseBudgets(text)).toThrow(/<platform>:<api\|download>/);
    },
  );

  it('is read from FILESET_PLATFORM_BUDGETS, and a bad value names the variable', () => {
    expect(loadConfig({ FILESET_PLATFORM_BUDGETS: 'figshare:api=1@20' }).http.budgets.get('figshare:api')).toEqual({
      concurrency: 1,
      perMinute: 20,
    });
    expect(() => loadConfig({ FILESET_PLATFORM_BUDGETS: 'figshare=1' })).toThrow(/FILESET_PLATFORM_BUDGETS/);
  });
});

describe('Budgets', () => {
  it('spaces request starts by the rate: 60 a minute is one a second', async () => {
    const { clock, now, sleep } = fakeClock();
    const budgets = new Budgets(new Map([['p:api', { concurrency: 10, perMinute: 60 }]]), { now, sleep });
    for (let i = 0; i < 3; i++) (await budgets.acquire('p:api'))();
    expect(clock.sleeps).toEqual([1000, 1000]);
  });

  it('holds the concurrency: a second request waits for the first to finish', async () => {
    const budgets = new Budgets(new Map([['p:download', { concurrency: 1 }]]));
    const first = await budgets.acquire('p:download');
    let secondStarted = false;
    const second = budgets.acquire('p:download').then((release) => {
      secondStarted = true;
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(secondStarted).toBe(false);
    first();
    (await second)();
    expect(secondStarted).toBe(true);
  });

  it('a pause holds back every later request of the budget, and only that budget', async () => {
    const { clock, now, sleep } = fakeClock();
    const budgets = new Budgets(new Map(), { now, sleep });
    (await budgets.acquire('zenodo:api'))();
    clock.sleeps.length = 0;
    clock.time += 5000; // past zenodo's rate interval
    budgets.pause('zenodo:api', 30_000);
    (await budgets.acquire('figshare:download'))();
    expect(clock.sleeps).toEqual([]);
    (await budgets.acquire('zenodo:api'))();
    expect(clock.sleeps).toEqual([30_000]);
  });

  it('tells its observer how long each platform request waited, and of every pause (not of host waits)', async () => {
    const { now, sleep } = fakeClock();
    const events: string[] = [];
    const budgets = new Budgets(
      new Map([['p:api', { concurrency: 1, perMinute: 60 }]]),
      { now, sleep },
      {
        waited: (budget, ms) => events.push(`waited ${budget} ${ms}`),
        paused: (budget, ms) => events.push(`paused ${budget} ${ms}`),
      },
    );
    (await budgets.acquire('p:api'))();
    (await budgets.acquire('p:api'))();
    budgets.pause('host:example.org', 5_000);
    (await budgets.acquire('host:example.org'))();
    expect(events).toEqual(['waited p:api 0', 'waited p:api 1000', 'paused host:example.org 5000']);
  });

  it('a "*" override applies to every budget of its kind the variable does not name', () => {
    const budgets = new Budgets(parseBudgets('*:api=8,dryad:api=1@10'));
    expect(budgets.limits('zenodo:api')).toEqual({ concurrency: 8 });
    expect(budgets.limits('dryad:api')).toEqual({ concurrency: 1, perMinute: 10 });
    expect(budgets.limits('zenodo:download')).toEqual(DEFAULT_BUDGETS['zenodo:download']);
  });

  it('has defaults for every platform API, and none for an unnamed download', () => {
    const budgets = new Budgets();
    expect(budgets.limits('dryad:api')).toEqual(DEFAULT_BUDGETS['dryad:api']);
    expect(budgets.limits('someplatform:api')).toEqual({ concurrency: 2, perMinute: 120 });
    expect(budgets.limits('someplatform:download')).toBeUndefined();
  });

  it('an abort ends a wait at once, leaving no unhandled rejection behind (regression)', async () => {
    const budgets = new Budgets(new Map([['p:api', { concurrency: 1, perMinute: 1 }]]));
    (await budgets.acquire('p:api'))();
    const controller = new AbortController();
    const waiting = budgets.acquire('p:api', controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
  });
});

describe('HttpClient with budgets', () => {
  let server: TestServer | undefined;
  let client: HttpClient | undefined;

  afterEach(async () => {
    await client?.close();
    await server?.close();
    server = undefined;
    client = undefined;
  });

  it('backs off on 429 and succeeds, even with no ordinary retries left', async () => {
    let calls = 0;
    server = await startServer((_req, res) => {
      calls += 1;
      if (calls <= 3) return void res.writeHead(429, { 'Retry-After': '2' }).end();
      res.writeHead(200).end('ok');
    });
    let sleeps: number[];
    ({ client, sleeps } = testClient({ retries: 0 }));
    const response = await client.request(`${server.origin}/`, { budget: 'p:api' });
    expect(response.statusCode).toBe(200);
    expect((await readBody(response.body)).toString()).toBe('ok');
    expect(calls).toBe(4);
    // Each 429 paused the host and the budget for Retry-After (the fake sleep lets both waits show).
    expect(sleeps.filter((ms) => ms > 1500).length).toBeGreaterThanOrEqual(3);
  });

  it('a 429 on one request pauses the other requests of the same budget until Retry-After has passed', async () => {
    const arrivals: Array<{ url: string; at: number }> = [];
    let rateLimited!: () => void;
    const sawRateLimit = new Promise<void>((resolve) => (rateLimited = resolve));
    server = await startServer((req, res) => {
      arrivals.push({ url: req.url!, at: performance.now() });
      if (req.url === '/a' && arrivals.length === 1) {
        res.writeHead(429, { 'Retry-After': '1' }).end();
        return rateLimited();
      }
      res.writeHead(200).end();
    });
    // Real sleeps here: the point is when the server sees the other request.
    let lines: Array<{ msg: string }>;
    ({ client, lines } = testClient({ budgets: new Map([['p:api', { concurrency: 4 }]]) }, { sleep: undefined }));
    const a = client.request(`${server.origin}/a`, { budget: 'p:api' });
    await sawRateLimit;
    // Once the client has read the 429 (it logs the pause), nothing of the budget may start early.
    while (!lines.some((l) => l.msg === 'rate limited: pausing'))
      await new Promise((resolve) => setTimeout(resolve, 5));
    const b = await client.request(`${server.origin}/b`, { budget: 'p:api' });
    b.body.resume();
    (await a).body.resume();
    const first429 = arrivals[0]!.at;
    const later = arrivals.slice(1);
    expect(later.map((r) => r.url).sort()).toEqual(['/a', '/b']);
    for (const request of later) expect(request.at - first429).toBeGreaterThanOrEqual(900);
  });

  it('keeps a budget to its concurrency across requests', async () => {
    let active = 0;
    let peak = 0;
    server = await startServer((_req, res) => {
      active += 1;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active -= 1;
        res.writeHead(200).end();
      }, 15);
    });
    ({ client } = testClient({ perHostConcurrency: 8, budgets: new Map([['p:download', { concurrency: 2 }]]) }));
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const response = await client!.request(`${server!.origin}/`, { budget: 'p:download' });
        await readBody(response.body);
      }),
    );
    expect(peak).toBe(2);
  });
});
