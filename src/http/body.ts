// Response bodies: releasing the host slot however a body ends, typed errors for a body that
// fails mid-transfer, and the two ways the client itself consumes one (discard, read whole).
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { BodyTooLargeError } from '../errors.js';
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
  // A body that dies mid-transfer (idle timeout, reset) reaches the caller as a NetworkError, the
  // same as it would have before the headers arrived, so it becomes a result rather than a crash.
  const destroy = body._destroy.bind(body);
  body._destroy = (err, callback) =>
    destroy(err, (error) => callback(error && isTransferError(error) ? classifyError(error, host) : error));
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

/** A decoder for the Content-Encodings Node can undo (gzip, deflate, br); undefined for identity or others. */
export function contentDecoder(encoding: string | undefined): Transform | undefined {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/**
 * Reads a whole body into memory, decoding Content-Encoding (servers may compress despite
 * `Accept-Encoding: identity`). The limit applies to the decoded bytes, so a compression bomb
 * stops at the limit too.
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
  const collect = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      length += chunk.length;
      if (length > limit) throw tooLarge();
      chunks.push(chunk);
    }
  };
  const decoder = contentDecoder(headers.contentEncoding);
  if (decoder) await pipeline(body, decoder, collect);
  else await pipeline(body, collect);
  return Buffer.concat(chunks, length);
}
