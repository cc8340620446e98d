import { describe, expect, it } from 'vitest';
import { InfrastructureError, NetworkError } from '../../src/errors.js';
import { classifyError, isRetryableError } from '../../src/http/failures.js';

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
  it('leaves our own infrastructure failures (a refused database connection) as they are, unretried', () => {
    const down = new InfrastructureError('PostgreSQL at db:5432: connect ECONNREFUSED', {
      cause: withCode('ECONNREFUSED'),
    });
    expect(classifyError(down, 'zenodo.org')).toBe(down);
    expect(isRetryableError(down)).toBe(false);
  });
});
