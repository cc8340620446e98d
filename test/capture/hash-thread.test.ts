// Digests on the hash thread: the same as on the main thread whatever the chunking, with
// back-pressure, and sessions that end (or are dropped) without keeping the process alive.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OffThreadHash } from '../../src/capture/hash-thread.js';

const hex = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

async function hashInChunks(data: Buffer, sizes: number[]): Promise<{ digests: string[]; waits: number }> {
  const hash = new OffThreadHash(['md5', 'sha256', 'sha1']);
  let waits = 0;
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    const chunk = Buffer.from(data.subarray(at, at + size));
    hash.update(chunk);
    chunk.fill(0); // the caller may reuse its buffer as soon as update() returns
    at += size;
    const ready = hash.ready();
    if (ready) {
      waits += 1;
      await ready;
    }
  }
  return { digests: await hash.digest(), waits };
}

describe('OffThreadHash', () => {
  it('gives the digests of the bytes, across batch boundaries, in the order asked', async () => {
    const data = randomBytes((3 << 20) + 12345);
    for (const sizes of [[data.length], [1], [65536, 7, (1 << 20) + 1], [(1 << 20) - 1]]) {
      const input = sizes[0] === 1 ? data.subarray(0, 5000) : data;
      const { digests } = await hashInChunks(input, sizes);
      expect(digests).toEqual([hex('md5', input), hex('sha256', input), hex('sha1', input)]);
    }
  });

  it('hashes the empty input', async () => {
    expect(await new OffThreadHash(['md5']).digest()).toEqual([hex('md5', Buffer.alloc(0))]);
  });

  it('keeps several sessions apart', async () => {
    const a = randomBytes(3 << 20);
    const b = randomBytes(2 << 20);
    const ha = new OffThreadHash(['sha256']);
    const hb = new OffThreadHash(['sha256']);
    for (let at = 0; at < a.length; at += 1 << 19) {
      ha.update(a.subarray(at, at + (1 << 19)));
      hb.update(b.subarray(at, at + (1 << 19)));
    }
    expect(await Promise.all([hb.digest(), ha.digest()])).toEqual([[hex('sha256', b)], [hex('sha256', a)]]);
  });

  it('asks the caller to wait once 4 MiB are in flight, and lets it go on when the thread catches up', async () => {
    const data = randomBytes(40 << 20);
    const hash = new OffThreadHash(['sha256']);
    let ready: Promise<void> | undefined;
    let sent = 0;
    while (!ready) {
      hash.update(data.subarray(sent, sent + (1 << 20)));
      sent += 1 << 20;
      ready = hash.ready();
    }
    // Nothing is acknowledged while this synchronous loop runs, so it stops exactly at the limit.
    expect(sent).toBe(4 << 20);
    await ready;
    expect(hash.ready()).toBeUndefined();
    hash.update(data.subarray(sent));
    expect(await hash.digest()).toEqual([hex('sha256', data)]);
  });

  it('drops a session, and a later one still works', async () => {
    const dropped = new OffThreadHash(['md5']);
    dropped.update(randomBytes(2 << 20));
    dropped.drop();
    const data = randomBytes(1000);
    const next = new OffThreadHash(['md5']);
    next.update(data);
    expect(await next.digest()).toEqual([hex('md5', data)]);
  });

  it('reports an unknown algorithm as a failure, not a hang', async () => {
    const bad = new OffThreadHash(['no-such-hash']);
    bad.update(Buffer.from('x'));
    await expect(bad.digest()).rejects.toThrow();
    // The thread died with it; the next session gets a new one.
    expect(await new OffThreadHash(['sha1']).digest()).toEqual([hex('sha1', Buffer.alloc(0))]);
  });
});
