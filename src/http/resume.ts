// Transfers that survive dropped connections. A body that fails mid-transfer (a reset, a closed
// socket, fewer bytes than Content-Length) is continued with a Range request from the byte it
// reached, If-Range naming the ETag or Last-Modified so a changed file is never spliced onto the
// old one; the caller sees one uninterrupted body, which is what gets archived and hashed. A
// server that will not continue it (200 instead of 206, another Content-Range) makes the body
// fail with a transient error, so that the caller's own retry starts the transfer over.
import { Readable } from 'node:stream';
import { NetworkError } from '../errors.js';
import { countBody, discard } from './body.js';
import type { HttpClient, HttpRequestOptions, HttpResponse } from './client.js';
import { errorCode, isRetryableError } from './failures.js';
import { abortable, backoffDelay, retry } from '../retry.js';

/** Retries left for one transfer, shared by its resumes and restarts (config.http.retries in all). */
export class RetryBudget {
  constructor(private left: number) {}

  /** Takes one retry; false when none is left. */
  take(): boolean {
    if (this.left <= 0) return false;
    this.left -= 1;
    return true;
  }
}

/**
 * A failure of the transfer itself that the same request may well not meet again: the network's
 * (reset, timeout, closed socket) or a body shorter than its Content-Length.
 */
export function isTransientTransfer(err: unknown): boolean {
  const code = errorCode(err);
  return (
    isRetryableError(err) || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'ERR_STREAM_PREMATURE_CLOSE'
  );
}

export interface ResumeOptions extends Pick<HttpRequestOptions, 'budget' | 'signal' | 'onBytes'> {
  retries: RetryBudget;
}

/** `response` with a body that resumes where a dropped transfer stopped (see the module comment). */
export function resumable(client: HttpClient, response: HttpResponse, options: ResumeOptions): HttpResponse {
  const total = declaredLength(response);
  // Offsets of an encoded body are the encoding's, which a server may not reproduce byte for byte.
  const canResume = !response.header('content-encoding') && total !== undefined;
  const validator = strongEtag(response.header('etag')) ?? response.header('last-modified');
  const url = response.url;
  let resumes = 0;

  async function* transfer(): AsyncGenerator<Buffer> {
    let body = response.body;
    let received = 0;
    for (;;) {
      try {
        for await (const chunk of body) {
          received += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (total === undefined || received >= total) return;
        throw new NetworkError(
          `network error talking to ${new URL(url).host}: body ended after ${received} of ${total} bytes`,
          {
            cause: Object.assign(new Error('short body'), { code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' }),
          },
        );
      } catch (err) {
        body.destroy();
        if (!canResume || !isTransientTransfer(err) || options.signal?.aborted || !options.retries.take()) throw err;
        const { backoff, sleep } = client.retryTiming;
        await abortable(sleep(backoffDelay(resumes++, backoff), options.signal), options.signal);
        const next = await client.request(url, {
          headers: {
            ...Object.fromEntries(response.requestHeaders.filter(([name]) => name !== 'Host')),
            Range: `bytes=${received}-`,
            ...(validator ? { 'If-Range': validator } : {}),
          },
          ...(options.budget ? { budget: options.budget } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        const onBytes = options.onBytes;
        if (next.statusCode === 206 && continues(next.header('content-range'), received, total!)) {
          if (onBytes) countBody(next.body, onBytes);
          body = next.body;
        } else if (next.statusCode === 200 && sameVersion(response, next, total!)) {
          // No Range support, but the same file again: its first bytes are the ones we have, and
          // were counted as they came the first time.
          if (onBytes) countBody(next.body, pastReceived(onBytes, received));
          body = Readable.from(skip(next.body, received));
        } else {
          await discard(next.body);
          // Not a continuation: the transfer has to start over, which is the caller's retry.
          throw new NetworkError(
            `network error talking to ${new URL(url).host}: transfer broke at byte ${received} and the server cannot resume it (HTTP ${next.statusCode})`,
            { cause: err },
          );
        }
      }
    }
  }

  return { ...response, body: Readable.from(transfer(), { objectMode: false }) };
}

/** The same representation: the same length and the same strong ETag (or Last-Modified when neither has one). */
function sameVersion(first: HttpResponse, again: HttpResponse, total: number): boolean {
  if (declaredLength(again) !== total || again.header('content-encoding')) return false;
  const etag = strongEtag(first.header('etag'));
  if (etag) return strongEtag(again.header('etag')) === etag;
  const modified = first.header('last-modified');
  return modified !== undefined && again.header('last-modified') === modified;
}

/**
 * `onBytes` told only of bytes past the first `received` of a new response: a server without
 * Range support sends the whole file again, and the bytes we already have were counted once.
 */
function pastReceived(onBytes: (bytes: number) => void, received: number): (bytes: number) => void {
  let resent = received;
  return (bytes) => {
    const already = Math.min(resent, bytes);
    resent -= already;
    if (bytes > already) onBytes(bytes - already);
  };
}

/** A body without its first `bytes` bytes. */
async function* skip(body: Readable, bytes: number): AsyncGenerator<Buffer> {
  let left = bytes;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (left >= buffer.length) {
      left -= buffer.length;
      continue;
    }
    yield left ? buffer.subarray(left) : buffer;
    left = 0;
  }
}

function declaredLength(response: HttpResponse): number | undefined {
  const value = response.header('content-length');
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  const length = Number(value);
  return Number.isSafeInteger(length) ? length : undefined;
}

/** A strong ETag (If-Range refuses weak ones). */
function strongEtag(etag: string | undefined): string | undefined {
  return etag && !etag.trim().startsWith('W/') ? etag.trim() : undefined;
}

/** Whether a 206's Content-Range carries on exactly where we stopped, to the end of the same length. */
function continues(contentRange: string | undefined, from: number, total: number): boolean {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange?.trim() ?? '');
  return !!m && Number(m[1]) === from && Number(m[2]) === total - 1 && Number(m[3]) === total;
}

/**
 * Runs a whole transfer (`attempt`: request, body, capture) until it succeeds, starting it over
 * after a transient failure while `retries` lasts, with the client's backoff between attempts.
 * Its body should be `resumable`, which spends the same budget on resuming before starting over.
 */
export function retryTransfer<T>(
  client: HttpClient,
  retries: RetryBudget,
  attempt: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  return retry(attempt, {
    ...client.retryTiming,
    retries: Infinity,
    retryable: (err) => !signal?.aborted && isTransientTransfer(err) && retries.take(),
    ...(signal ? { signal } : {}),
  });
}
