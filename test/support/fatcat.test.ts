// The fatcat restatement raises where fatcat's importer raises (the failures measured against its
// source): without this, a contract test over it could pass by accepting anything.
import { describe, expect, it } from 'vitest';
import { parseFilesetFileRecord, parseFilesetRecord, wantFileset, wantFilesetFile } from './fatcat.js';

const request = {
  base_url: 'https://doi.org/10.5281/zenodo.1',
  ingest_type: 'dataset',
  ingest_request_source: 'fatcat-ingest',
  link_source: 'doi',
  fatcat: { release_ident: 'aaaaaaaaaaaaaaaaaaaaaaaaai' },
};
const file = (path: string) => ({
  path,
  size: 3,
  md5: 'a'.repeat(32),
  sha1: 'b'.repeat(40),
  sha256: 'c'.repeat(64),
  mimetype: 'text/plain',
  status: 'success',
});
const row = {
  hit: true,
  status: 'success',
  request,
  ingest_strategy: 'web-fileset',
  file_count: 2,
  manifest: [file('a.txt'), file('b.txt')],
  terminal: { terminal_url: 'https://zenodo.org/records/1' },
};

describe('fatcat importer restatement', () => {
  it('wants only allowed, successful dataset results of 2..300 files', () => {
    expect(wantFileset(row)).toBe(true);
    expect(wantFileset({ ...row, hit: false })).toBe(false);
    expect(wantFileset({ ...row, request: { ...request, ingest_request_source: 'other' } })).toBe(false);
    expect(wantFileset({ ...row, manifest: [file('a.txt')] })).toBe(false);
    expect(wantFilesetFile({ ...row, status: 'success-file', file_count: 1, manifest: [file('a.txt')] })).toBe(true);
  });

  it('raises KeyError for a web-* result with platform_base_url and no web_base_url_dt', () => {
    const bad = { ...row, platform_base_url: 'https://zenodo.org/records/1', platform_bundle_url: 'https://x/zip' };
    expect(() => parseFilesetRecord(bad)).toThrow('KeyError: web_base_url_dt');
    const good = { ...bad, web_base_url: 'https://zenodo.org/records/1', web_base_url_dt: '20260101000000' };
    expect(parseFilesetRecord(good)).toMatchObject({
      urls: [
        { rel: 'webarchive-base', url: 'https://web.archive.org/web/20260101000000/https://zenodo.org/records/1' },
        { rel: 'repository-bundle', url: 'https://x/zip' },
        { rel: 'repository-base', url: 'https://x/zip' },
      ],
    });
  });

  it('raises ValueError for platform_base_url with a null platform_bundle_url, a null size or a bad hash', () => {
    const archived = { ...row, ingest_strategy: 'archiveorg-fileset', archiveorg_item_name: 'x' };
    expect(() =>
      parseFilesetRecord({ ...archived, platform_base_url: 'https://x/', platform_bundle_url: null }),
    ).toThrow('ValueError');
    expect(() => parseFilesetRecord({ ...archived, manifest: [file('a'), { ...file('b'), size: null }] })).toThrow(
      'ValueError',
    );
    expect(() =>
      parseFilesetRecord({ ...archived, manifest: [file('a'), { ...file('b'), md5: 'A'.repeat(32) }] }),
    ).toThrow('ValueError');
    expect(parseFilesetRecord(archived)).toMatchObject({ urls: [{ rel: 'archive-base' }, { rel: 'web' }] });
  });

  it('asserts a success-file manifest entry has status success and raises KeyError for a missing hash key', () => {
    const one = {
      ...row,
      status: 'success-file',
      file_count: 1,
      manifest: [{ ...file('a.txt'), platform_url: 'https://x/a.txt' }],
    };
    expect(parseFilesetFileRecord(one)).toHaveProperty('urls');
    expect(() => parseFilesetFileRecord({ ...one, manifest: [{ ...file('a.txt'), status: 'exists' }] })).toThrow(
      'AssertionError',
    );
    const { sha256: _sha256, ...noSha256 } = file('a.txt');
    expect(() =>
      parseFilesetFileRecord({ ...one, manifest: [{ ...noSha256, platform_url: 'https://x/a.txt' }] }),
    ).toThrow('KeyError: sha256');
  });
});
