import { describe, expect, it } from 'vitest';
import { checkBlocklist, cleanUrl } from '../../src/pipeline/url.js';
import { BlockedUrlError, InvalidUrlError } from '../../src/errors.js';

describe('cleanUrl', () => {
  it.each([
    ['10.5281/zenodo.7078725', 'https://doi.org/10.5281/zenodo.7078725'],
    ['doi:10.5281/zenodo.7078725', 'https://doi.org/10.5281/zenodo.7078725'],
    ['  https://dx.doi.org/10.5281/zenodo.7078725 ', 'https://doi.org/10.5281/zenodo.7078725'],
    ['http://doi.org/10.5061/dryad.6hdr7sr8z', 'https://doi.org/10.5061/dryad.6hdr7sr8z'],
    ['HTTPS://Zenodo.ORG/records/7078725#files', 'https://zenodo.org/records/7078725'],
    ['https://zenodo.org:443/record/1?x=1', 'https://zenodo.org/record/1?x=1'],
  ])('%s → %s', (input, expected) => {
    expect(cleanUrl(input)).toBe(expected);
  });

  it.each([
    '',
    '   ',
    'ftp://example.org/x',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'not a url',
    'https://user:pw@zenodo.org/records/1',
  ])('rejects %j as invalid-url', (input) => {
    expect(() => cleanUrl(input)).toThrow(InvalidUrlError);
  });
});

describe('checkBlocklist', () => {
  it('blocks web archive replays and configured patterns, case-insensitively', () => {
    expect(() => checkBlocklist('https://web.archive.org/web/2020/https://zenodo.org/', [])).toThrow(BlockedUrlError);
    expect(() => checkBlocklist('https://EXAMPLE.org/private/x', ['example.org/private'])).toThrow(
      /example.org\/private/,
    );
    expect(() => checkBlocklist('https://zenodo.org/records/1', ['example.org/private'])).not.toThrow();
  });
});
