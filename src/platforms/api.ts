// Fetching and validating a platform's API responses: one place turns HTTP trouble and changed
// JSON shapes into platform statuses.
import type { z } from 'zod';
import {
  BodyTooLargeError,
  PlatformDownloadError,
  PlatformError,
  PlatformHttpError,
  PlatformNotFoundError,
} from '../errors.js';
import { readAll } from '../http/body.js';
import { followRedirects } from '../http/redirects.js';
import { retryTransfer, RetryBudget } from '../http/resume.js';
import type { PlatformContext } from './types.js';

const API_BODY_LIMIT = 64 * 1024 * 1024;

export interface ApiResponse {
  statusCode: number;
  url: string;
  json: unknown;
}

export interface ApiOptions {
  /** Extra request headers (Accept defaults to application/json). */
  headers?: Record<string, string>;
}

/**
 * GET a JSON API URL (following redirects); the body is parsed when it is JSON. The request counts
 * against the helper's API budget, so a platform's rate limit is shared by everything asking it.
 */
export async function getApi(ctx: PlatformContext, url: string, options: ApiOptions = {}): Promise<ApiResponse> {
  // A body that drops mid-transfer is asked for again (an API answer is small: no Range).
  const answer = await retryTransfer(
    ctx.http,
    new RetryBudget(ctx.config.http.retries),
    async () => {
      const { final } = await followRedirects(ctx.http, url, {
        maxRedirects: ctx.config.http.maxRedirects,
        headers: { Accept: 'application/json', ...options.headers },
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(ctx.budget ? { budget: `${ctx.budget}:api` } : {}),
      });
      try {
        const body = await readAll(final.body, API_BODY_LIMIT, url, {
          contentLength: final.header('content-length'),
          contentEncoding: final.header('content-encoding'),
        });
        return { statusCode: final.statusCode, url: final.url, text: body.toString('utf8') };
      } catch (err) {
        if (err instanceof BodyTooLargeError)
          throw new PlatformError(`API response from ${url} exceeds ${API_BODY_LIMIT} bytes`);
        // An answer we cannot read (not in its declared Content-Encoding) is the platform's error.
        if (err instanceof PlatformDownloadError) throw new PlatformError(`API response: ${err.message}`);
        throw err;
      }
    },
    ctx.signal,
  );
  let json: unknown;
  try {
    json = answer.text ? JSON.parse(answer.text) : undefined;
  } catch {
    json = undefined;
  }
  return { statusCode: answer.statusCode, url: answer.url, json };
}

/** Maps a non-2xx API answer to its status; `notFound` statuses mean the record does not exist. */
export function expectOk(response: ApiResponse, what: string, notFound: readonly number[] = [404]): void {
  if (response.statusCode >= 200 && response.statusCode < 300) return;
  if (response.statusCode === 410) {
    throw new PlatformNotFoundError(`${what} was deleted (HTTP 410 from ${response.url})`);
  }
  if (notFound.includes(response.statusCode)) {
    throw new PlatformNotFoundError(`${what} not found (HTTP ${response.statusCode} from ${response.url})`);
  }
  throw new PlatformHttpError(`HTTP ${response.statusCode} from ${response.url} for ${what}`);
}

/** Validates an API body against the fields we read; a changed shape names the field. */
export function parseApi<T>(schema: z.ZodType<T>, response: ApiResponse, what: string): T {
  if (response.json === undefined) throw new PlatformError(`${what}: response from ${response.url} is not JSON`);
  const parsed = schema.safeParse(response.json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : '(root)';
  throw new PlatformError(`${what}: unexpected response shape at "${field}": ${issue.message}`);
}
