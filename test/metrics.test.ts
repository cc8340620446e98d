// The worker metrics and the Grafana dashboard that reads them: the dashboard asks only for
// series that createMetrics() exposes, shows every worker metric, and /metrics serves them.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { PERSIST_TABLES } from '../src/db/persist-rows.js';
import { Readiness } from '../src/health.js';
import { RETRYABLE_STATUSES } from '../src/http/failures.js';
import {
  createMetrics,
  HTTP_RETRY_STATUSES,
  PERSIST_TABLES_COUNTED,
  serveMetrics,
  type Metrics,
  type MetricsServer,
  type WorkerKind,
} from '../src/metrics.js';
import { silentLogger } from './support/context.js';
import { declaredSeries, promqlMetricNames, sampledSeries } from './support/promql.js';

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(
  readFileSync(new URL('../deploy/grafana/fileset-ingest.json', import.meta.url), 'utf8'),
) as Dashboard;
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');
const expressions = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Every series name a registry declares (with or without samples), mapped to its metric's name. */
async function exposedSeries(registry: ReturnType<typeof createMetrics>['registry']): Promise<Map<string, string>> {
  return declaredSeries(await registry.metrics());
}

describe('promqlMetricNames', () => {
  it('finds metrics and skips functions, labels, ranges, groupings and numbers', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.9, sum by (le, status) (rate(a_bucket{job=~"$job", x="b_total"}[$__rate_interval])))',
      ),
    ).toEqual(['a_bucket']);
    expect(promqlMetricNames('sum(rate(x_total[5m])) / sum(rate(y_total[5m])) * 1e3')).toEqual(['x_total', 'y_total']);
    expect(promqlMetricNames('topk(10, sum by (host) (rate(c_total[1m])))')).toEqual(['c_total']);
    expect(promqlMetricNames('up == bool 1 and on (instance) process_open_fds offset 5m')).toEqual([
      'up',
      'process_open_fds',
    ]);
  });
});

describe('Grafana dashboard', () => {
  it('asks only for series that createMetrics() registers (default metrics included)', async () => {
    const series = await exposedSeries(createMetrics({ readiness: new Readiness(), dataDir: tmpdir() }).registry);
    const unknown = expressions.flatMap(({ panel, expr }) =>
      promqlMetricNames(expr)
        .filter((n) => !series.has(n))
        .map((n) => `${panel}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('every expression selects at least one metric, and histogram buckets are grouped by le', () => {
    for (const { panel, expr } of expressions) {
      expect(promqlMetricNames(expr), panel).not.toEqual([]);
      if (expr.includes('_bucket'))
        expect(expr, panel).toMatch(/histogram_quantile\([\d.]+, sum by \((?:[\w, ]*\b)?le\b/);
    }
  });

  it('shows every worker metric (all but the default ones)', async () => {
    const workerSeries = await exposedSeries(createMetrics({ defaultMetrics: false }).registry);
    const shown = new Set(expressions.flatMap(({ expr }) => promqlMetricNames(expr)).map((n) => workerSeries.get(n)));
    const workerMetrics = new Set(workerSeries.values());
    expect(workerMetrics.size).toBe(21);
    expect([...workerMetrics].filter((m) => !shown.has(m))).toEqual([]);
  });

  it('shows the process metrics under the fileset_ prefix', () => {
    const names = new Set(expressions.flatMap(({ expr }) => promqlMetricNames(expr)));
    for (const name of ['fileset_process_cpu_seconds_total', 'fileset_process_resident_memory_bytes'])
      expect(names).toContain(name);
  });

  it('is importable: a Prometheus datasource variable, unique ids, a 24-column grid, queries on every panel', async () => {
    expect(dashboard.uid).toBe('fileset-ingest');
    const vars = dashboard.templating.list;
    expect(vars[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    const series = await exposedSeries(createMetrics().registry);
    for (const v of vars.filter((v) => v.type === 'query')) {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      const metric = /label_values\((\w+)/.exec(query)?.[1];
      expect(series.has(metric ?? ''), query).toBe(true);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });
});

/** The registry of a worker of `kind` after a healthy while: work done, no retry, no 429, no refused row. */
async function healthyExposition(kind: WorkerKind): Promise<string> {
  const readiness = new Readiness();
  readiness.add('database', async () => {});
  const metrics = createMetrics({ kind, readiness, dataDir: tmpdir() });
  metrics.consumerLag.set({ topic: 't', partition: '0' }, 3);
  if (kind === 'ingest') healthyIngest(metrics);
  else healthyPersist(metrics);
  return metrics.registry.metrics();
}

function healthyIngest(metrics: Metrics): void {
  metrics.requests.inc({ status: 'success', platform: 'zenodo', strategy: 'web-fileset' });
  metrics.ingestSeconds.observe({ status: 'success' }, 3);
  metrics.bytesArchived.inc({ strategy: 'web-fileset' }, 100);
  metrics.filesArchived.inc({ strategy: 'web-fileset' });
  metrics.inFlight.set(1);
  metrics.budgetWaitSeconds.observe({ budget: 'zenodo:api' }, 0.5);
}

function healthyPersist(metrics: Metrics): void {
  metrics.persistBatchSize.observe(10);
  metrics.persistSeconds.observe(0.02);
  metrics.persistRows.inc({ table: 'cdx' }, 10);
}

/** The worker kinds that must show each dashboard row's panels. */
const ROW_KINDS: Record<string, WorkerKind[]> = {
  Overview: ['ingest'],
  Ingest: ['ingest'],
  HTTP: ['ingest'],
  Kafka: ['ingest', 'persist'],
  Persist: ['persist'],
  Process: ['ingest', 'persist'],
  'WARC shipping': ['ingest'],
};

describe('worker kinds', () => {
  it("each kind of worker exports its own metrics and not the other kind's", async () => {
    const ingest = declaredSeries(await createMetrics({ kind: 'ingest' }).registry.metrics());
    const persist = declaredSeries(await createMetrics({ kind: 'persist' }).registry.metrics());
    const names = (series: Map<string, string>) => [...new Set(series.values())].filter((n) => !isDefault(n));
    expect(names(ingest).filter((n) => n.startsWith('fileset_persist_'))).toEqual([]);
    expect(names(persist).filter((n) => /^fileset_(ingest_(?!skipped|infra)|http_|budget_)/.test(n))).toEqual([]);
    expect(names(ingest)).toContain('fileset_http_rate_limited_total');
    expect(names(persist)).toContain('fileset_persist_rejected_rows_total');
    for (const shared of ['fileset_kafka_consumer_lag', 'fileset_ingest_infra_retries_total']) {
      expect(names(ingest)).toContain(shared);
      expect(names(persist)).toContain(shared);
    }
    // Counting a metric of the other kind does no harm and exports nothing.
    const metrics = createMetrics({ kind: 'persist', defaultMetrics: false });
    metrics.requests.inc({ status: 'success', platform: 'zenodo', strategy: 'web-fileset' });
    expect(await metrics.registry.metrics()).not.toContain('fileset_ingest_requests_total');
  });

  it('starts the series whose labels are known at 0: retries, HTTP retries, rejected rows', async () => {
    const ingest = await createMetrics({ kind: 'ingest', defaultMetrics: false }).registry.metrics();
    for (const reason of ['ingest', 'unexpected', 'broker', 'consumer-restart'])
      expect(ingest).toContain(`fileset_ingest_infra_retries_total{reason="${reason}"} 0`);
    for (const status of RETRYABLE_STATUSES)
      expect(ingest).toContain(`fileset_http_retries_total{reason="${status}"} 0`);
    const persist = await createMetrics({ kind: 'persist', defaultMetrics: false }).registry.metrics();
    for (const reason of ['database', 'consumer-restart'])
      expect(persist).toContain(`fileset_ingest_infra_retries_total{reason="${reason}"} 0`);
    for (const table of [...PERSIST_TABLES, 'result'])
      expect(persist).toContain(`fileset_persist_rejected_rows_total{table="${table}"} 0`);
  });

  it('keeps its label lists equal to the code that counts them', () => {
    expect(HTTP_RETRY_STATUSES.map(Number)).toEqual([...RETRYABLE_STATUSES]);
    expect(PERSIST_TABLES_COUNTED).toEqual([...PERSIST_TABLES, 'result']);
  });

  it("exports readiness and the data directory's free space, computed at scrape time", async () => {
    const readiness = new Readiness();
    let databaseUp = true;
    readiness.add('database', async () => {
      if (!databaseUp) throw new Error('connection refused');
    });
    readiness.add('kafka', async () => {});
    const registry = createMetrics({ kind: 'ingest', defaultMetrics: false, readiness, dataDir: tmpdir() }).registry;
    let text = await registry.metrics();
    expect(text).toContain('fileset_ready 1');
    expect(text).toContain('fileset_readiness_check{check="database"} 1');
    databaseUp = false;
    text = await registry.metrics();
    expect(text).toContain('fileset_ready 0');
    expect(text).toContain('fileset_readiness_check{check="database"} 0');
    expect(text).toContain('fileset_readiness_check{check="kafka"} 1');
    const free = Number(/^fileset_data_dir_free_bytes (\S+)$/m.exec(text)?.[1]);
    const size = Number(/^fileset_data_dir_size_bytes (\S+)$/m.exec(text)?.[1]);
    expect(free).toBeGreaterThan(0);
    expect(size).toBeGreaterThanOrEqual(free);
  });
});

describe('Grafana dashboard on a healthy fleet', () => {
  it('every panel has data from the worker kind its row is about', async () => {
    const sampled = {
      ingest: sampledSeries(await healthyExposition('ingest')),
      persist: sampledSeries(await healthyExposition('persist')),
    };
    let row = '';
    const empty: string[] = [];
    for (const panel of dashboard.panels) {
      if (panel.type === 'row') {
        row = panel.title;
        continue;
      }
      const kinds = ROW_KINDS[row];
      expect(kinds, `row ${row}`).toBeDefined();
      for (const { expr } of panel.targets ?? []) {
        // `or vector(0)`: a series that exists only after an event (a 429 names its host) shows 0 until then.
        if (/\bor vector\(0\)$/.test(expr)) continue;
        for (const kind of kinds!)
          for (const name of promqlMetricNames(expr))
            if (!sampled[kind].has(name)) empty.push(`${row} / ${panel.title}: ${name} (${kind} worker)`);
      }
    }
    expect(empty).toEqual([]);
  });
});

function isDefault(name: string): boolean {
  return /^fileset_(process|nodejs)_/.test(name);
}

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveMetrics', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves /metrics in the Prometheus text format on an ephemeral port', async () => {
    const metrics = createMetrics();
    metrics.requests.inc({ status: 'success', platform: 'zenodo', strategy: 'web-fileset' }, 2);
    metrics.inFlight.set(3);
    metrics.persistBatchSize.observe(7);
    metrics.consumerLag.set({ topic: 'sandcrawler-dev.ingest-file-requests-daily', partition: '5' }, 42);
    server = await serveMetrics(metrics, '127.0.0.1', 0, silentLogger);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/metrics$/);

    const res = await get(server.url);
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const lines = res.body.split('\n');
    expect(lines).toContain(
      'fileset_ingest_requests_total{status="success",platform="zenodo",strategy="web-fileset"} 2',
    );
    expect(lines).toContain('fileset_ingest_in_flight 3');
    expect(lines).toContain('fileset_persist_batch_size_bucket{le="1"} 0');
    expect(lines).toContain('fileset_persist_batch_size_bucket{le="10"} 1');
    expect(lines).toContain('fileset_persist_batch_size_sum 7');
    expect(lines).toContain('fileset_persist_batch_size_count 1');
    expect(lines).toContain(
      'fileset_kafka_consumer_lag{topic="sandcrawler-dev.ingest-file-requests-daily",partition="5"} 42',
    );
    for (const name of new Set((await exposedSeries(metrics.registry)).values())) {
      expect(res.body).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect((await get(`${server.url}?debug=1`)).status).toBe(200);
  });

  it('answers 404 on other paths and methods', async () => {
    server = await serveMetrics(createMetrics({ defaultMetrics: false }), '127.0.0.1', 0, silentLogger);
    const base = server.url.replace(/\/metrics$/, '');
    for (const path of ['/', '/metric', '/metrics/', '/metrics/x', '/favicon.ico']) {
      const res = await get(base + path);
      expect([path, res.status, res.body]).toEqual([path, 404, 'not found: try /metrics, /healthz or /readyz\n']);
    }
    expect((await get(server.url, 'POST')).status).toBe(404);
  });

  it('answers /healthz while the process runs, and /readyz by the readiness checks', async () => {
    const readiness = new Readiness({ timeoutMs: 200 });
    server = await serveMetrics(createMetrics({ defaultMetrics: false }), '127.0.0.1', 0, silentLogger, readiness);
    const base = server.url.replace(/\/metrics$/, '');
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, type: 'text/plain', body: 'ok\n' });
    const starting = await get(`${base}/readyz`);
    expect([starting.status, JSON.parse(starting.body)]).toEqual([
      503,
      { ready: false, checks: { worker: 'starting' } },
    ]);

    let brokerUp = false;
    readiness.add('database', async () => {});
    const removeKafka = readiness.add('kafka', async () => {
      if (!brokerUp) throw new Error('not a member of group g');
    });
    const notJoined = await get(`${base}/readyz`);
    expect(notJoined.type).toBe('application/json');
    expect([notJoined.status, JSON.parse(notJoined.body)]).toEqual([
      503,
      { ready: false, checks: { database: 'ok', kafka: 'not a member of group g' } },
    ]);
    brokerUp = true;
    const ready = await get(`${base}/readyz?verbose`);
    expect([ready.status, JSON.parse(ready.body)]).toEqual([
      200,
      { ready: true, checks: { database: 'ok', kafka: 'ok' } },
    ]);
    // A check that hangs fails after the timeout instead of holding the probe.
    readiness.add(
      'store',
      (signal) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    );
    const hung = await get(`${base}/readyz`);
    expect([hung.status, JSON.parse(hung.body).checks.store]).toEqual([503, 'no answer within 200 ms']);
    removeKafka();
    expect(Object.keys(JSON.parse((await get(`${base}/readyz`)).body).checks)).toEqual(['database', 'store']);
  });
});
