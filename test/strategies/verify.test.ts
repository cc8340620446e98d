import { describe, expect, it } from 'vitest';
import { fillFromMeta, verifyFile } from '../../src/strategies/verify.js';

const meta = {
  size_bytes: 76,
  md5hex: '154d822b8c2aa259867067f01c0efee5',
  sha1hex: 'a'.repeat(40),
  sha256hex: 'b'.repeat(64),
  mimetype: 'text/csv',
};

describe('verifyFile', () => {
  it('checks size first, then each hash the platform gave', () => {
    expect(verifyFile({ path: 'x', size: 75, md5: 'wrong' }, meta).status).toBe('mismatch-size');
    expect(verifyFile({ path: 'x', size: 76, md5: '0'.repeat(32) }, meta).status).toBe('mismatch-md5');
    expect(verifyFile({ path: 'x', md5: meta.md5hex.toUpperCase(), sha1: 'c'.repeat(40) }, meta).status).toBe(
      'mismatch-sha1',
    );
    expect(verifyFile({ path: 'x', sha256: 'd'.repeat(64) }, meta)).toEqual({
      status: 'mismatch-sha256',
      message: `x: sha256 is ${meta.sha256hex}, platform says ${'d'.repeat(64)}`,
    });
    expect(verifyFile({ path: 'x', size: 76, md5: meta.md5hex }, meta).status).toBe('success');
  });

  it('fills missing hashes and the mimetype from the bytes, keeping platform values', () => {
    expect(fillFromMeta({ path: 'x', size: 76, md5: meta.md5hex }, meta)).toEqual({
      path: 'x',
      size: 76,
      md5: meta.md5hex,
      sha1: meta.sha1hex,
      sha256: meta.sha256hex,
      mimetype: 'text/csv',
    });
  });
});
