// The request's bounds: one validator for ingest, requests, the worker and produce.
import { describe, expect, it } from 'vitest';
import {
  boundedEcho,
  isFilesetIngestType,
  MAX_BASE_URL_BYTES,
  MAX_REQUEST_BYTES,
  parseRequest,
} from '../../src/schemas/request.js';

const problemOf = (value: unknown) => {
  const parsed = parseRequest(value);
  return 'problem' in parsed ? parsed.problem : null;
};

describe('parseRequest bounds', () => {
  it('accepts a base_url of exactly 8 KiB and refuses one byte more (UTF-8 bytes, not characters)', () => {
    const url = (bytes: number) => `https://example.org/${'a'.repeat(bytes - 20)}`;
    expect(problemOf({ base_url: url(MAX_BASE_URL_BYTES) })).toBeNull();
    expect(problemOf({ base_url: url(MAX_BASE_URL_BYTES + 1) })).toMatch(/^request\.base_url: longer than 8192 bytes/);
    // 3000 characters of 3 bytes each: under 8192 characters, over 8192 bytes.
    expect(problemOf({ base_url: `https://example.org/${'中'.repeat(3000)}` })).toMatch(/request\.base_url: longer/);
    expect(problemOf({ base_url: `https://example.org/${'x'.repeat(10 * 1024 * 1024)}` })).toMatch(/base_url/);
  });

  it('refuses every other string field over 1 KiB, naming it', () => {
    const long = 'x'.repeat(1025);
    for (const field of [
      'ingest_type',
      'link_source',
      'link_source_id',
      'ingest_request_source',
      'release_stage',
      'rel',
    ])
      expect(problemOf({ base_url: 'https://example.org/', [field]: long })).toMatch(
        new RegExp(`^request\\.${field}:`),
      );
    expect(problemOf({ base_url: 'https://example.org/', fatcat: { release_ident: long } })).toMatch(
      /^request\.fatcat\.release_ident:/,
    );
  });

  it('refuses NUL characters anywhere, in known and unknown fields, values and keys', () => {
    expect(problemOf({ base_url: 'https://example.org/\0' })).toMatch(/request\.base_url: contains a NUL/);
    expect(problemOf({ base_url: 'https://example.org/', ext_ids: { doi: '10.1/\0' } })).toMatch(
      /request\.ext_ids\.doi: contains a NUL/,
    );
    expect(problemOf({ base_url: 'https://example.org/', junk: [{ 'a\0': 1 }] })).toMatch(/contains a NUL/);
  });

  it('refuses a request over 64 KiB in all, or nested too deep, without exhausting the stack', () => {
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`f${i}`, 'y'.repeat(400)]));
    expect(problemOf({ base_url: 'https://example.org/', ...many })).toMatch(`larger than ${MAX_REQUEST_BYTES} bytes`);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(problemOf({ base_url: 'https://example.org/', edit_extra: { deep } })).toMatch(/nested deeper than 32/);
    expect(
      problemOf({ base_url: 'https://example.org/', ext_ids: { doi: '10.5281/zenodo.1' }, x: { y: [1] } }),
    ).toBeNull();
  });

  it('echoes a refused request with its strings clipped, never megabytes', () => {
    const echo = boundedEcho({ base_url: 'h'.repeat(20_000), junk: 'x'.repeat(10_000_000), n: 1 });
    expect(echo).toEqual({ base_url: 'h'.repeat(8192), junk: 'x'.repeat(1024), n: 1 });
    const wide = boundedEcho({
      base_url: 'https://e.org/',
      ...Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'z'.repeat(2000)])),
    });
    expect(wide).toEqual({ base_url: 'https://e.org/' });
  });
});

describe('isFilesetIngestType', () => {
  it('answers dataset requests (and requests that name no type), nothing else', () => {
    expect(isFilesetIngestType('dataset')).toBe(true);
    expect(isFilesetIngestType(undefined)).toBe(true);
    for (const type of ['pdf', 'html', 'xml', 'component', 'src', 'dataset-file', 'Dataset', '']) {
      expect(isFilesetIngestType(type)).toBe(false);
    }
  });
});
