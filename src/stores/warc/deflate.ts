// Adaptive raw deflate for WARC records: input cut into blocks that compress in parallel on the
// libuv pool, each either deflated or, when a cheap probe says it will not shrink, framed as
// stored blocks, so incompressible payloads cost a copy rather than a deflate.
import { constants, crc32, createDeflateRaw, deflateRawSync, type DeflateRaw } from 'node:zlib';

export interface DeflateOptions {
  /** zlib level 0-9 for compressible blocks (0: every block stored). */
  level: number;
  /** Uncompressed bytes per parallel block. */
  blockSize: number;
  /** Blocks compressing or waiting to be written at once. */
  inFlight: number;
}

/** What one deflate stream (or part of one) held and became. */
export interface DeflateSummary {
  /** CRC-32 of the uncompressed bytes. */
  crc: number;
  /** Uncompressed bytes. */
  length: number;
  /** Compressed bytes written. */
  compressedLength: number;
}

/** Receives compressed output in order, one call at a time; `last` marks the stream's final call. */
export type DeflateSink = (chunks: Buffer[], last: boolean) => Promise<void>;

/** Blocks this small are deflated on the calling thread: a pool round trip costs more than they do. */
const SMALL_BLOCK = 16 * 1024;
/** Bytes of a block that the probe compresses at level 1 to decide. */
const PROBE_SIZE = 16 * 1024;
/** A block is deflated only if its probe shrank to at most this fraction (saves at least 5 %). */
const PROBE_WORTHWHILE = 0.95;
/** The most a stored deflate block holds (LEN is 16 bits). */
const STORED_MAX = 0xffff;

/** Output buffer of a pooled engine: a block's output is sliced from it until it is full. */
const ENGINE_OUTPUT = 256 * 1024;
/** Idle engines kept per level (about 1.5 MiB each with their buffers); more are closed. */
const ENGINE_IDLE_MAX = 16;
/** An empty final fixed-Huffman block (BFINAL 1, BTYPE 01, end of block): ends a stream after a sync flush. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

/**
 * A zlib deflate engine reused block after block: it is reset between blocks, so each block is a
 * stream of its own that ends on a sync flush. Creating an engine per block allocated its state,
 * an output buffer the size of the block and a joined copy of the input every time; that churn,
 * several times the bytes archived, drove a full garbage collection every few dozen megabytes.
 */
class PooledEngine {
  private readonly stream: DeflateRaw;
  private output: Buffer[] = [];
  private staging: Buffer | undefined;
  private failure: Error | undefined;
  private onFailure: ((err: Error) => void) | undefined;

  constructor(level: number) {
    this.stream = createDeflateRaw({ level, chunkSize: ENGINE_OUTPUT });
    this.stream.on('data', (chunk: Buffer) => this.output.push(chunk));
    this.stream.on('error', (err: Error) => {
      this.failure = err;
      this.onFailure?.(err);
    });
  }

  get healthy(): boolean {
    return this.failure === undefined;
  }

  /** The parts deflated as one stream ending on a sync flush (byte-aligned, not final). */
  async deflate(parts: readonly Buffer[], length: number): Promise<Buffer[]> {
    const input = parts.length === 1 ? parts[0]! : this.stage(parts, length);
    this.output = [];
    await new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.onFailure = reject;
      this.stream.write(input);
      // The flush's callback runs once every output byte of the block has been emitted as 'data'.
      this.stream.flush(constants.Z_SYNC_FLUSH, () => (this.failure ? reject(this.failure) : resolve()));
    });
    this.onFailure = undefined;
    const output = this.output;
    this.output = [];
    return output;
  }

  /** Ready for the next block: forgets the history (the next block may belong to another stream). */
  reset(): void {
    this.stream.reset();
  }

  close(): void {
    this.stream.close();
  }

  /** The parts copied into this engine's staging buffer, which lives as long as the engine. */
  private stage(parts: readonly Buffer[], length: number): Buffer {
    if (!this.staging || this.staging.length < length) this.staging = Buffer.allocUnsafeSlow(length);
    let at = 0;
    for (const part of parts) at += part.copy(this.staging, at);
    return this.staging.subarray(0, length);
  }
}

const idleEngines = new Map<number, PooledEngine[]>();

/** Deflates one block on an idle engine of its level (a new one when none is idle). */
async function deflatePooled(parts: readonly Buffer[], length: number, level: number): Promise<Buffer[]> {
  let idle = idleEngines.get(level);
  if (!idle) idleEngines.set(level, (idle = []));
  const engine = idle.pop() ?? new PooledEngine(level);
  try {
    return await engine.deflate(parts, length);
  } finally {
    if (engine.healthy && idle.length < ENGINE_IDLE_MAX) {
      engine.reset();
      idle.push(engine);
    } else engine.close();
  }
}

/** Bytes `length` input bytes take as stored blocks. */
export function storedSize(length: number): number {
  return length + 5 * Math.max(1, Math.ceil(length / STORED_MAX));
}

/**
 * `block` (one buffer, or parts in order) as stored deflate blocks (RFC 1951 §3.2.4), the last one
 * final when `last`. Needs a byte-aligned start, which the stream has at its beginning and after
 * every block we emit (a sync flush ends aligned). Returns headers and slices of the input: nothing
 * is copied.
 */
export function storedBlocks(block: Buffer | readonly Buffer[], last: boolean): Buffer[] {
  const parts = Buffer.isBuffer(block) ? [block] : block;
  const length = totalLength(parts);
  const count = Math.max(1, Math.ceil(length / STORED_MAX));
  const headers = Buffer.allocUnsafe(5 * count);
  const out: Buffer[] = [];
  let part = 0;
  let at = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.min(STORED_MAX, length - i * STORED_MAX);
    const header = headers.subarray(5 * i, 5 * i + 5);
    header[0] = last && i === count - 1 ? 1 : 0; // BFINAL, BTYPE=00, then padding to the byte
    header.writeUInt16LE(size, 1);
    header.writeUInt16LE(~size & 0xffff, 3);
    out.push(header);
    for (let need = size; need > 0;) {
      const from = parts[part]!;
      const n = Math.min(need, from.length - at);
      if (n > 0) out.push(from.subarray(at, at + n));
      at += n;
      need -= n;
      if (at === from.length) {
        part += 1;
        at = 0;
      }
    }
  }
  return out;
}

function totalLength(parts: readonly Buffer[]): number {
  let length = 0;
  for (const part of parts) length += part.length;
  return length;
}

/** The first `length` bytes of `parts` (a slice when the first part holds them all). */
function head(parts: readonly Buffer[], length: number): Buffer {
  if (parts[0]!.length >= length) return parts[0]!.subarray(0, length);
  return Buffer.concat(parts, Math.min(length, totalLength(parts)));
}

/** The parts as one buffer (copied only when there is more than one). */
const joined = (parts: readonly Buffer[]): Buffer => (parts.length === 1 ? parts[0]! : Buffer.concat(parts));

/**
 * One raw deflate stream written through `sink`. Each block is compressed on its own (its matches
 * reach no further back than its own start: 0.2-0.4 % larger than priming each block with the
 * previous 32 KiB, measured on CSV, JavaScript, JSON and prose) and ended by a sync flush so the
 * pieces join byte-aligned, so several compress at once while the output stays one ordinary
 * stream. A block whose probe (its first 16 KiB at level 1) does not shrink is stored; a block
 * whose deflated form came out larger than stored is stored too, so the output is never more
 * than 5 bytes per 64 KiB over the input.
 */
export class AdaptiveDeflater {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private crcValue = 0;
  private inputLength = 0;
  private outputLength = 0;
  private storedBlockCount = 0;
  private blockCount = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly inFlight: Promise<void>[] = [];

  constructor(
    private readonly sink: DeflateSink,
    private readonly options: DeflateOptions,
  ) {}

  /** Adds bytes; resolves when there is room for more (back-pressure). Keeps a reference to `chunk`. */
  async push(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    // Cut only while more than a block is pending: the last block is compressed by end().
    while (this.pendingLength > this.options.blockSize) {
      await this.dispatch(this.take(this.options.blockSize), false);
    }
  }

  /**
   * Compresses the rest and waits for every write. `final`: the stream ends here (BFINAL);
   * otherwise it ends byte-aligned after a sync flush, ready for another part to follow.
   */
  async end(final: boolean): Promise<DeflateSummary> {
    await this.dispatch(this.take(this.pendingLength), true, final);
    await this.chain;
    return this.summary();
  }

  /** Known for every byte pushed and dispatched so far; complete once end() was called. */
  summary(): DeflateSummary {
    return { crc: this.crcValue >>> 0, length: this.inputLength, compressedLength: this.outputLength };
  }

  /** How many blocks were stored rather than deflated, of how many. */
  blocks(): { stored: number; total: number } {
    return { stored: this.storedBlockCount, total: this.blockCount };
  }

  /** Waits for every write already started, ignoring failures (before cleaning up after an error). */
  async settle(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  /**
   * The next `length` pending bytes, as the pushed chunks themselves (the last one sliced): a block
   * that is stored is never copied, one that is deflated is copied once, into its engine's staging
   * buffer (or joined, when small enough to deflate on this thread).
   */
  private take(length: number): Buffer[] {
    const parts: Buffer[] = [];
    let need = length;
    while (need > 0) {
      const chunk = this.pending[0]!;
      if (chunk.length <= need) {
        parts.push(chunk);
        this.pending.shift();
        need -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, need));
        this.pending[0] = chunk.subarray(need);
        need = 0;
      }
    }
    this.pendingLength -= length;
    return parts.length > 0 ? parts : [Buffer.alloc(0)];
  }

  private async dispatch(parts: Buffer[], last: boolean, final = false): Promise<void> {
    const length = totalLength(parts);
    for (const part of parts) this.crcValue = crc32(part, this.crcValue);
    this.inputLength += length;
    this.blockCount += 1;
    const encoded = this.encode(parts, length, final);
    encoded.catch(() => undefined); // surfaced through the chain
    const step = this.chain.then(async () => {
      const chunks = await encoded;
      await this.sink(chunks, last);
      for (const chunk of chunks) this.outputLength += chunk.length;
    });
    step.catch(() => undefined); // surfaced through the chain
    this.chain = step;
    this.inFlight.push(step);
    while (this.inFlight.length >= this.options.inFlight) await this.inFlight.shift();
  }

  private async encode(parts: Buffer[], length: number, final: boolean): Promise<Buffer[]> {
    const { level } = this.options;
    if (level === 0) return this.stored(parts, final);
    let deflated: Buffer[];
    if (length <= SMALL_BLOCK) {
      const input = joined(parts);
      deflated = [
        deflateRawSync(input, {
          level,
          // One output buffer for the whole block (a small one comes from Buffer's shared pool).
          chunkSize: Math.max(constants.Z_MIN_CHUNK, length + (length >>> 8) + 64),
          finishFlush: final ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        }),
      ];
    } else {
      if (length > 2 * PROBE_SIZE) {
        const sample = head(parts, PROBE_SIZE);
        const probe = totalLength(await deflatePooled([sample], PROBE_SIZE, 1));
        if (probe > sample.length * PROBE_WORTHWHILE) return this.stored(parts, final);
      }
      deflated = await deflatePooled(parts, length, level);
      if (final) deflated.push(FINAL_EMPTY_BLOCK);
    }
    return totalLength(deflated) > storedSize(length) ? this.stored(parts, final) : deflated;
  }

  private stored(block: readonly Buffer[], final: boolean): Buffer[] {
    this.storedBlockCount += 1;
    // Stored blocks end byte-aligned, so no sync marker is needed before whatever follows.
    return storedBlocks(block, final);
  }
}
