// The one HTTP client: one hop per request() with retries, per-host politeness, the SSRF guard
// and the rewrite map. Bodies come back raw (Content-Encoding kept) because WARC records store
// exactly what was transferred.
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { countBody, discard, guardBody, readAll } from './body.js';
import { Budgets, hostBudget, type RequestBudgets } from './budget.js';
import { HostLimiter, type Release } from './host-limiter.js';
import { abortable, backoffDelay, retryAfterDelay, sleep, type Backoff, type RetryPolicy } from '../retry.js';
import { RETRYABLE_STATUSES, classifyError, errorCode, isRetryableError } from './failures.js';
import { rewriteTargets, rewriteUrl } from './rewrite.js';
import { assertPublicIpLiteral } from './ssrf.js';
import { Transport } from './transport.js';
import { parseHttpUrl } from './url.js';

export interface HttpClientDeps {
  config: Config;
  logger: Logger;
  retryBaseDelayMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told of every retry (reason: an HTTP status or an error code) and every 429, for metrics. */
  onRetry?: (reason: string, host: string) => void;
  /** The request budgets (shared by a fleet: src/db/shared-budgets.ts); default: this process's own. */
  budgets?: RequestBudgets;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  retry?: boolean;
  /**
   * A named request budget (`<platform>:api`, `<platform>:download`): its own concurrency and rate,
   * shared by every request naming it, paused as a whole when the platform answers 429.
   */
  budget?: string;
  /** Told of the response body's bytes as they arrive (see countBody): download progress. */
  onBytes?: (bytes: number) => void;
}

export interface HttpResponse {
  url: string; // as requested (normalised, fragment dropped), before the rewrite map
  fetchedUrl: string; // what was actually fetched, after the rewrite map
  statusCode: number;
  statusText: string; // the server's reason phrase, else the standard one
  httpVersion: string;
  headers: Array<[string, string]>; // as received: order, case and one pair per value kept
  requestHeaders: Array<[string, string]>; // as sent, but Host names the original host
  header(name: string): string | undefined; // case-insensitive, first value
  /** Raw bytes as transferred. The caller MUST consume or destroy it: until then the host's slot stays taken. */
  body: Readable;
  retries: number;
  remoteAddress?: string;
}

const DEFAULT_JSON_LIMIT = 64 * 1024 * 1024;
/** How long close() lets requests in flight finish before it cuts them. */
const CLOSE_GRACE_MS = 5_000;

export class HttpClient {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #limiter: HostLimiter;
  readonly #budgets: RequestBudgets;
  readonly #transport: Transport;
  readonly #trustedOrigins: ReadonlySet<string>;
  readonly #unreleased = new FinalizationRegistry<Release>((release) => release());
  readonly #onRetry: (reason: string, host: string) => void;

  constructor(deps: HttpClientDeps) {
    const http = deps.config.http;
    this.#config = deps.config;
    this.#log = deps.logger.child({ module: 'http' });
    this.#backoff = { baseMs: deps.retryBaseDelayMs ?? 500, maxMs: http.retryMaxDelayMs, jitter: true };
    this.#sleep = deps.sleep ?? sleep;
    this.#onRetry = deps.onRetry ?? (() => {});
    this.#limiter = new HostLimiter(http.perHostConcurrency);
    this.#budgets = deps.budgets ?? new Budgets(http.budgets, { sleep: this.#sleep });
    this.#trustedOrigins = http.allowPrivate ? new Set(['*']) : rewriteTargets(http.rewrite);
    this.#transport = new Transport({
      connectTimeoutMs: http.connectTimeoutMs,
      headersTimeoutMs: http.headersTimeoutMs,
      bodyTimeoutMs: http.bodyTimeoutMs,
      trustedOrigins: this.#trustedOrigins,
    });
  }

  /** One hop: redirects come back as responses (see followRedirects). */
  async request(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
    const original = parseHttpUrl(url);
    const fetched = parseHttpUrl(rewriteUrl(original.href, this.#config.http.rewrite));
    const rewritten = fetched.href !== original.href;
    // undici skips DNS for IP literals, so those are judged before connecting. A rewritten request
    // goes where the operator configured, which may well be a private address.
    if (!this.#config.http.allowPrivate && !rewritten) assertPublicIpLiteral(fetched.hostname);
    const requestHeaders = buildRequestHeaders(original, this.#config.userAgent, options.headers);
    const maxRetries = options.retry === false ? 0 : this.#config.http.retries;
    const maxRateLimited = options.retry === false ? 0 : this.#config.http.rateLimitRetries;
    const { signal } = options;

    // 429s are counted apart: the platform is asking us to wait, which we do for longer. This is
    // the one retry loop that does not go through retry() (src/retry.ts): a 429 waits in the
    // request budgets rather than here, and a retryable status that runs out of retries is
    // returned, not thrown.
    let rateLimited = 0;
    for (let retries = 0; ;) {
      const attempt = retries + rateLimited;
      let response: HttpResponse;
      try {
        response = await this.#attempt(original, fetched, requestHeaders, options, attempt);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const failure = classifyError(err, original.host);
        if (retries >= maxRetries || !isRetryableError(err)) throw failure;
        this.#onRetry(errorCode(err) ?? 'error', original.hostname);
        await this.#pause(original.href, { code: errorCode(err) }, retries++, undefined, signal);
        continue;
      }
      const status = response.statusCode;
      if (status === 429 ? rateLimited >= maxRateLimited : retries >= maxRetries || !RETRYABLE_STATUSES.has(status)) {
        if (options.onBytes) countBody(response.body, options.onBytes);
        return response;
      }
      const retryAfter = retryAfterDelay(response.header('retry-after'));
      await discard(response.body);
      this.#onRetry(String(status), original.hostname);
      if (status === 429) {
        const delayMs = this.#delay(rateLimited++, retryAfter);
        // Everything asking this host (and this platform budget) waits, not just this request.
        this.#budgets.pause(hostBudget(original), delayMs);
        if (options.budget) this.#budgets.pause(options.budget, delayMs);
        this.#log.warn(
          { url: original.href, status, attempt: rateLimited, delayMs, budget: options.budget },
          'rate limited: pausing',
        );
        continue;
      }
      await this.#pause(original.href, { status }, retries++, retryAfter, signal);
    }
  }

  /** GET a whole body (decoded) and parse it as JSON; `json` is undefined when it is not JSON. */
  async getJson(
    url: string,
    options: HttpRequestOptions & { limit?: number } = {},
  ): Promise<{ statusCode: number; json: unknown; response: Omit<HttpResponse, 'body'> }> {
    const { limit = DEFAULT_JSON_LIMIT, ...rest } = options;
    const headers = { Accept: 'application/json', ...rest.headers };
    const { body, ...response } = await this.request(url, { ...rest, method: 'GET', headers });
    const bytes = await readAll(body, limit, response.url, {
      contentLength: response.header('content-length'),
      contentEncoding: response.header('content-encoding'),
    });
    return { statusCode: response.statusCode, json: parseJson(bytes), response };
  }

  /** The client's backoff and sleep, for retry loops around whole transfers (src/http/resume.ts). */
  get retryTiming(): Required<Pick<RetryPolicy, 'backoff' | 'sleep'>> {
    return { backoff: this.#backoff, sleep: this.#sleep };
  }

  /**
   * Waits up to `graceMs` for requests in flight to finish, then closes every connection; a
   * response whose body is still unread by then is cut (a stopping worker must not hang on it).
   */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    if (await this.#transport.close(graceMs))
      this.#log.warn({ graceMs }, 'HTTP client closed with responses still unread: their connections were cut');
  }

  async #attempt(
    original: URL,
    fetched: URL,
    requestHeaders: Array<[string, string]>,
    options: HttpRequestOptions,
    retries: number,
  ): Promise<HttpResponse> {
    // Politeness is owed to the site we mean to visit, not to wherever the rewrite map sends us.
    // The platform budget is waited for before the host slot, so a slow budget holds no host slot.
    const releaseBudget = options.budget ? await this.#budgets.acquire(options.budget, options.signal) : () => {};
    let release: Release;
    try {
      await (
        await this.#budgets.acquire(hostBudget(original), options.signal)
      )();
      const releaseHost = await this.#limiter.acquire(original.hostname, options.signal);
      release = () => {
        releaseHost();
        releaseBudget();
      };
    } catch (err) {
      releaseBudget();
      throw err;
    }
    let result: Awaited<ReturnType<Transport['request']>>;
    try {
      result = await this.#transport.request({
        origin: fetched.origin,
        path: `${fetched.pathname}${fetched.search}`,
        method: options.method ?? 'GET',
        // Host is left to undici: the server we connect to gets its own name.
        headers: requestHeaders.filter(([name]) => name !== 'Host').flat(),
        signal: options.signal,
      });
    } catch (err) {
      release();
      throw err;
    }
    const { data, remoteAddress } = result;
    const body = data.body as Readable;
    guardBody(body, release, original.host, this.#unreleased);
    // A HEAD answer has no body, yet its stream would hold the slot until someone reads it.
    if (options.method === 'HEAD') body.resume();
    const headers = pairs(data.headers as unknown as string[]);
    return {
      url: original.href,
      fetchedUrl: fetched.href,
      statusCode: data.statusCode,
      statusText: data.statusText || STATUS_CODES[data.statusCode] || '',
      httpVersion: '1.1', // undici speaks HTTP/1.1 unless allowH2 is set, which it is not
      headers,
      requestHeaders,
      header: (name) => findHeader(headers, name),
      body,
      retries,
      ...(remoteAddress ? { remoteAddress } : {}),
    };
  }

  #delay(retries: number, retryAfterMs: number | undefined): number {
    return Math.min(this.#backoff.maxMs, retryAfterMs ?? backoffDelay(retries, this.#backoff));
  }

  async #pause(
    url: string,
    reason: { status?: number; code?: string | undefined },
    retries: number,
    retryAfterMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const delayMs = this.#delay(retries, retryAfterMs);
    this.#log.warn({ url, ...reason, attempt: retries + 1, delayMs }, 'retrying request');
    await abortable(this.#sleep(delayMs, signal), signal);
  }
}

/** Our request headers as sent, Host first and naming the original host (the WARC request record). */
function buildRequestHeaders(url: URL, userAgent: string, extra: Record<string, string> = {}): Array<[string, string]> {
  const headers = new Map<string, [string, string]>();
  const set = (name: string, value: string) => headers.set(name.toLowerCase(), [name, value]);
  set('User-Agent', userAgent);
  set('Accept', '*/*');
  set('Accept-Encoding', 'identity');
  for (const [name, value] of Object.entries(extra)) {
    if (name.toLowerCase() !== 'host') set(name, value);
  }
  return [['Host', url.host], ...headers.values()];
}

function pairs(raw: string[]): Array<[string, string]> {
  const result: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) result.push([raw[i]!, raw[i + 1]!]);
  return result;
}

function findHeader(headers: Array<[string, string]>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return headers.find(([key]) => key.toLowerCase() === wanted)?.[1];
}

function parseJson(bytes: Buffer): unknown {
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
