import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagName, loadConfig, parseSize } from '../src/config.js';
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
    expect(config.userAgent).toMatch(/^fileset-ingest\/\d+\.\d+\.\d+ \(\+.+\)$/);
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
    expect(loadConfig({ FILESET_DATA_DIR: 'd', ...(value ? { FILESET_ITEM_STORE: value } : {}) }).items.store).toEqual(
      expected,
    );
  });

  it.each(['ftp://x', 'not a url', 's3://'])('refuses %s', (value) => {
    expect(() => loadConfig({ FILESET_ITEM_STORE: value })).toThrow(ConfigError);
    expect(() => loadConfig({ FILESET_ITEM_STORE: value })).toThrow(/FILESET_ITEM_STORE/);
  });
});
