// The wire form of a manifest entry: what a consumer reads of a file the platform described.
import { describe, expect, it } from 'vitest';
import { wireEntry } from '../../src/strategies/outcomes.js';

describe('wireEntry', () => {
  it('gives hex digests in lower case (fatcat refuses others) and drops the internal fields', () => {
    const entry = wireEntry(
      {
        path: 'a.csv',
        size: 3,
        md5: 'C028F525F314C49EA48ED09E82292ED2',
        sha1: 'not hex at all',
        restricted: true,
      },
      'platform-restricted',
    );
    expect(entry).toEqual({
      path: 'a.csv',
      size: 3,
      md5: 'c028f525f314c49ea48ed09e82292ed2',
      sha1: 'not hex at all',
      status: 'platform-restricted',
    });
  });
});
