// The built `fileset-ingest` binary, spawned as a user would run it.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli, spawnCli } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { FixtureServer } from './support/fixture-server.js';
import { expectValidWarc } from './support/jwarc.js';
import { spawnTsx } from './support/kafka.js';
import { warcFiles } from './support/runtime.js';
import { recordFiles, serveZenodoRecord } from './support/zenodo-site.js';

const RECORD = '7078760';

let server: FixtureServer;
let database: TestDatabase;
let dataDir: string;

function run(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  const env = {
    FILESET_DATA_DIR: dataDir,
    FILESET_DATABASE_URL: database.url,
    FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin},https://doi.org=${server.origin}`,
    FILESET_LOG_LEVEL: 'warn',
    FILESET_PLATFORM_BUDGETS: '*:api=8',
    ...options.env,
  };
  return runCli(args, env, options.input);
}

const lines = jsonLines;

beforeAll(async () => {
  server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json', {
    files: recordFiles(RECORD, ['data2.csv', 'data.csv', 'datapackage.json']),
  });
  server.route('/one.csv', { body: 'a,b\n1,2\n', headers: { 'Content-Type': 'text/csv' } });
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'fileset-cli-'));
});

afterAll(async () => {
  await server.close();
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('fileset-ingest CLI', () => {
  it('prints help for the program and each command', async () => {
    const main = await run(['--help']);
    expect(main.code).toBe(0);
    for (const command of ['ingest', 'requests', 'inspect', 'cdxj', 'db migrate'])
      expect(main.stdout).toContain(command);
    for (const command of ['ingest', 'requests', 'inspect', 'cdxj', 'db']) {
      const help = await run([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`Usage: fileset-ingest ${command}`));
    }
  });

  it('rejects bad usage and bad configuration with a message, not a stack trace', async () => {
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const badFlag = await run(['ingest', '--no-such-flag', 'x']);
    expect(badFlag.code).toBe(2);
    const badConfig = await run(['ingest', 'https://zenodo.org/records/1'], {
      env: { FILESET_MAX_FILE_COUNT: 'lots' },
    });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toMatch(/FILESET_MAX_FILE_COUNT/);
    expect(badConfig.stderr).not.toMatch(/\n\s+at /);
  });

  it('inspects a dataset without downloading any file', async () => {
    const before = server.requests.length;
    const { code, stdout, stderr } = await run(['inspect', `https://doi.org/10.5281/zenodo.${RECORD}`], {
      env: { FILESET_LOG_LEVEL: 'info' },
    });
    expect(code).toBe(0);
    // The log says what the report says: a dry run that got as far as it may is "ready".
    const finished = stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === 'ingest finished');
    expect(finished?.status).toBe('ready');
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      status: 'ready',
      platform_name: 'zenodo',
      platform_domain: 'zenodo.org',
      platform_id: RECORD,
      archiveorg_item_name: `zenodo.org-${RECORD}`,
      file_count: 3,
      total_size: 1768,
      ingest_strategy: 'web-fileset',
    });
    expect((report.manifest as Array<{ path: string; md5: string }>).map((e) => [e.path, e.md5])).toEqual([
      ['data2.csv', 'cb4a683d8eecb72c9ac9beea91fd592e'],
      ['data.csv', 'c028f525f314c49ea48ed09e82292ed2'],
      ['datapackage.json', '127f3943c9a2fa7fe892c7159b6fbded'],
    ]);
    expect(server.requests.slice(before).filter((p) => p.startsWith('/api/files/'))).toEqual([]);
    expect(report.limit_hit).toBeNull();
  });

  it('inspect reports the limit a dataset hits, with the strategy it would take and its manifest', async () => {
    const { code, stdout } = await run(['inspect', `https://zenodo.org/records/${RECORD}`], {
      env: { FILESET_MAX_FILE_COUNT: '2' },
    });
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      status: 'too-many-files',
      limit_hit: { status: 'too-many-files', message: '3 files, more than the limit of 2' },
      limits: { max_file_count: 2 },
      ingest_strategy: 'web-fileset',
      file_count: 3,
    });
    expect((report.manifest as unknown[]).length).toBe(3);
  });

  it('inspects a URL that is itself a file without downloading it', async () => {
    // Whether the server finished sending the body, once its response closes (an event, not a timer).
    let completed!: Promise<boolean>;
    server.route('/big.bin', {
      handler: (_req, res) => {
        completed = new Promise((resolve) => res.on('close', () => resolve(res.writableFinished)));
        const chunk = Buffer.alloc(1 << 20);
        let sent = 0;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(256 << 20) });
        const pump = () => {
          while (sent < 256 && res.write(chunk)) sent += 1;
          if (sent >= 256) res.end();
          else res.once('drain', () => ((sent += 1), pump()));
        };
        pump();
      },
    });
    const { code, stdout } = await run(['inspect', 'https://files.example.org/big.bin'], {
      env: { FILESET_HTTP_REWRITE: `https://files.example.org=${server.origin}`, FILESET_WEB_MAX_FILE_SIZE: '1GiB' },
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      status: 'ready',
      platform_name: 'web',
      ingest_strategy: 'web-file',
      manifest: [{ path: 'big.bin', size: 256 << 20, mimetype: 'application/octet-stream' }],
    });
    expect(await completed).toBe(false);
  });

  it('ingests a dataset, then a one-file dataset with its dataset-file line first', async () => {
    const dataset = await run(['ingest', `https://zenodo.org/records/${RECORD}`]);
    expect(dataset.code).toBe(0);
    const [result] = lines(dataset.stdout);
    expect(result).toMatchObject({ status: 'success', ingest_strategy: 'web-fileset' });

    const file = await run(['ingest', 'https://files.example.org/one.csv'], {
      env: { FILESET_HTTP_REWRITE: `https://files.example.org=${server.origin}` },
    });
    expect(file.code).toBe(0);
    const [fileResult, filesetResult] = lines(file.stdout);
    expect(fileResult).toMatchObject({ status: 'success', request: { ingest_type: 'dataset-file' } });
    expect(filesetResult).toMatchObject({ status: 'success-file', ingest_strategy: 'web-file' });
    for (const warc of await warcFiles(join(dataDir, 'warcs'))) await expectValidWarc(join(dataDir, 'warcs', warc));
  });

  it('ingest loads the packages it runs on, not the Kafka client or the metrics registry', async () => {
    const record = join(dataDir, 'loaded-packages.json');
    const file = await run(['ingest', 'https://files.example.org/one.csv'], {
      env: {
        FILESET_HTTP_REWRITE: `https://files.example.org=${server.origin}`,
        NODE_OPTIONS: `--import=${pathToFileURL(join(import.meta.dirname, 'support', 'loaded-packages.mjs')).href}`,
        FILESET_TEST_LOADED_PACKAGES: record,
      },
    });
    expect(file.code).toBe(0);
    const loaded = JSON.parse(await readFile(record, 'utf8')) as string[];
    expect(loaded).toEqual(expect.arrayContaining(['pg', 'undici']));
    expect(loaded).not.toContain('kafkajs');
    expect(loaded).not.toContain('prom-client');
  });

  it('processes JSON lines, reporting bad lines and continuing', async () => {
    const input = [
      JSON.stringify({ base_url: `https://zenodo.org/records/${RECORD}`, ingest_type: 'dataset', link_source: 'test' }),
      '{not json',
      JSON.stringify({ ingest_type: 'dataset' }),
      '',
      JSON.stringify({ base_url: 'gopher://example.org/1' }),
      JSON.stringify({ base_url: 'https://zenodo.org/records/68358988' }),
    ].join('\n');
    const { code, stdout, stderr } = await run(['requests', '--concurrency', '2'], { input });
    expect(code).toBe(0);
    const statuses = lines(stdout).map((r) => [(r.request as { base_url?: string }).base_url, r.status]);
    expect(statuses).toEqual(
      expect.arrayContaining([
        [`https://zenodo.org/records/${RECORD}`, 'success-existing'],
        [undefined, 'bad-request'],
        ['gopher://example.org/1', 'invalid-url'],
        ['https://zenodo.org/records/68358988', 'platform-404'],
      ]),
    );
    expect(statuses).toHaveLength(4);
    expect(stderr).toMatch(/^line 2: not JSON/m);
  });

  it('exports the capture index as CDXJ', async () => {
    const { code, stdout } = await run(['cdxj']);
    expect(code).toBe(0);
    const cdxj = stdout.trim().split('\n');
    expect(cdxj.length).toBeGreaterThanOrEqual(5);
    const surts = cdxj.map((l) => l.split(' ')[0]!);
    expect([...surts].sort()).toEqual(surts);
    const [, datetime, json] = cdxj[0]!.match(/^(\S+) (\d{14}) (\{.*\})$/)!.slice(1);
    expect(datetime).toMatch(/^\d{14}$/);
    expect(JSON.parse(json!)).toEqual(
      expect.objectContaining({ url: expect.any(String), digest: expect.stringMatching(/^[A-Z2-7]{32}$/) }),
    );
  });

  it('runs on the embedded database when no database URL is set', async () => {
    const embeddedDir = await mkdtemp(join(tmpdir(), 'fileset-embedded-'));
    try {
      const env = { FILESET_DATABASE_URL: '', FILESET_DATA_DIR: embeddedDir };
      const first = await run(['ingest', `https://zenodo.org/records/${RECORD}`], { env });
      expect(lines(first.stdout)[0]).toMatchObject({ status: 'success' });
      const second = await run(['ingest', `https://zenodo.org/records/${RECORD}`], { env });
      expect(lines(second.stdout)[0]).toMatchObject({ status: 'success-existing' });
    } finally {
      await rm(embeddedDir, { recursive: true, force: true });
    }
  });
});

describe('fileset-ingest as a new user meets it', () => {
  /** Spawned in a scratch directory (its own ./data and .env), with `env` only. */
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'fileset-cwd-'));
  });
  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });
  const bare = (args: string[], env: Record<string, string> = {}, input = '') => runCli(args, env, input, cwd);
  const oneLine = (text: string) => expect(text.trimEnd().split('\n')).toHaveLength(1);

  it('says which command or option was meant, and points at the help', async () => {
    const command = await bare(['ingets', 'x']);
    expect([command.code, command.stderr]).toEqual([
      2,
      'fileset-ingest: unknown command "ingets" (did you mean "ingest"?); run "fileset-ingest --help" for usage\n',
    ]);
    const option = await bare(['ingest', '--forse-recrawl', 'x']);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe(
      'fileset-ingest: unknown option --forse-recrawl (did you mean --force-recrawl?); ' +
        'run "fileset-ingest ingest --help" for usage\n',
    );
    const misplaced = await bare(['inspect', '--force-recrawl', 'x']);
    expect([misplaced.code, misplaced.stderr]).toEqual([
      2,
      expect.stringContaining('inspect takes no --force-recrawl'),
    ]);
    const noValue = await bare(['cdxj', '--output']);
    expect([noValue.code, noValue.stderr]).toEqual([2, expect.stringContaining('--output needs a value')]);
  });

  it('has --version, and help per command and per worker', async () => {
    const help = await bare(['--help']);
    expect(help.stdout).toMatch(/--version/);
    expect(help.stdout).toMatch(/status \[--json\]/);
    expect((await bare(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const worker = await bare(['worker', 'ingest', '--help']);
    expect(worker.code).toBe(0);
    expect(worker.stdout).toMatch(/^Usage: fileset-ingest worker ingest/);
    expect(worker.stdout).not.toMatch(/worker persist/);
    expect((await bare(['help', 'worker', 'persist'])).stdout).toMatch(/^Usage: fileset-ingest worker persist/);
    expect((await bare(['worker', '--help'])).stdout).toMatch(/worker ingest[\s\S]*worker persist/);
  });

  it.each([
    ['FILESET_ITEM_STORE', 'bogus://'],
    ['FILESET_DATABASE_URL', 'mysql://x/y'],
    ['FILESET_DATABASE_URL', 'notaurl'],
    ['FILESET_KAFKA_BROKERS', 'notaport'],
    ['FILESET_S3_ENDPOINT', 'example.org'],
    ['FILESET_MAX_TOTAL_SIZE', 'huge'],
    ['FILESET_HTTP_ALLOW_PRIVATE', 'maybe'],
    ['FILESET_METRICS_PORT', '70000'],
    ['FILESET_LOG_LEVEL', 'verbose'],
  ])('a bad %s=%s is one line naming it, exit 2, before anything runs', async (name, value) => {
    for (const args of [['ingest', 'https://zenodo.org/records/1'], ['worker', 'ingest'], ['status']]) {
      const { code, stderr, stdout } = await bare(args, { [name]: value });
      expect(code).toBe(2);
      oneLine(stderr);
      expect(stderr).toMatch(new RegExp(`^fileset-ingest: bad configuration: ${name}=`));
      expect(stdout).toBe('');
    }
    expect(await readdir(cwd)).toEqual([]);
  });

  it('names an unreachable PostgreSQL or Kafka, its address and its variable in one line, exit 3', async () => {
    const postgres = await bare(['status'], { FILESET_DATABASE_URL: 'postgres://u:pw@127.0.0.1:1/x' });
    expect(postgres.code).toBe(3);
    oneLine(postgres.stderr);
    expect(postgres.stderr).toMatch(
      /^fileset-ingest: cannot use PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x \(FILESET_DATABASE_URL\): .*ECONNREFUSED/,
    );
    for (const args of [
      ['worker', 'ingest'],
      ['worker', 'persist'],
      ['topics', 'create'],
      ['produce', '--topic', 't'],
    ]) {
      const kafka = await bare(args, {
        FILESET_KAFKA_BROKERS: '127.0.0.1:1',
        FILESET_DATABASE_URL: database.url,
        FILESET_DATA_DIR: join(cwd, 'data'),
        FILESET_METRICS_PORT: '0',
      });
      expect(kafka.code, args.join(' ')).toBe(3);
      oneLine(kafka.stderr);
      expect(kafka.stderr).toMatch(/^fileset-ingest: cannot use Kafka at 127\.0\.0\.1:1 \(FILESET_KAFKA_BROKERS\): /);
      expect(kafka.stderr).not.toMatch(/\n\s+at /);
    }
    await rm(join(cwd, 'data'), { recursive: true, force: true });
  });

  it('a missing input file is one line, exit 2', async () => {
    for (const command of ['requests', 'persist']) {
      const { code, stderr } = await bare([command, '/no/such/file']);
      expect([code, stderr]).toEqual([2, 'fileset-ingest: cannot read /no/such/file: no such file\n']);
    }
  });

  it('reads .env in the current directory (the environment and flags win), and warns of unknown variables', async () => {
    await writeFile(join(cwd, '.env'), 'FILESET_MAX_FILE_COUNT=2\nFILESET_LOG_LEVEL=silent\nFILESET_DATADIR=/tmp/x\n');
    try {
      const url = `https://zenodo.org/records/${RECORD}`;
      const env = { FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`, FILESET_DATABASE_URL: database.url };
      const fromFile = await bare(['inspect', url], env);
      expect(JSON.parse(fromFile.stdout)).toMatchObject({ status: 'too-many-files', limits: { max_file_count: 2 } });
      expect(fromFile.stderr).toBe(
        'fileset-ingest: warning: FILESET_DATADIR is not a setting, ignored (did you mean FILESET_DATA_DIR?)\n',
      );
      const fromEnv = await bare(['inspect', url], { ...env, FILESET_MAX_FILE_COUNT: '3' });
      expect(JSON.parse(fromEnv.stdout)).toMatchObject({ limit_hit: null, limits: { max_file_count: 3 } });
      const fromFlag = await bare(['inspect', url, '--max-file-count', '4'], { ...env, FILESET_MAX_FILE_COUNT: '3' });
      expect(JSON.parse(fromFlag.stdout)).toMatchObject({ limits: { max_file_count: 4 } });
    } finally {
      await rm(join(cwd, '.env'));
    }
  });

  it('inspect on the embedded database writes nothing: no ./data', async () => {
    const { code, stdout } = await bare(['inspect', `https://zenodo.org/records/${RECORD}`], {
      FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'ready', file_count: 3 });
    expect(await readdir(cwd)).toEqual([]);
  });

  it('says so on Ctrl-C, exit 130, and the same command then finishes the job', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const downloading = new Promise<void>((resolve) => (started = resolve));
    server.route('/slow/data.bin', {
      handler: (_req, res) => {
        started();
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': '8' });
        res.write('1234');
        void released.then(() => res.end('5678'));
      },
    });
    const env = {
      FILESET_HTTP_REWRITE: `https://files.example.org=${server.origin}`,
      FILESET_DATA_DIR: join(cwd, 'data'),
      FILESET_LOG_LEVEL: 'warn',
    };
    const cli = spawnCli(['ingest', 'https://files.example.org/slow/data.bin'], env, cwd);
    await downloading;
    cli.child.kill('SIGINT');
    const interrupted = await cli.exited;
    release();
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(
      /\nfileset-ingest: interrupted; what was archived is kept, run the same command to resume\n$/,
    );
    const again = await bare(['ingest', 'https://files.example.org/slow/data.bin'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^✓ \[1\/1\] data\.bin {2}8 B {2}success$/m);
    await rm(join(cwd, 'data'), { recursive: true, force: true });
  });
});

describe('ending the process after a command', () => {
  it('exits with the status when something a library left open would keep it alive, saying what', async () => {
    const script = `const { exitAfter } = await import('./src/cli.ts');
      setInterval(() => {}, 60_000);
      exitAfter(3, 100);`;
    const proc = spawnTsx(script, {});
    expect(await proc.exited()).toBe(3);
    expect(proc.stderr()).toMatch(
      /^fileset-ingest: exiting 0\.1 s after the command ended; still open: .*\b1 Timeout\n$/,
    );
  });

  it('leaves a process with nothing open to end by itself, with the status', async () => {
    const script = `const { exitAfter } = await import('./src/cli.ts');
      exitAfter(4, 60_000);`;
    const proc = spawnTsx(script, {});
    expect(await proc.exited()).toBe(4);
    expect(proc.stderr()).toBe('');
  });
});
