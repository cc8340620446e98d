import { describe, expect, it } from 'vitest';
import { NetworkError } from '../../src/errors.js';
import { backoffDelay, classifyError, isRetryableError, retryAfterDelay } from '../../src/http/retry.js';

describe('retryAfterDelay', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 01 May 2024 12:00:30 GMT', 30_000],
    ['Wed, 01 May 2024 11:00:00 GMT', 0], // in the past: go now
    ['soon', undefined],
    [undefined, undefined],
  ])('%s -> %s', (value, expected) => expect(retryAfterDelay(value, now)).toBe(expected));
});

describe('backoffDelay', () => {
  it('grows exponentially from the base under full jitter and stops at the cap', () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, 500, 60_000, () => 1))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(20, 500, 60_000, () => 1)).toBe(60_000);
    expect(backoffDelay(3, 500, 60_000, () => 0)).toBe(0);
  });
});

describe('classifying transport errors', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });
  it('retries resets, refusals and timeouts, also when wrapped', () => {
    expect(isRetryableError(withCode('ECONNRESET'))).toBe(true);
    expect(isRetryableError(new Error('wrapped', { cause: withCode('UND_ERR_HEADERS_TIMEOUT') }))).toBe(true);
    expect(isRetryableError(new AggregateError([withCode('ECONNREFUSED')]))).toBe(true);
    expect(isRetryableError(withCode('ENOTFOUND'))).toBe(false);
  });
  it('turns network failures into NetworkError but leaves our own misuse alone', () => {
    expect(classifyError(withCode('ENOTFOUND'), 'example.org')).toBeInstanceOf(NetworkError);
    const misuse = withCode('UND_ERR_INVALID_ARG');
    expect(classifyError(misuse, 'example.org')).toBe(misuse);
  });
});
