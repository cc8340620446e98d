// The metric names a PromQL expression reads, for the checks of the Grafana dashboard and the
// Prometheus alerting rules against the metrics the workers export.

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
export function promqlMetricNames(expr: string): string[] {
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

/** Every series name the text exposition declares, from its `# TYPE` lines (present before any sample). */
export function declaredSeries(exposition: string): Map<string, string> {
  const series = new Map<string, string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes =
      type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) series.set(name! + suffix, name!);
  }
  return series;
}

/** The series names that have at least one sample in the text exposition. */
export function sampledSeries(exposition: string): Set<string> {
  return new Set([...exposition.matchAll(/^([A-Za-z_:][\w:]*)(?:\{[^}]*\})? \S+$/gm)].map((m) => m[1]!));
}
