// WarcAudit on WARC files our writer made, then altered the ways damage and foreign writers alter
// them: each problem is named by file and the offset of the record's gzip member.
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WarcAudit } from '../../../src/stores/warc/audit.js';
import { WarcWriter, type ExchangeInput, type RecordLocation } from '../../../src/stores/warc/writer.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warc-audit-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function exchange(url: string, payload: Buffer, date: Date): Promise<ExchangeInput> {
  const payloadPath = join(dir, `payload-${createHash('sha1').update(url).digest('hex')}`);
  await writeFile(payloadPath, payload);
  return {
    targetUri: url,
    date,
    requestHead: Buffer.from(`GET ${new URL(url).pathname} HTTP/1.1\r\n\r\n`, 'latin1'),
    responseHead: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`, 'latin1'),
    payloadPath,
    payloadLength: payload.length,
    payloadSha1: createHash('sha1').update(payload).digest(),
  };
}

/** A WARC with a response, a revisit of it and a second response; returns its path and locations. */
async function sample(revisitDate?: Date) {
  const writer = await WarcWriter.open({
    dir: join(dir, 'warcs'),
    prefix: 'T',
    rolloverSize: 1 << 30,
    software: 'test',
    logger: pino({ level: 'silent' }),
  });
  const payload = Buffer.from('a,b\n1,2\n'.repeat(500));
  const first = await exchange('https://example.org/a.csv', payload, new Date('2026-01-01T00:00:00.123Z'));
  const original = await writer.writeExchange(first);
  const revisit = await writer.writeExchange({
    ...(await exchange('https://example.org/copy.csv', payload, new Date('2026-01-02T00:00:00Z'))),
    revisitOf: { targetUri: first.targetUri, date: revisitDate ?? first.date, recordId: original.response.recordId },
  });
  const last = await writer.writeExchange(
    await exchange('https://example.org/b.csv', Buffer.from('x'.repeat(3000)), new Date('2026-01-03T00:00:00Z')),
  );
  const name = writer.currentFile()!;
  await writer.close();
  return { name, path: join(dir, 'warcs', name), original, revisit, last };
}

function unchanged(member: Buffer, held: Buffer): boolean {
  try {
    return gunzipSync(member).equals(held);
  } catch {
    return false;
  }
}

async function audit(path: string, name: string): Promise<WarcAudit> {
  const result = new WarcAudit();
  await result.file(path, name);
  result.finish();
  return result;
}

const where = (name: string, location: RecordLocation) => `${name}@${location.offset}`;

describe('WarcAudit', () => {
  it('finds nothing wrong in what the writer wrote, and counts records and payload bytes', async () => {
    const { path, name } = await sample();
    const result = await audit(path, name);
    expect(result.problems).toEqual([]);
    expect(result.records).toBe(7); // warcinfo, 3 requests, 2 responses, 1 revisit
    expect(result.payloadBytes).toBe(4000 + 3000);
  });

  it('names a revisit whose WARC-Refers-To-Date is not the original WARC-Date to the millisecond', async () => {
    const { path, name, revisit } = await sample(new Date('2026-01-01T00:00:00Z'));
    expect((await audit(path, name)).problems).toEqual([
      {
        where: where(name, revisit.response),
        message: "revisit: WARC-Refers-To-Date 2026-01-01T00:00:00Z, original's WARC-Date is 2026-01-01T00:00:00.123Z",
      },
    ]);
  });

  it('names a damaged member and still reads every member after it', async () => {
    const { path, name, original, last } = await sample();
    const bytes = await readFile(path);
    bytes[original.response.offset + Math.floor(original.response.csize / 2)]! ^= 0xff;
    await writeFile(path, bytes);
    const result = await audit(path, name);
    expect(result.problems.length).toBeGreaterThan(0);
    expect(new Set(result.problems.map((p) => p.where.split('@')[1]))).not.toContain(String(last.response.offset));
    expect(result.problems.some((p) => p.where === where(name, original.response))).toBe(true);
    // The records after the damage were read: the last response's payload is counted.
    expect(result.payloadBytes).toBeGreaterThanOrEqual(3000);
  });

  it('names a block its member ends inside, and reads on (warcio alone would skip the missing bytes for ever)', async () => {
    const { path, name, last } = await sample();
    const bytes = await readFile(path);
    const response = gunzipSync(bytes.subarray(last.response.offset, last.response.offset + last.response.csize));
    // A whole, CRC-correct member whose record stops 5 bytes short of its Content-Length.
    const short = gzipSync(response.subarray(0, response.length - 4 - 5));
    await writeFile(path, bytes.subarray(0, last.response.offset));
    await appendFile(path, short);
    await appendFile(path, bytes.subarray(last.response.offset + last.response.csize));
    const problems = (await audit(path, name)).problems;
    expect(problems).toContainEqual({
      where: where(name, last.response),
      message: expect.stringMatching(/^block is \d+ bytes, Content-Length says \d+$/),
    });
  });

  it('ends on every single-byte change of a member, naming that member', async () => {
    const { path, name, last } = await sample();
    const bytes = await readFile(path);
    const { offset, csize } = last.response;
    const held = gunzipSync(bytes.subarray(offset, offset + csize));
    for (let at = offset; at < offset + csize; at += 1) {
      // The gzip header's MTIME, XFL and OS bytes: no checksum covers them, nothing to find.
      if (at - offset >= 4 && at - offset <= 9) continue;
      const changed = Buffer.from(bytes);
      changed[at]! ^= 0x5a;
      // Nor in the padding bits after the last deflate block (where they fall depends on the
      // record's random id): a member that still inflates to the same bytes changed nothing.
      if (unchanged(changed.subarray(offset, offset + csize), held)) continue;
      await writeFile(path, changed);
      const problems = (await audit(path, name)).problems;
      expect(problems.length, `byte ${at - offset} of the member changed`).toBeGreaterThan(0);
    }
  });

  it('names a member holding two records, a request without its response, and trailing garbage', async () => {
    const { path, name, last } = await sample();
    const bytes = await readFile(path);
    const request = gunzipSync(bytes.subarray(last.request.offset, last.request.offset + last.request.csize));
    const response = gunzipSync(bytes.subarray(last.response.offset, last.response.offset + last.response.csize));
    // The last pair rewritten as one member, then a request alone, then bytes that are no gzip.
    await writeFile(path, bytes.subarray(0, last.request.offset));
    await appendFile(path, gzipSync(Buffer.concat([request, response])));
    const orphan = (await readFile(path)).length;
    const unanswered = request
      .toString('latin1')
      .replace(/WARC-Concurrent-To: <[^>]+>/, 'WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-000000000000>');
    await appendFile(path, gzipSync(Buffer.from(unanswered, 'latin1')));
    const garbage = (await readFile(path)).length;
    await appendFile(path, Buffer.from('not gzip at all'));
    const problems = (await audit(path, name)).problems;
    expect(problems).toContainEqual({
      where: `${name}@${last.request.offset}`,
      message: 'gzip member holds 2 records (one per member is expected)',
    });
    expect(problems).toContainEqual({
      where: `${name}@${orphan}`,
      message: 'request names no response or revisit of this file (WARC-Concurrent-To)',
    });
    expect(problems).toContainEqual({
      where: `${name}@${garbage}`,
      message: 'not a gzip member (bytes skipped to the next gzip header)',
    });
  });
});
