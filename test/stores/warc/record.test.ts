import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  GzipMemberWriter,
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

describe('GzipMemberWriter', () => {
  async function member(parts: Buffer[], blockSize: number, level = 6): Promise<{ out: Buffer; csize: number }> {
    const written: Buffer[] = [];
    const writer = new GzipMemberWriter(
      async (chunk) => {
        written.push(Buffer.from(chunk));
      },
      { level, blockSize, inFlight: 3 },
    );
    for (const part of parts) await writer.push(part);
    const csize = await writer.finish();
    return { out: Buffer.concat(written), csize };
  }

  it('writes one gzip member that gunzips to the input, across many parallel blocks', async () => {
    // Repetitive text across block boundaries checks the dictionary priming; random bytes check
    // incompressible blocks.
    const parts = [
      Buffer.from('WARC/1.1\r\n'),
      Buffer.from('the same line again and again\n'.repeat(5000)),
      randomBytes(70_000),
      Buffer.from('tail'),
    ];
    const { out, csize } = await member(parts, 16 * 1024);
    expect(csize).toBe(out.length);
    expect(out.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(out).equals(Buffer.concat(parts))).toBe(true);
    // One member: nothing follows the first member's trailer.
    const first = gunzipSync(out, { info: true }) as unknown as { engine: { bytesWritten: number } };
    expect(first.engine.bytesWritten).toBe(out.length);
  });

  it('primes each block with the previous 32 KiB, so matches across blocks still compress', async () => {
    // A 16 KiB random unit repeated: one stream compresses it to ~16 KiB; unprimed 32 KiB blocks
    // would each store one full copy (~16 KiB per block, ~160 KiB in all).
    const unit = randomBytes(16 * 1024);
    const data = Buffer.concat(Array.from({ length: 20 }, () => unit));
    const { out } = await member([data], 32 * 1024);
    const single = await member([data], 1 << 24);
    expect(gunzipSync(out).equals(data)).toBe(true);
    expect(out.length).toBeLessThan(single.out.length * 1.5);
  });

  it('writes a valid member for an empty input', async () => {
    const { out } = await member([], 1024);
    expect(gunzipSync(out).length).toBe(0);
  });

  it('rejects finish() when a write fails, and settle() then resolves', async () => {
    const writer = new GzipMemberWriter(
      async () => {
        throw new Error('disk full');
      },
      { level: 1, blockSize: 1024, inFlight: 2 },
    );
    const pushing = writer.push(randomBytes(10_000)).then(() => writer.finish());
    await expect(pushing).rejects.toThrow('disk full');
    await expect(writer.settle()).resolves.toBeUndefined();
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
