// deploy/: the systemd template units and their environment file, and docker-compose.yml. Units
// and compose file are parsed and their key settings checked; their commands must be commands the
// CLI has; the units' port scheme is run; systemd-analyze and the compose client check them when
// they are installed.
import { execFile, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_NAMES, flagName, loadConfig } from '../src/config.js';
import { Readiness } from '../src/health.js';
import { DRAIN_GRACE_MS } from '../src/kafka/consumer.js';
import { createMetrics, type WorkerKind } from '../src/metrics.js';
import { openPostgres } from '../src/db/postgres.js';
import { migrate } from '../src/db/migrate.js';
import { persistResults } from '../src/db/persist.js';
import { newResult } from '../src/pipeline/result.js';
import { parseRequest } from '../src/schemas/request.js';
import { silentLogger } from './support/context.js';
import { createTestDatabase } from './support/database.js';
import { declaredSeries, promqlMetricNames } from './support/promql.js';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const hasTool = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** Command words of every `Usage: fileset-ingest ...` line in the CLI and its command modules. */
async function cliCommands(): Promise<string[][]> {
  const sources = [read('src/cli.ts')];
  for (const file of await readdir(join(root, 'src/commands'))) sources.push(read(`src/commands/${file}`));
  const commands = [['--help']];
  for (const source of sources) {
    for (const [, rest] of source.matchAll(/Usage: fileset-ingest ([^\n`]*)/g)) {
      // The command words end at the first placeholder or option: <url>, [file|-], --topic, TOPIC.
      const literal: string[] = [];
      for (const word of rest!.split(/\s+/)) {
        if (!/^[a-z][a-z-]*$/.test(word)) break;
        literal.push(word);
      }
      if (literal.length) commands.push(literal);
    }
  }
  return commands;
}
const isCliCommand = (commands: string[][], argv: string[]) =>
  commands.some((c) => c.length <= argv.length && c.every((w, i) => argv[i] === w));

/** systemd unit file: section → key → values in order (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim() || /^[#;]/.test(line)) continue;
    if (line.endsWith('\\')) throw new Error(`continuation lines are not parsed here: ${line}`);
    const section = /^\[(.+)\]$/.exec(line);
    if (section) sections.set(section[1]!, (current = new Map()));
    else {
      const eq = line.indexOf('=');
      const key = line.slice(0, eq).trim();
      current!.set(key, [...(current!.get(key) ?? []), line.slice(eq + 1).trim()]);
    }
  }
  return sections;
}

const seconds = (span: string) => Number(/^(\d+)s?$/.exec(span)?.[1] ?? NaN);

const UNITS = [
  { file: 'fileset-ingest-worker@.service', argv: ['worker', 'ingest'], base: 9400 },
  { file: 'fileset-persist-worker@.service', argv: ['worker', 'persist'], base: 9500 },
] as const;

let scratch: string;
let fakeCli: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fileset-deploy-'));
  fakeCli = join(scratch, 'fileset-ingest');
  await writeFile(fakeCli, '#!/bin/sh\necho "$@"\n');
  await chmod(fakeCli, 0o755);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Runs a unit's ExecStart for instance `instance` as systemd would, with the CLI replaced by an echo. */
function runExecStart(
  execStart: string,
  instance: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const match = /^\/bin\/sh -c '([^']*)'$/.exec(execStart);
  expect(match, "ExecStart is /bin/sh -c '...'").not.toBeNull();
  const script = match![1]!
    .replaceAll('%i', instance)
    .replaceAll('$$', '$')
    .replaceAll('/usr/local/bin/fileset-ingest', fakeCli);
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', script], { env: { PATH: '/usr/bin:/bin', ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

describe.each(UNITS)('systemd unit $file', ({ file, argv, base }) => {
  const unit = parseUnit(read(`deploy/systemd/${file}`));
  const service = unit.get('Service')!;
  const one = (key: string) => {
    expect(service.get(key), key).toHaveLength(1);
    return service.get(key)![0]!;
  };

  it('runs the worker as its own user from the shared environment file, restarting on failure', async () => {
    expect(unit.get('Unit')!.get('After')![0]).toContain('network-online.target');
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
    expect([one('Type'), one('User'), one('Group'), one('WorkingDirectory')]).toEqual([
      'exec',
      'fileset',
      'fileset',
      '/var/lib/fileset-ingest',
    ]);
    expect(one('EnvironmentFile')).toBe('/etc/fileset-ingest/fileset-ingest.env');
    expect([one('Restart'), one('RestartSec'), one('RestartPreventExitStatus')]).toEqual(['on-failure', '10s', '2']);
    expect(one('ExecStart')).toContain(`exec /usr/local/bin/fileset-ingest ${argv.join(' ')} --metrics-port `);
    expect(isCliCommand(await cliCommands(), [...argv]), argv.join(' ')).toBe(true);
    expect(flagName('FILESET_METRICS_PORT')).toBe('metrics-port');
  });

  it('stops gracefully: SIGTERM, and longer than the drain grace before SIGKILL', () => {
    expect([one('KillSignal'), one('KillMode')]).toEqual(['SIGTERM', 'mixed']);
    expect(seconds(one('TimeoutStopSec'))).toBeGreaterThan(DRAIN_GRACE_MS / 1000);
  });

  it('is hardened and may write only under /var/lib/fileset-ingest', () => {
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['PrivateTmp', 'yes'],
      ['ProtectHome', 'yes'],
      ['LimitNOFILE', '65536'],
    ]) {
      expect(one(key!), key).toBe(value);
    }
    expect(one('ReadWritePaths')).toBe('/var/lib/fileset-ingest');
    const dataDir = service.get('Environment')!.find((e) => e.startsWith('FILESET_DATA_DIR='));
    expect(dataDir).toMatch(/^FILESET_DATA_DIR=\/var\/lib\/fileset-ingest\/[a-z]+-%i$/);
  });

  it('gives instance N the metrics port base + N, for any N', async () => {
    const execStart = one('ExecStart');
    expect(service.get('Environment')).toContain(`METRICS_BASE_PORT=${base}`);
    for (const n of [1, 2, 9, 10, 12, 99]) {
      const run = await runExecStart(execStart, String(n), { METRICS_BASE_PORT: String(base) });
      expect(run).toEqual({ code: 0, stdout: `${argv.join(' ')} --metrics-port ${base + n}\n`, stderr: '' });
    }
    expect((await runExecStart(execStart, '3')).stdout).toBe(`${argv.join(' ')} --metrics-port ${base + 3}\n`);
    expect((await runExecStart(execStart, '3', { METRICS_BASE_PORT: '9700' })).stdout).toBe(
      `${argv.join(' ')} --metrics-port 9703\n`,
    );
  });

  it('refuses an instance that is not a number (exit 2, no restart), without starting the worker', async () => {
    for (const bad of ['x', '07', '0', '1a', '-1']) {
      const run = await runExecStart(one('ExecStart'), bad);
      expect([bad, run.code, run.stdout]).toEqual([bad, 2, '']);
      expect(run.stderr).toContain(`the instance must be a number from 1 (got ${bad})`);
    }
  });

  it.skipIf(!hasTool('systemd-analyze', ['--version']))(
    'passes systemd-analyze verify (skipped when systemd-analyze is not installed)',
    async () => {
      const instance = join(scratch, file.replace('@.', '@1.'));
      await copyFile(join(root, 'deploy/systemd', file), instance);
      const result = spawnSync('systemd-analyze', ['verify', instance], { encoding: 'utf8' });
      expect([result.status, result.stderr]).toEqual([0, '']);
    },
  );
});

describe('the ingest and persist units', () => {
  it('give distinct metrics ports to instances 1..99 of both kinds', () => {
    const ports = UNITS.flatMap(({ base }) => Array.from({ length: 99 }, (_, i) => base + i + 1));
    expect(new Set(ports).size).toBe(198);
  });
});

describe('deploy/systemd/fileset-ingest.env', () => {
  const text = read('deploy/systemd/fileset-ingest.env');
  const set = new Map<string, string>();
  const mentioned = new Set<string>();
  for (const line of text.split('\n')) {
    const assignment = /^(#?)([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!assignment) continue;
    mentioned.add(assignment[2]!);
    if (!assignment[1]) {
      expect(set.has(assignment[2]!), `${assignment[2]} set twice`).toBe(false);
      set.set(assignment[2]!, assignment[3]!);
    }
  }

  it('names only real configuration variables and sets the ones a fleet needs', () => {
    expect([...mentioned].filter((name) => !(ENV_NAMES as string[]).includes(name))).toEqual([]);
    for (const name of [
      'FILESET_DATABASE_URL',
      'FILESET_KAFKA_BROKERS',
      'FILESET_KAFKA_ENV',
      'FILESET_ITEM_STORE',
      'FILESET_CONTACT',
      'FILESET_WORKER_CONCURRENCY',
      'FILESET_KAFKA_PARTITIONS',
      'FILESET_PERSIST_BATCH_SIZE',
      'FILESET_METRICS_HOST',
    ]) {
      expect(set.has(name), name).toBe(true);
    }
    expect(mentioned.has('FILESET_DATA_DIR')).toBe(true);
  });

  it('leaves the per-instance settings to the units', () => {
    expect(set.has('FILESET_DATA_DIR')).toBe(false);
    expect(set.has('FILESET_METRICS_PORT')).toBe(false);
    expect(set.has('METRICS_BASE_PORT')).toBe(false);
  });

  it('is a configuration the workers accept', () => {
    const config = loadConfig(Object.fromEntries(set), {});
    expect(config.kafka.env).toBe('prod');
    expect(config.kafka.brokers).toEqual([
      'kafka1.example.org:9092',
      'kafka2.example.org:9092',
      'kafka3.example.org:9092',
    ]);
    expect([config.kafka.partitions, config.workerConcurrency, config.persist.batchSize]).toEqual([24, 4, 500]);
  });
});

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  restart?: string;
  profiles?: string[];
}

describe('docker-compose.yml', () => {
  const compose = yaml.load(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
  const services = compose.services;

  it('runs only commands the CLI has', async () => {
    const commands = await cliCommands();
    const ours = Object.entries(services).filter(([, s]) => s.build === '.');
    expect(ours.map(([name]) => name).sort()).toEqual([
      'ingest',
      'ingest-worker',
      'migrate',
      'persist-worker',
      'topics',
    ]);
    for (const [name, s] of ours)
      expect(isCliCommand(commands, s.command ?? []), `${name}: ${s.command?.join(' ')}`).toBe(true);
    expect(services.migrate!.command).toEqual(['db', 'migrate']);
    expect(services.topics!.command).toEqual(['topics', 'create']);
    expect(services['ingest-worker']!.command).toEqual(['worker', 'ingest']);
    expect(services['persist-worker']!.command).toEqual(['worker', 'persist']);
  });

  it('runs Apache Kafka 4.1 in KRaft mode as one broker+controller', () => {
    const kafka = services.kafka!;
    expect(kafka.image).toMatch(/^apache\/kafka:4\.1\.\d+$/);
    const env = kafka.environment!;
    expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe(`${env.KAFKA_NODE_ID}@kafka:9093`);
    expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe(1);
    expect(env.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR).toBe(1);
    expect(Buffer.from(String(env.CLUSTER_ID), 'base64url')).toHaveLength(16);
    expect(kafka.volumes).toContain(`kafkadata:${env.KAFKA_LOG_DIRS}`);
    expect(kafka.healthcheck?.test.join(' ')).toContain('kafka-broker-api-versions.sh --bootstrap-server kafka:9092');
  });

  it('starts the workers after the migrations and topics, and stops them gracefully', () => {
    for (const name of ['ingest-worker', 'persist-worker']) {
      const worker = services[name]!;
      expect(worker.depends_on, name).toEqual({
        kafka: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
        topics: { condition: 'service_completed_successfully' },
      });
      expect(worker.environment?.FILESET_KAFKA_BROKERS).toBe('kafka:9092');
      expect(worker.ports, `${name}: replicas cannot publish one port`).toBeUndefined();
      expect(worker.volumes).toEqual(['filesetdata:/data']);
      expect(worker.restart).toBe('unless-stopped');
      expect(seconds(worker.stop_grace_period ?? '')).toBeGreaterThan(DRAIN_GRACE_MS / 1000);
      expect(worker.healthcheck?.test.join(' ')).toContain(
        `http://127.0.0.1:${worker.environment?.FILESET_METRICS_PORT}/readyz`,
      );
    }
    expect(services['ingest-worker']!.deploy?.replicas).toBe(2);
    expect(services['persist-worker']!.deploy?.replicas).toBe(1);
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(services.topics!.depends_on).toEqual({ kafka: { condition: 'service_healthy' } });
  });

  const client = hasTool('docker', ['compose', 'version'])
    ? ['docker', 'compose']
    : hasTool('docker-compose', ['version'])
      ? ['docker-compose']
      : null;
  it.skipIf(!client)('is accepted by `docker compose config` (skipped when no compose client is installed)', () => {
    const result = spawnSync(client![0]!, [...client!.slice(1), 'config', '--quiet'], { cwd: root, encoding: 'utf8' });
    expect([result.status, result.stderr]).toEqual([0, '']);
  });
});

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

describe('deploy/prometheus/alerts.yml', () => {
  const rules = (
    yaml.load(read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: AlertRule[] }> }
  ).groups.flatMap((g) => g.rules);

  it('alerts on what the runbook covers', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'FilesetWorkerDown',
      'FilesetWorkerNotReady',
      'FilesetConsumerLagGrowing',
      'FilesetPartitionStuck',
      'FilesetErrorRateHigh',
      'FilesetRateLimitStorm',
      'FilesetInfrastructureRetries',
      'FilesetPersistRejectedRows',
      'FilesetDiskFilling',
      'FilesetDiskFull',
      'FilesetWarcShippingStalled',
    ]);
    const runbook = read('deploy/README.md');
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      for (const [, section] of rule.annotations.description.matchAll(/Runbooks?: "([^"]+)"(?:, "([^"]+)")?/g))
        expect(runbook, `${rule.alert} names runbook section "${section}"`).toContain(`### ${section}`);
    }
  });

  it("reads only metrics the workers export (and Prometheus's own `up`)", async () => {
    const kinds: WorkerKind[] = ['ingest', 'persist'];
    const exported = new Set<string>(['up']);
    for (const kind of kinds) {
      const metrics = createMetrics({ kind, readiness: new Readiness(), dataDir: root });
      for (const name of declaredSeries(await metrics.registry.metrics()).keys()) exported.add(name);
    }
    const unknown = rules.flatMap((r) =>
      promqlMetricNames(r.expr)
        .filter((n) => !exported.has(n))
        .map((n) => `${r.alert}: ${n}`),
    );
    expect(unknown).toEqual([]);
    expect(rules.every((r) => promqlMetricNames(r.expr).length > 0)).toBe(true);
  });

  const promtool = hasTool('promtool', ['--version']);
  it.skipIf(!promtool)('passes `promtool check rules` (skipped without promtool)', () => {
    const result = spawnSync('promtool', ['check', 'rules', 'deploy/prometheus/alerts.yml'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect([result.status, result.stdout]).toEqual([
      0,
      expect.stringContaining(`SUCCESS: ${rules.length} rules found`),
    ]);
  });

  it.skipIf(!promtool)('fires as its unit tests expect: `promtool test rules` (skipped without promtool)', () => {
    const result = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus/alerts.test.yml'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect([result.status, result.stdout + result.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });
});

describe('deploy/README.md runbook', () => {
  it('re-running the datasets of a status: its query rebuilds exactly the requests persisted with that status', async () => {
    const sql = /psql "\$FILESET_DATABASE_URL" -At -c "([^"]+)" > rerun\.jsonl/.exec(read('deploy/README.md'))?.[1];
    expect(sql).toContain("r.status = 'platform-error'");
    const database = await createTestDatabase();
    const db = await openPostgres(database.url, silentLogger);
    try {
      await migrate(db, silentLogger);
      const request = (n: number, extra: Record<string, unknown> = {}) => ({
        ingest_type: 'dataset',
        base_url: `https://zenodo.org/records/${n}`,
        link_source: 'doi',
        link_source_id: `10.5281/zenodo.${n}`,
        ingest_request_source: 'fatcat-changelog',
        release_stage: 'published',
        ext_ids: { doi: `10.5281/zenodo.${n}` },
        ...extra,
      });
      const failed = [request(1, { fatcat: { release_ident: 'hsmo6p4smrganpb3fndaj2lon4' } }), request(3)];
      await persistResults(
        db,
        [
          newResult(failed[0]!, 'platform-error', 'HTTP 500'),
          newResult(request(2), 'success'),
          newResult(failed[1]!, 'platform-error', 'HTTP 502'),
        ],
        { logger: silentLogger },
      );
      const rows = await db.query<Record<string, unknown>>(sql!);
      // Every line is a request `fileset-ingest produce` accepts, equal to the one persisted.
      const rebuilt = rows.map((row) => parseRequest(Object.values(row)[0]));
      expect(rebuilt).toHaveLength(failed.length);
      expect(rebuilt).toEqual(expect.arrayContaining(failed.map((request) => ({ request }))));
    } finally {
      await db.close();
      await database.drop();
    }
  });
});
