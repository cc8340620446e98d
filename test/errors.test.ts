import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';
import { IngestError } from '../src/errors.js';
import { STATUSES } from '../src/schemas/statuses.js';

type StatusClass = { status: string; new (message: string): IngestError };
const statusClasses = (Object.entries(errors) as Array<[string, unknown]>).filter(
  (entry): entry is [string, StatusClass] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof IngestError,
);

describe('error classes', () => {
  it('has one class per status, each a status of the wire vocabulary', () => {
    const statuses = statusClasses.map(([, cls]) => cls.status);
    expect(statuses.length).toBeGreaterThan(20);
    expect(new Set(statuses).size).toBe(statuses.length);
    for (const status of statuses) expect(STATUSES).toContain(status);
  });

  it.each(statusClasses)('%s carries its status and its own name', (name, cls) => {
    const err = new cls('what went wrong');
    expect(err).toBeInstanceOf(IngestError);
    expect(err.status).toBe(cls.status);
    expect(err.name).toBe(name);
    expect(err.message).toBe('what went wrong');
  });
});
