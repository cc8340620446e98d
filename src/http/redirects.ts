// Following redirects hop by hop, so every hop goes through the client's guard and rewrite map and
// the caller can capture each redirect response; loops, cookie walls and long chains end in errors.
import { BlockedCookieError, InvalidUrlError, RedirectLoopError, RedirectsExceededError } from '../errors.js';
import { discard } from './body.js';
import type { HttpClient, HttpResponse } from './client.js';
import { parseHttpUrl } from './url.js';

export interface FollowOptions {
  maxRedirects: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** The request budget every hop counts against (see HttpRequestOptions.budget). */
  budget?: string;
  /** Told of every hop's body bytes as they arrive (HttpRequestOptions.onBytes). */
  onBytes?: (bytes: number) => void;
  /** Called for every redirect response; it must consume the body (e.g. to capture it). */
  onHop?: (response: HttpResponse) => Promise<void>;
}

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Redirect bodies are short notices; anything longer is not worth reading to reuse a connection. */
const DRAIN_LIMIT = 1024 * 1024;

/**
 * Follows redirects from `url`. Returns the final (non-redirect) response with its body unread,
 * and every URL requested in order, the final one included.
 */
export async function followRedirects(
  client: HttpClient,
  url: string,
  options: FollowOptions,
): Promise<{ final: HttpResponse; hops: string[] }> {
  const hops: string[] = [];
  const setCookie: boolean[] = []; // per hop: did that response set a cookie?
  let next = url;
  for (;;) {
    const response = await client.request(next, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.budget ? { budget: options.budget } : {}),
      ...(options.onBytes ? { onBytes: options.onBytes } : {}),
    });
    hops.push(response.url);
    const location = response.header('location');
    if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return { final: response, hops };
    setCookie.push(response.headers.some(([name]) => name.toLowerCase() === 'set-cookie'));

    // The redirect response is captured (or drained) even when we refuse to follow it: it was fetched.
    try {
      if (options.onHop) await options.onHop(response);
      else await discard(response.body, DRAIN_LIMIT);
    } finally {
      response.body.destroy(); // harmless after a full read; frees the host slot if onHop did not
    }

    next = resolveLocation(location, response.url);
    const repeat = hops.indexOf(next);
    if (repeat >= 0) {
      // A server that sets a cookie and redirects back to itself expects the cookie on the next
      // request: a cookie wall we cannot pass, not a broken site.
      if (setCookie.slice(repeat).some(Boolean)) {
        throw new BlockedCookieError(`cookie wall: ${response.url} sets a cookie and redirects back to ${next}`);
      }
      throw new RedirectLoopError(`redirect loop: ${[...hops.slice(repeat), next].join(' -> ')}`);
    }
    if (hops.length > options.maxRedirects) {
      throw new RedirectsExceededError(`more than ${options.maxRedirects} redirects from ${hops[0]} (next: ${next})`);
    }
  }
}

/** The absolute, validated URL a Location header points to (relative ones resolve against the hop). */
function resolveLocation(location: string, base: string): string {
  let target: URL;
  try {
    target = new URL(location, base);
  } catch {
    throw new InvalidUrlError(`redirect from ${base} to an unparseable Location: "${location.slice(0, 200)}"`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new InvalidUrlError(`redirect from ${base} to a non-http(s) URL: ${target.protocol}`);
  }
  return parseHttpUrl(target.href).href;
}
