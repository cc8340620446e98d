// The worker metrics and the Grafana dashboard that reads them: the dashboard asks only for
// series that createMetrics() exposes, shows every worker metric, and /metrics serves them.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, serveMetrics, type MetricsServer } from '../src/metrics.js';
import { silentLogger } from './support/context.js';

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

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);

/**
 * The metric names a PromQL expression selects: strings, label matchers, ranges and grouping
 * lists are removed, then every identifier that is not a function call or a keyword is a metric.
 */
function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w.:$])[A-Za-z_:][\w:]*/g)) {
    const isCall = /^\s*\(/.test(bare.slice(match.index + match[0].length));
    if (!isCall && !PROMQL_KEYWORDS.has(match[0])) names.add(match[0]);
  }
  return [...names];
}

/** Every series name a registry exposes, from its `# TYPE` lines (present before any sample). */
async function exposedSeries(registry: ReturnType<typeof createMetrics>['registry']): Promise<Map<string, string>> {
  const series = new Map<string, string>();
  for (const [, name, type] of (await registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes =
      type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) series.set(name! + suffix, name!);
  }
  return series;
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
    const series = await exposedSeries(createMetrics().registry);
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
    expect(workerMetrics.size).toBe(14);
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
      expect([path, res.status, res.body]).toEqual([path, 404, 'not found: try /metrics\n']);
    }
    expect((await get(server.url, 'POST')).status).toBe(404);
  });
});
