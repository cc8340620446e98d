// Where a body goes while it downloads: memory, a file, or a deflated spool.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inflateRawSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BodySpool } from '../../src/capture/body-spool.js';
import { DeflatedSpool } from '../../src/stores/warc/deflated-spool.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'body-spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const chunked = (data: Buffer, size = 10_000): Readable =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
  );

describe('BodySpool', () => {
  it('keeps a body up to the limit in memory, with no file', async () => {
    const body = randomBytes(50_000);
    const spool = BodySpool.inMemory(join(dir, 'a'), 50_000);
    await pipeline(chunked(body), spool);
    expect(spool.result()).toEqual({ payload: body });
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it('spills a body past the limit to its file (making its directory), bytes in order', async () => {
    const body = randomBytes(50_001);
    const path = join(dir, 'not-yet', 'a');
    const spool = BodySpool.inMemory(path, 50_000);
    await pipeline(chunked(body), spool);
    expect(spool.result()).toEqual({ payloadPath: path });
    expect((await readFile(path)).equals(body)).toBe(true);
  });

  it('writes a kept body to its file even when empty', async () => {
    const spool = BodySpool.toFile(join(dir, 'kept'));
    await pipeline(Readable.from([]), spool);
    expect(spool.result()).toEqual({ payloadPath: join(dir, 'kept') });
    expect((await readFile(join(dir, 'kept'))).length).toBe(0);
  });

  it('deflates into a spool whose part inflates to the body', async () => {
    const body = Buffer.concat([Buffer.from('row,value\n'.repeat(100_000)), randomBytes(300_000)]);
    const deflated = await DeflatedSpool.create(join(dir, 'd'), { level: 5, blockSize: 64 * 1024, inFlight: 3 });
    const spool = BodySpool.deflating(deflated);
    await pipeline(chunked(body), spool);
    const result = spool.result();
    if (!('deflatedPayload' in result)) throw new Error('expected a deflated payload');
    expect(result.deflatedPayload).toMatchObject({ path: join(dir, 'd'), length: body.length });
    const part = await readFile(join(dir, 'd'));
    expect(part.length).toBe(result.deflatedPayload.compressedLength);
    expect(part.length).toBeLessThan(300_000 + 100_000);
    // A non-final part: inflate it with a final empty stored block after it.
    expect(inflateRawSync(Buffer.concat([part, Buffer.from([1, 0, 0, 0xff, 0xff])])).equals(body)).toBe(true);
  });

  it('discard() after a failed download removes the file, whichever kind', async () => {
    const failing = () =>
      new Readable({
        read() {
          this.push(randomBytes(200_000));
          this.destroy(new Error('connection reset'));
        },
      });
    const deflated = await DeflatedSpool.create(join(dir, 'd'), { level: 5, blockSize: 64 * 1024, inFlight: 3 });
    for (const spool of [BodySpool.inMemory(join(dir, 'm'), 1000), BodySpool.deflating(deflated)]) {
      await expect(pipeline(failing(), spool)).rejects.toThrow('connection reset');
      await spool.discard();
      expect(existsSync(spool.path)).toBe(false);
    }
  });
});
