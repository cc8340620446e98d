import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import {
  ENV_NAMES,
  envDefault,
  flagName,
  loadConfig,
  parseSize,
  readEnvironment,
  unknownVariables,
} from '../src/config.js';
import { ConfigError } from '../src/errors.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.dataDir).toBe('./data');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.http.allowPrivate).toBe(false);
    expect(config.limits).toEqual({ maxTotalSize: 64 * 2 ** 30, maxFileCount: 200 });
    expect(config.thresholds).toEqual({
      webMaxFiles: 20,
      webMaxTotalSize: 2 ** 30,
      webMaxFileSize: 128 * 2 ** 20,
      bundleMinFiles: 50,
      bundleMaxTotalSize: 4 * 2 ** 30,
    });
    expect(config.warc.rolloverSize).toBe(1e9);
    expect(config.warc.gzipLevel).toBe(5);
    expect(config.userAgent).toMatch(/^fileset-ingest\/\d+\.\d+\.\d+$/);
    expect(loadConfig({ FILESET_CONTACT: 'mailto:ops@example.org' }).userAgent).toMatch(
      /^fileset-ingest\/\d+\.\d+\.\d+ \(\+mailto:ops@example\.org\)$/,
    );
  });

  it('parses the rewrite map and lets flags override the environment', () => {
    const config = loadConfig(
      {
        FILESET_HTTP_REWRITE: 'https://zenodo.org=http://127.0.0.1:8081, https://doi.org/=http://127.0.0.1:8082',
        FILESET_DATA_DIR: '/env',
      },
      { FILESET_DATA_DIR: '/flag' },
    );
    expect([...config.http.rewrite]).toEqual([
      ['https://zenodo.org', 'http://127.0.0.1:8081'],
      ['https://doi.org', 'http://127.0.0.1:8082'],
    ]);
    expect(config.dataDir).toBe('/flag');
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ FILESET_MAX_FILE_COUNT: 'many', FILESET_HTTP_REWRITE: 'zenodo.org' })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ FILESET_MAX_FILE_COUNT: 'many' })).toThrow(/FILESET_MAX_FILE_COUNT/);
    expect(() => loadConfig({ FILESET_HTTP_REWRITE: 'https://a.org=ftp://b' })).toThrow(/FILESET_HTTP_REWRITE/);
    expect(() => loadConfig({ FILESET_HTTP_ALLOW_PRIVATE: 'maybe' })).toThrow(/FILESET_HTTP_ALLOW_PRIVATE/);
    expect(() => loadConfig({ FILESET_WARC_GZIP_LEVEL: '10' })).toThrow(/FILESET_WARC_GZIP_LEVEL/);
    expect(loadConfig({ FILESET_WARC_GZIP_LEVEL: '0' }).warc.gzipLevel).toBe(0);
  });

  it('parses sizes and flag names', () => {
    expect(parseSize('64GiB')).toBe(64 * 2 ** 30);
    expect(parseSize('1 GB')).toBe(1e9);
    expect(parseSize('512')).toBe(512);
    expect(() => parseSize('12 parsecs')).toThrow(/not a size/);
    expect(flagName('FILESET_HTTP_ALLOW_PRIVATE')).toBe('http-allow-private');
  });
});

describe('FILESET_ITEM_STORE', () => {
  it.each([
    [undefined, { kind: 'fs', root: join(process.cwd(), 'd', 'items') }],
    ['fs:///srv/items', { kind: 'fs', root: '/srv/items' }],
    ['s3://bucket/some/prefix/', { kind: 's3', bucket: 'bucket', prefix: 'some/prefix' }],
    ['s3://bucket', { kind: 's3', bucket: 'bucket', prefix: '' }],
    ['ias3://', { kind: 'ias3' }],
  ])('%s → %j', (value, expected) => {
    const keys = { FILESET_IAS3_ACCESS_KEY: 'k', FILESET_IAS3_SECRET_KEY: 's' };
    expect(
      loadConfig({ FILESET_DATA_DIR: 'd', ...keys, ...(value ? { FILESET_ITEM_STORE: value } : {}) }).items.store,
    ).toEqual(expected);
  });

  it.each(['ftp://x', 'not a url', 's3://'])('refuses %s', (value) => {
    expect(() => loadConfig({ FILESET_ITEM_STORE: value })).toThrow(ConfigError);
    expect(() => loadConfig({ FILESET_ITEM_STORE: value })).toThrow(/FILESET_ITEM_STORE/);
  });
});

describe('FILESET_WARC_STORE', () => {
  it.each([
    [undefined, undefined],
    ['fs:///srv/warc-store/warcs', { kind: 'fs', root: '/srv/warc-store', prefix: 'warcs' }],
    ['s3://bucket/fleet/warcs/', { kind: 's3', bucket: 'bucket', prefix: 'fleet/warcs' }],
    ['ias3://FILESET-WARC', { kind: 'ias3', itemPrefix: 'FILESET-WARC' }],
  ])('%s → %j', (value, expected) => {
    const keys = { FILESET_IAS3_ACCESS_KEY: 'k', FILESET_IAS3_SECRET_KEY: 's' };
    expect(loadConfig({ ...keys, ...(value ? { FILESET_WARC_STORE: value } : {}) }).warc.store).toEqual(expected);
  });

  it('needs the ias3 keys for ias3://', () => {
    expect(() => loadConfig({ FILESET_WARC_STORE: 'ias3://warcs', FILESET_IAS3_SECRET_KEY: 's' })).toThrow(
      /FILESET_IAS3_ACCESS_KEY \(unset\): needed by FILESET_WARC_STORE=ias3:\/\//,
    );
  });
});

/** Bad values by kind of setting; every variable of a kind is tried with every value of its kind. */
const BAD_VALUES: Array<[RegExp, string[]]> = [
  [/_(SIZE|BUDGET)$/, ['12 parsecs', '-1GB', 'GB', '1,5GB', '0x10', 'lots']],
  [
    /_(RETRIES|MS|CONCURRENCY|COUNT|FILES|PARTITIONS|REPLICATION|BATCH_SIZE|RATIO|REDIRECTS|DEADLINE_S|PORT)$/,
    ['lots', '-1', '1.5', '1e3', '0x10', '99999999999999999999', '12abc'],
  ],
  [/_(ALLOW_PRIVATE|FORCE_PATH_STYLE)$/, ['maybe', '2', 'yes please']],
  [/_(ENDPOINT|METADATA_URL)$/, ['notaurl', 'ftp://example.org', 'example.org', 'file:///etc/passwd']],
  [/^FILESET_DATABASE_URL$/, ['mysql://x/y', 'notaurl', 'http://db.example.org/', 'postgres//x']],
  [/^FILESET_ITEM_STORE$/, ['bogus://', 'ftp://x', 'notaurl', 's3://', '/srv/items']],
  [/^FILESET_WARC_STORE$/, ['bogus://', 'notaurl', 's3://', 's3://bucket', 'fs:///', 'ias3://', 'ias3://-x', '/srv/w']],
  [/^FILESET_WARC_ITEM_PERIOD$/, ['week', 'daily', '1d']],
  [/^FILESET_WARC_ITEM_COLLECTION$/, ['has space', 'a/b']],
  [/^FILESET_KAFKA_BROKERS$/, ['notaport', 'host:', ':9092', 'host:0', 'host:99999', 'a:1,b', 'http://host:9092']],
  [/^FILESET_HTTP_REWRITE$/, ['zenodo.org', 'https://a.org=ftp://b', 'https://a.org=', 'a=b=c']],
  [/^FILESET_PLATFORM_BUDGETS$/, ['zenodo=1', 'zenodo:api=0', 'zenodo:web=1', 'zenodo:api=1@0']],
  [/^FILESET_LOG_LEVEL$/, ['verbose', 'INFO2', '5']],
  [/^FILESET_WARC_GZIP_LEVEL$/, ['fast', '10', '-1', '5.5', '0x5']],
  [/^FILESET_(WARC_PREFIX|KAFKA_ENV)$/, ['has space', 'a/b', 'x;y']],
];

describe('every bad configuration value is one line naming the variable', () => {
  const cases = ENV_NAMES.flatMap((name) =>
    (BAD_VALUES.find(([pattern]) => pattern.test(name))?.[1] ?? []).map((value) => [name, value] as const),
  );

  it('covers every variable that has a syntax', () => {
    const free = ENV_NAMES.filter((name) => !BAD_VALUES.some(([pattern]) => pattern.test(name)));
    // Free text: any non-empty value is valid.
    expect(free.sort()).toEqual(
      [
        'FILESET_CONTACT',
        'FILESET_DATA_DIR',
        'FILESET_IAS3_ACCESS_KEY',
        'FILESET_IAS3_SECRET_KEY',
        'FILESET_KAFKA_REQUEST_TOPICS',
        'FILESET_METRICS_HOST',
        'FILESET_S3_ACCESS_KEY_ID',
        'FILESET_S3_REGION',
        'FILESET_S3_SECRET_ACCESS_KEY',
        'FILESET_URL_BLOCKLIST',
        'FILESET_USER_AGENT',
      ].sort(),
    );
  });

  it.each(cases)('%s=%j', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(`${name}=`);
    expect(message).not.toContain('\n');
  });

  it('accepts every default as written', () => {
    for (const name of ENV_NAMES) {
      const value = envDefault(name);
      if (value !== undefined) expect(() => loadConfig({ [name]: value }), name).not.toThrow();
    }
  });

  it('never shows a secret or a password in the message', () => {
    expect(() => loadConfig({ FILESET_DATABASE_URL: 'mysql://u:hunter2@db/x' })).toThrow(/mysql:\/\/u:\*\*\*@db\/x/);
    expect(() => loadConfig({ FILESET_DATABASE_URL: 'mysql://u:hunter2@db/x' })).not.toThrow(/hunter2/);
    expect(() =>
      loadConfig({ FILESET_ITEM_STORE: 'ias3://', FILESET_IAS3_SECRET_KEY: 'hunter2', FILESET_IAS3_ACCESS_KEY: '' }),
    ).toThrow(/FILESET_IAS3_ACCESS_KEY \(unset\): needed by FILESET_ITEM_STORE=ias3:\/\//);
  });

  it('keeps a value with a line break on one line', () => {
    expect(() => loadConfig({ FILESET_MAX_FILE_COUNT: '1\n2' })).toThrow(/FILESET_MAX_FILE_COUNT="1\\n2"/);
  });
});

describe('unknown variables', () => {
  it('are named with the closest setting', () => {
    expect(
      unknownVariables({
        FILESET_DATADIR: 'x',
        FILESET_MAX_FILES: '3',
        FILESET_KAFKA_BROKER: 'h:1',
        FILESET_DATA_DIR: 'ok',
        FILESET_TEST_NO_KAFKA: '1',
        FILESET_ZZZZZZZZZZZZZZZZZZZZZZZZZZ: '1',
        PATH: '/bin',
      }),
    ).toEqual([
      { name: 'FILESET_DATADIR', suggestion: 'FILESET_DATA_DIR' },
      { name: 'FILESET_KAFKA_BROKER', suggestion: 'FILESET_KAFKA_BROKERS' },
      { name: 'FILESET_MAX_FILES', suggestion: 'FILESET_WEB_MAX_FILES' },
      { name: 'FILESET_ZZZZZZZZZZZZZZZZZZZZZZZZZZ', suggestion: undefined },
    ]);
  });
});

describe('.env', () => {
  it('is read when present, the environment winning over it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileset-env-'));
    try {
      expect(readEnvironment(dir, { A: '1' })).toEqual({ A: '1' });
      await writeFile(join(dir, '.env'), '# comment\nFILESET_DATA_DIR=/from-file\nFILESET_LOG_LEVEL="warn"\n');
      const environment = readEnvironment(dir, { FILESET_DATA_DIR: '/from-env' });
      expect(environment).toEqual({ FILESET_DATA_DIR: '/from-env', FILESET_LOG_LEVEL: 'warn' });
      expect(loadConfig(environment, { FILESET_DATA_DIR: '/from-flag' })).toMatchObject({
        dataDir: '/from-flag',
        logLevel: 'warn',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
