// Response bodies: releasing the host slot however a body ends, typed errors for a body that
// fails mid-transfer, and the two ways the client itself consumes one (discard, read whole).
import { type Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { BodyTooLargeError, describeError, IngestError, PlatformDownloadError } from '../errors.js';
import type { Release } from './host-limiter.js';
import { classifyError, isTransferError } from './failures.js';

/**
 * Ties a body's lifetime to its host slot. 'close' follows end, error and destroy alike. A body
 * the caller drops without reading never closes, so garbage collection releases it as a last
 * resort; callers must still consume or destroy every body, or the host stays throttled until then.
 */
export function guardBody(
  body: Readable,
  release: Release,
  host: string,
  registry: FinalizationRegistry<Release>,
): void {
  registry.register(body, release, body);
  body.once('close', () => {
    registry.unregister(body);
    release();
  });
  // undici turns a plain destroy() into an 'error' event; without a listener that event would
  // crash the process. Consumers (pipeline, for await) still see every error through their own.
  body.on('error', () => {});
  // A body that dies mid-transfer (idle timeout, reset, short of its Content-Length) reaches the
  // caller as a NetworkError, the same as it would have before the headers arrived, so it becomes
  // a result rather than a crash. It is converted on the way into destroy(): the stream records
  // the error it is destroyed with before _destroy runs, and async iteration and pipeline read
  // that record, so converting any later lets the raw undici error through, depending on timing.
  const destroy = body.destroy.bind(body);
  body.destroy = (error?: Error) => destroy(error && isTransferError(error) ? classifyError(error, host) : error);
  if (body.closed) release();
}

/**
 * Tells `onBytes` of every chunk as it arrives from the network (before any reader takes it), for
 * progress displays. Counts the bytes on the wire (encoded), and changes nothing in the stream.
 */
export function countBody(body: Readable, onBytes: (bytes: number) => void): void {
  // What arrived with the headers is already buffered.
  if (body.readableLength > 0) onBytes(body.readableLength);
  const push = body.push.bind(body);
  body.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk && typeof (chunk as { length?: unknown }).length === 'number') onBytes((chunk as Buffer).length);
    return push(chunk, encoding);
  };
}

/** Throws a body away, reading a little of it so the connection can be reused, else destroying it. */
export async function discard(body: Readable, maxBytes = 64 * 1024): Promise<void> {
  let seen = 0;
  try {
    for await (const chunk of body) {
      seen += (chunk as Buffer).length;
      if (seen > maxBytes) break; // leaving the loop destroys the stream
    }
  } catch {
    // A body nobody wants may fail as it likes.
  }
}

/**
 * The decoders for a Content-Encoding, in the order they apply to the body: one coding (gzip,
 * deflate, br, and zstd where Node has it) or several applied in turn (`gzip, br`: br outermost,
 * undone first). Undefined for identity, or when any coding is one we cannot undo.
 */
export function contentDecoders(encoding: string | undefined): Transform[] | undefined {
  const codings = (encoding ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding && coding !== 'identity');
  if (!codings.length || codings.some((coding) => !DECODERS[coding])) return undefined;
  return codings.reverse().map((coding) => DECODERS[coding]!());
}

/**
 * The decoder of a single-coding Content-Encoding; undefined for identity, for several codings
 * and for codings we cannot undo: the body is then kept and hashed as transferred.
 */
export function contentDecoder(encoding: string | undefined): Transform | undefined {
  const decoders = contentDecoders(encoding);
  if (decoders?.length === 1) return decoders[0];
  for (const decoder of decoders ?? []) decoder.destroy();
  return undefined;
}

const zstd = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;

const DECODERS: Record<string, (() => Transform) | undefined> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
  ...(zstd ? { zstd: () => zstd() } : {}),
};

/**
 * Reads a whole body into memory, decoding Content-Encoding (servers may compress despite
 * `Accept-Encoding: identity`). The limit applies to the decoded bytes as they are decoded, so a
 * compression bomb stops at the limit too, having decoded little more than it.
 */
export async function readAll(
  body: Readable,
  limit: number,
  what: string,
  headers: { contentLength?: string | undefined; contentEncoding?: string | undefined },
): Promise<Buffer> {
  const tooLarge = () => new BodyTooLargeError(`response from ${what} exceeds ${limit} bytes`);
  if (headers.contentLength !== undefined && Number(headers.contentLength) > limit) {
    body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let length = 0;
  // A Writable, not an async function: pipeline then rejects with the sink's own error rather
  // than with the AbortError it destroys the other streams with.
  const collect = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      length += chunk.length;
      if (length > limit) return callback(tooLarge());
      chunks.push(chunk);
      callback();
    },
  });
  const decoders = contentDecoders(headers.contentEncoding);
  if (!decoders) await pipeline(body, collect);
  else {
    try {
      await pipeline([body, ...decoders, collect]);
    } catch (err) {
      // Our own refusal and the transfer's failures are themselves; anything else is the decoder
      // refusing a body that is not in its declared Content-Encoding.
      if (err instanceof IngestError || isTransferError(err)) throw err;
      throw new PlatformDownloadError(
        `body from ${what} could not be decoded as ${headers.contentEncoding}: ${describeError(err)}`,
      );
    }
  }
  return Buffer.concat(chunks, length);
}
