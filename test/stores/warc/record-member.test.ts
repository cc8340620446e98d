// Empty deflate blocks as filler inside a member: exact lengths, and inflaters see nothing.
import { constants, deflateRawSync, gunzipSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GZIP_HEADER, gzipTrailer } from '../../../src/stores/warc/gzip-member.js';
import { emptyBlocks } from '../../../src/stores/warc/record-member.js';
import { crc32 } from 'node:zlib';

describe('emptyBlocks', () => {
  const before = deflateRawSync(Buffer.from('WARC/1.1\r\n'), { finishFlush: constants.Z_SYNC_FLUSH });
  const after = deflateRawSync(Buffer.from('payload\r\n\r\n'));
  const text = 'WARC/1.1\r\npayload\r\n\r\n';

  it('takes exactly the length asked and inflates to nothing, between two parts of a stream', () => {
    for (let length = 0; length <= 100; length++) {
      if ([1, 2, 3, 4, 8].includes(length)) continue;
      const filler = emptyBlocks(length);
      expect(filler.length).toBe(length);
      const stream = Buffer.concat([before, filler, after]);
      expect(inflateRawSync(stream).toString()).toBe(text);
      // As one gzip member, read by gunzip.
      const member = Buffer.concat([GZIP_HEADER, stream, gzipTrailer(crc32(text), text.length)]);
      expect(gunzipSync(member).toString()).toBe(text);
    }
  });

  it('refuses the lengths no empty blocks add up to', () => {
    for (const length of [1, 2, 3, 4, 8]) expect(() => emptyBlocks(length)).toThrow(RangeError);
  });
});
