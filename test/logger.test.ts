import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { clipJsonStrings, configSecrets, createLogger, MAX_LOG_STRING, redactUrl } from '../src/logger.js';
import { runCli } from './support/cli.js';
import { createTestDatabase } from './support/database.js';
import { FixtureServer } from './support/fixture-server.js';

function capture(secrets?: string[]) {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
  const logger = createLogger('info', sink as unknown as Parameters<typeof createLogger>[1], { secrets });
  return { logger, lines };
}

describe('logger', () => {
  it('writes JSON lines and redacts secrets', () => {
    const { logger, lines } = capture();
    logger.info(
      { databaseUrl: 'postgres://u:hunter2@db/fileset', request: { headers: { authorization: 'LOW key:secret' } } },
      'connected',
    );
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      msg: 'connected',
      level: 30,
      databaseUrl: '[redacted]',
      request: { headers: { authorization: '[redacted]' } },
    });
    expect(lines.join('')).not.toMatch(/hunter2|key:secret/);
  });

  it('takes secrets out of messages, bindings, errors and their stacks, and configured values anywhere', () => {
    const { logger, lines } = capture(['configured-ias3-secret']);
    const child = logger.child({ base_url: 'https://user:pw-in-binding@zenodo.org/records/1' });
    child.warn('fetching https://user:pw-in-message@example.org/');
    child.error({ err: new Error('connect to postgres://app:pw-in-error@db/x failed') }, 'failed');
    child.info({ note: 'uploading with LOW key:configured-ias3-secret' }, 'upload');
    child.info({ requestHeaders: [['Authorization', 'LOW akey:pw-in-pairs']] }, 'sent');
    const text = lines.join('');
    expect(text).not.toMatch(/pw-in-|configured-ias3-secret/);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(JSON.parse(lines[1]!)).toMatchObject({
      err: { stack: expect.stringContaining('postgres://[redacted]@db') },
    });
  });

  it('cuts long strings (values, keys, messages, bindings) to 2048 characters, keeping the line valid JSON', () => {
    const { logger, lines } = capture();
    const huge = `https://zenodo.org/${'x'.repeat(10 * 1024 * 1024)}`;
    logger.child({ base_url: huge }).warn({ url: huge, [huge]: 1, quoted: '"\\é\u0001'.repeat(5000) }, huge);
    expect(lines[0]!.length).toBeLessThan(10 * MAX_LOG_STRING + 1000);
    const entry = JSON.parse(lines[0]!) as Record<string, string>;
    expect(entry.url).toBe(`${huge.slice(0, MAX_LOG_STRING)}…[${huge.length} chars]`);
    expect(entry.base_url).toBe(entry.url);
    expect(entry.msg).toBe(entry.url);
    expect(entry.quoted!.startsWith('"\\é\u0001"\\é')).toBe(true);
  });

  it('clipJsonStrings keeps escapes whole and strings within the bound untouched', () => {
    expect(clipJsonStrings('{"a":"\\u00e9\\u00e9\\u00e9","b":"xy"}', 2)).toBe(
      '{"a":"\\u00e9\\u00e9…[3 chars]","b":"xy"}',
    );
    expect(clipJsonStrings('{"a":"\\"\\"\\"","b":"xy"}', 2)).toBe('{"a":"\\"\\"…[3 chars]","b":"xy"}');
    expect(clipJsonStrings('{"a":"xy"}', 2)).toBe('{"a":"xy"}');
  });

  it('knows the secrets of a configuration', () => {
    const secrets = configSecrets({
      databaseUrl: 'postgres://app:p%40ss@db/x',
      s3: { secretAccessKey: 's3-secret' },
      ias3: { secretKey: undefined },
    });
    expect(secrets).toEqual(['s3-secret', 'p@ss']);
  });

  it('hides the password of a connection URL', () => {
    expect(redactUrl('postgres://u:hunter2@db:5432/fileset')).toBe('postgres://u:***@db:5432/fileset');
    expect(redactUrl('not a url')).toBe('[unparseable url]');
  });
});

describe('the CLI logs no secret and nothing unbounded on hostile input', () => {
  it('greps every line `requests` logs at debug level', async () => {
    const server = await FixtureServer.start();
    const database = await createTestDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'fileset-secrets-'));
    try {
      server.route('/to-creds', { status: 302, headers: { Location: 'https://u:redirect-secret@example.org/x' } });
      server.route('/to-creds-relative', { status: 302, headers: { Location: '//u:relative-secret@example.org/' } });
      const long = `https://zenodo.org/records/1?${'L'.repeat(100_000)}`;
      const requests = [
        'https://user:url-secret@zenodo.org/records/7078760',
        'https:user:url-secret-2@zenodo.org/records/7078760',
        'http://token-secret@zenodo.org/records/1',
        'https://zenodo.org/to-creds',
        'https://zenodo.org/to-creds-relative',
        long,
        `https://a:${'S'.repeat(20_000)}@zenodo.org/`,
      ].map((base_url) => JSON.stringify({ base_url, ingest_type: 'dataset' }));
      const dbUrl = new URL(database.url);
      dbUrl.password = 'db-password-secret';
      const { code, stdout, stderr } = await runCli(
        ['requests', '-'],
        {
          FILESET_DATA_DIR: dataDir,
          FILESET_DATABASE_URL: dbUrl.toString(),
          FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin}`,
          FILESET_HTTP_RETRIES: '0',
          FILESET_LOG_LEVEL: 'debug',
          FILESET_IAS3_ACCESS_KEY: 'ias3-access',
          FILESET_IAS3_SECRET_KEY: 'ias3-secret-value',
          FILESET_S3_SECRET_ACCESS_KEY: 's3-secret-value',
        },
        `${requests.join('\n')}\n`,
      );
      expect(code).toBe(0);
      const logged = stderr.split('\n').filter(Boolean);
      expect(logged.length).toBeGreaterThan(requests.length);
      for (const line of logged) {
        expect(line).not.toMatch(/secret|SSSS/);
        expect(line.length).toBeLessThan(20_000);
      }
      expect(stderr).not.toContain('L'.repeat(MAX_LOG_STRING + 1));
      // The results' error messages carry no credentials either (the request echo is the caller's own).
      const results = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { status: string; error_message?: string });
      expect(results).toHaveLength(requests.length);
      for (const result of results) expect(result.error_message ?? '').not.toMatch(/secret|SSSS/);
      expect(results.map((r) => r.status)).toEqual([
        'invalid-url',
        'invalid-url',
        'invalid-url',
        expect.any(String),
        expect.any(String),
        'bad-request',
        'bad-request',
      ]);
    } finally {
      await server.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
