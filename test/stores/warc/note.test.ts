// The per-ingest note must stay readable (warcio.js reads the result back) and must never be
// indexed as a capture (jwarc's indexer lists only the captured URL).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NOTE_URI_PREFIX, readNote, resultNote } from '../../../src/stores/warc/note.js';
import { sha1Base32, WarcWriter } from '../../../src/stores/warc/writer.js';
import { createHash } from 'node:crypto';
import { expectValidWarc, jwarcCdx } from '../../support/jwarc.js';
import { readWarc } from '../../support/warcio.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warc-note-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const URL = 'https://zenodo.org/records/7078760';

describe('resultNote', () => {
  it('is a warc-fields metadata record under a URN that warcio reads back and jwarc does not index', async () => {
    const writer = await WarcWriter.open({
      dir,
      prefix: 'TEST',
      rolloverSize: 1 << 30,
      software: 'fileset-ingest/test',
      logger: pino({ level: 'silent' }),
    });
    const payload = Buffer.from('<html>the landing page</html>');
    const responseHead = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n`, 'latin1');
    const result = { hit: true, status: 'success', request: { base_url: URL }, error_message: 'line\r\nbreak é' };
    const payloadPath = join(dir, 'payload');
    await import('node:fs/promises').then((fs) => fs.writeFile(payloadPath, payload));
    await writer.writeExchange({
      targetUri: URL,
      date: new Date('2026-01-02T03:04:05.678Z'),
      requestHead: Buffer.from('GET /records/7078760 HTTP/1.1\r\nHost: zenodo.org\r\n\r\n', 'latin1'),
      responseHead,
      payloadPath,
      payloadLength: payload.length,
      payloadSha1: createHash('sha1').update(payload).digest(),
    });
    await writer.writeMetadata(resultNote(URL, result, new Date('2026-01-02T03:04:06Z')));
    const name = writer.currentFile()!;
    await writer.close();
    const path = join(dir, name);
    await expectValidWarc(path);

    const note = (await readWarc(path)).find((r) => r.type === 'metadata')!;
    expect(note.headers.get('warc-target-uri')).toBe(`${NOTE_URI_PREFIX}${URL}`);
    expect(note.headers.get('content-type')).toBe('application/warc-fields');
    expect(readNote(note.block.toString('utf8'))).toEqual(result);

    const indexed = await jwarcCdx([path]);
    expect(indexed.map((line) => [line.url, line.timestamp, line.digest])).toEqual([
      [URL, '20260102030405', sha1Base32(createHash('sha1').update(payload).digest())],
    ]);
  });

  it('reads no result from a block without the field', () => {
    expect(readNote('software: x\r\n')).toBeUndefined();
  });
});
