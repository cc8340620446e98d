import { describe, expect, it } from 'vitest';
import { chooseMimetype, mediaType, sniffMimetype } from '../src/mimetype.js';

describe('mimetype', () => {
  it('keeps a specific Content-Type and sniffs behind a generic one', () => {
    expect(chooseMimetype('text/csv; charset=utf-8', Buffer.from('a,b\n'))).toBe('text/csv');
    expect(chooseMimetype('application/octet-stream', Buffer.from('%PDF-1.7\n'))).toBe('application/pdf');
    expect(chooseMimetype(undefined, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0]))).toBe('application/zip');
    expect(chooseMimetype('binary/octet-stream', Buffer.from([0, 1, 2, 3]))).toBe('application/octet-stream');
    expect(chooseMimetype(null, Buffer.from('id,name\n1,x\n'))).toBe('text/plain');
    expect(chooseMimetype(null, Buffer.alloc(0))).toBe('application/octet-stream');
  });

  it('parses media types defensively', () => {
    expect(mediaType('Text/HTML; charset=UTF-8')).toBe('text/html');
    expect(mediaType('garbage')).toBeNull();
    expect(sniffMimetype(Buffer.from('  <!DOCTYPE html><html>'))).toBe('text/html');
  });
});
