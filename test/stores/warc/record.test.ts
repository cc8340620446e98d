import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  recordIdForm,
  serializeHeader,
  sha1Base32,
  storedResponseHead,
  warcDate,
  warcFieldsBlock,
} from '../../../src/stores/warc/record.js';

describe('sha1Base32', () => {
  it('matches the RFC 4648 test vectors', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY======'],
      ['fo', 'MZXQ===='],
      ['foo', 'MZXW6==='],
      ['foob', 'MZXW6YQ='],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI======'],
    ];
    for (const [input, encoded] of vectors) expect(sha1Base32(Buffer.from(input))).toBe(encoded);
  });

  it('gives the 32-character form Wayback uses for a SHA-1', () => {
    // sha1 of the empty string, as it appears in CDX files
    const digest = createHash('sha1').update('').digest();
    expect(sha1Base32(digest)).toBe('3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ');
  });
});

describe('warcDate', () => {
  it('uses second precision unless the date has milliseconds', () => {
    expect(warcDate(new Date('2024-03-01T12:34:56.000Z'))).toBe('2024-03-01T12:34:56Z');
    expect(warcDate(new Date('2024-03-01T12:34:56.789Z'))).toBe('2024-03-01T12:34:56.789Z');
  });

  it('rejects an invalid date', () => {
    expect(() => warcDate(new Date('nope'))).toThrow(TypeError);
  });
});

describe('serializeHeader', () => {
  it('writes the version line, the fields in order without undefined ones, and a blank line', () => {
    const header = serializeHeader([
      ['WARC-Type', 'resource'],
      ['WARC-Target-URI', 'https://example.org/a b'],
      ['WARC-IP-Address', undefined],
      ['Content-Length', 12],
    ]);
    expect(header.toString()).toBe(
      'WARC/1.1\r\nWARC-Type: resource\r\nWARC-Target-URI: https://example.org/a b\r\nContent-Length: 12\r\n\r\n',
    );
  });

  it('refuses a value that would start another field', () => {
    expect(() => serializeHeader([['WARC-Target-URI', 'https://example.org/\r\nWARC-Type: evil']])).toThrow(
      /control character/,
    );
  });

  it('keeps angle brackets on record ids exactly once', () => {
    expect(recordIdForm('urn:uuid:1')).toBe('<urn:uuid:1>');
    expect(recordIdForm('<urn:uuid:1>')).toBe('<urn:uuid:1>');
  });

  it('flattens line breaks inside warc-fields values', () => {
    expect(
      warcFieldsBlock([
        ['operator', 'a\r\nb'],
        ['software', undefined],
      ]).toString(),
    ).toBe('operator: a b\r\n');
  });
});

describe('storedResponseHead', () => {
  it('renames Transfer-Encoding and says the head changed', () => {
    const head = Buffer.from(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ntransfer-encoding : chunked\r\nX-Other: Transfer-Encoding: chunked\r\n\r\n',
      'latin1',
    );
    const stored = storedResponseHead(head);
    expect(stored.rewritten).toBe(true);
    expect(stored.head.toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\nX-Other: Transfer-Encoding: chunked\r\n\r\n',
    );
  });

  it('returns the same buffer when there is nothing to rename', () => {
    const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n', 'latin1');
    const stored = storedResponseHead(head);
    expect(stored).toEqual({ head, rewritten: false });
  });

  it('does not touch a status line that mentions the header', () => {
    const head = Buffer.from('HTTP/1.1 200 Transfer-Encoding: ok\r\nA: b\r\n\r\n', 'latin1');
    expect(storedResponseHead(head).rewritten).toBe(false);
  });

  it('keeps non-ASCII bytes of other fields as they were', () => {
    const head = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nX-Name: ', 'latin1'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1'),
    ]);
    const stored = storedResponseHead(head).head;
    expect(stored.subarray(0, 27)).toEqual(head.subarray(0, 27));
    expect(stored.toString('latin1')).toContain('X-Archive-Orig-Transfer-Encoding: chunked');
  });
});

describe('base32Decode', () => {
  it('inverts sha1Base32 for SHA-1 digests', async () => {
    const { base32Decode, sha1Base32 } = await import('../../../src/stores/warc/record.js');
    const { createHash } = await import('node:crypto');
    for (const text of ['', 'a', 'fileset-ingest']) {
      const digest = createHash('sha1').update(text).digest();
      expect(base32Decode(sha1Base32(digest))).toEqual(digest);
    }
    expect(() => base32Decode('not-base32!')).toThrow(/not base32/);
  });
});
