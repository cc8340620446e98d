// Reading a `.warc.gz` gzip member by member with the native inflater, streaming (memory flat in
// member size): each member's offset and compressed length, its inflated bytes as they come, and
// whether its trailer (CRC-32, length) holds. A damaged member is reported and the reader moves on
// to the next gzip header, so one bad byte costs one record, not the rest of the file.
import type { FileHandle } from 'node:fs/promises';
import { crc32, createInflateRaw } from 'node:zlib';
import { gzipHeaderLength } from './recovery.js';

const WINDOW = 1 << 20;
/** Input handed to the inflater at a time: bounds what one write can inflate to. */
const FEED = 64 * 1024;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

/** Random access to a file through one read-ahead window. */
class FileWindow {
  private start = 0;
  private buf = Buffer.alloc(0);

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  /** Bytes from `position` on (at least one unless at the end of the file). */
  async at(position: number): Promise<Buffer> {
    if (position < this.start || position >= this.start + this.buf.length) {
      const buf = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(0, this.size - position)));
      const { bytesRead } = buf.length ? await this.handle.read(buf, 0, buf.length, position) : { bytesRead: 0 };
      this.start = position;
      this.buf = buf.subarray(0, bytesRead);
    }
    return this.buf.subarray(position - this.start);
  }

  /** The offset of the next gzip header at or after `position`, or the file size. */
  async nextMagic(position: number): Promise<number> {
    for (let at = position; at < this.size;) {
      const bytes = await this.at(at);
      if (!bytes.length) break;
      const found = bytes.indexOf(GZIP_MAGIC);
      if (found >= 0) return at + found;
      at += Math.max(1, bytes.length - (GZIP_MAGIC.length - 1));
    }
    return this.size;
  }
}

export interface Member {
  /** Offset of the member's gzip header in the file. */
  offset: number;
  /** The inflated bytes; consume them fully (or call `skip`) before asking for the next member. */
  body: AsyncIterable<Buffer>;
  /** Resolves when the body is consumed: the member's compressed length, or why it is damaged. */
  end: Promise<{ length: number; damage?: string }>;
}

/** Every gzip member of the file, in order; damaged stretches are skipped to the next gzip header. */
export async function* gzipMembers(handle: FileHandle): AsyncGenerator<Member> {
  const window = new FileWindow(handle, (await handle.stat()).size);
  let position = 0;
  while (position < window.size) {
    const header = gzipHeaderLength(await window.at(position));
    if (header === undefined) {
      const next = await window.nextMagic(position + 1);
      const member = damaged(position, next - position, 'not a gzip member (bytes skipped to the next gzip header)');
      yield member;
      position = next;
      continue;
    }
    let settle!: (value: { length: number; damage?: string }) => void;
    const end = new Promise<{ length: number; damage?: string }>((resolve) => (settle = resolve));
    const offset = position;
    const body = inflateMember(window, offset + header, (result) => {
      if (result.damage === undefined) {
        position = result.trailerEnd;
        settle({ length: result.trailerEnd - offset });
      } else {
        settle({ length: 0, damage: result.damage });
      }
    });
    yield { offset, body, end };
    const done = await end;
    if (done.damage !== undefined) position = await window.nextMagic(offset + 1);
  }
}

function damaged(offset: number, length: number, damage: string): Member {
  return {
    offset,
    body: (async function* () {})(),
    end: Promise.resolve({ length, damage }),
  };
}

async function* inflateMember(
  window: FileWindow,
  dataStart: number,
  done: (result: { trailerEnd: number; damage?: undefined } | { damage: string }) => void,
): AsyncGenerator<Buffer> {
  const inflater = createInflateRaw({ chunkSize: WINDOW });
  const out: Buffer[] = [];
  let crc = 0;
  let length = 0;
  let ended = false;
  let failure: Error | undefined;
  inflater.on('data', (chunk: Buffer) => {
    crc = crc32(chunk, crc);
    length += chunk.length;
    out.push(chunk);
  });
  const finished = new Promise<void>((resolve) => {
    inflater.once('end', () => {
      ended = true;
      resolve();
    });
    inflater.once('error', (err) => {
      failure = err;
      resolve();
    });
  });
  let reported = false;
  const report = (result: Parameters<typeof done>[0]) => {
    if (!reported) done(result);
    reported = true;
  };
  try {
    let position = dataStart;
    while (!ended && !failure) {
      const input = (await window.at(position)).subarray(0, FEED);
      if (!input.length) {
        inflater.end();
        await finished;
        break;
      }
      position += input.length;
      await Promise.race([new Promise<void>((resolve) => inflater.write(input, () => resolve())), finished]);
      while (out.length) yield out.shift()!;
    }
    while (out.length) yield out.shift()!;
    if (!ended || failure) {
      report({ damage: failure ? `gzip data is corrupt (${failure.message})` : 'gzip member is cut short' });
      return;
    }
    const trailerAt = dataStart + inflater.bytesWritten;
    const trailer = (await window.at(trailerAt)).subarray(0, 8);
    if (trailer.length < 8) report({ damage: 'gzip member is cut short (no trailer)' });
    else if (trailer.readUInt32LE(0) !== crc >>> 0) report({ damage: 'gzip CRC-32 does not match the inflated bytes' });
    else if (trailer.readUInt32LE(4) !== length % 2 ** 32) report({ damage: 'gzip length does not match' });
    else report({ trailerEnd: trailerAt + 8 });
  } finally {
    inflater.destroy();
    report({ damage: 'gzip member not read to its end' });
  }
}
