// Fetching the landing page: follow redirects capturing every hop, parse HTML for html_biblio.
import { readFile, rm } from 'node:fs/promises';
import type { Config } from '../config.js';
import { EmptyBlobError, IngestError, TerminalBadStatusError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import { followRedirects } from '../http/redirects.js';
import { resumable, retryTransfer, RetryBudget } from '../http/resume.js';
import { captureResponse, type CapturedResponse, type WebCaptureDeps } from './web-capture.js';
import { extractBiblio, type HtmlBiblio } from './biblio.js';
import { isHtml, mediaType } from '../mimetype.js';

/** What the landing-page fetch learned; `capture` is absent when the fetch failed. */
export interface LandingPage {
  /** The cleaned request URL. */
  url: string;
  hops: string[];
  capture?: CapturedResponse;
  /** The final response's headers as received (FAIR signposting lives in `Link`). */
  headers?: Array<[string, string]>;
  html?: string;
  biblio?: HtmlBiblio | null;
  /** Why the landing page could not be used (a status-carrying error), when it could not. */
  error?: Error;
  /** A dry run leaves a non-HTML body unread: what its headers said. */
  unread?: { url: string; statusCode: number; contentType: string | null; size: number | null };
}

export interface LandingDeps {
  config: Config;
  http: HttpClient;
  capture: WebCaptureDeps;
  signal?: AbortSignal;
  /** Inspect: a body that may be the dataset itself is not downloaded. */
  dryRun?: boolean;
}

const ACCEPT = 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8';

/** Never throws a status-carrying error: it comes back as `landing.error` for the pipeline to weigh. */
export async function fetchLanding(url: string, deps: LandingDeps): Promise<LandingPage> {
  const hops: string[] = [];
  // A dropped connection is resumed (Range) or the fetch started over, within the retries.
  const retries = new RetryBudget(deps.config.http.retries);
  try {
    return await retryTransfer(
      deps.http,
      retries,
      async () => {
        hops.length = 0;
        return fetchOnce(url, deps, hops, retries);
      },
      deps.signal,
    );
  } catch (err) {
    if (err instanceof IngestError && !deps.signal?.aborted) {
      if (!hops.includes(url)) hops.unshift(url);
      return { url, hops, error: err };
    }
    throw err;
  }
}

/** One fetch of the landing page: every hop captured, the final response captured and parsed. */
async function fetchOnce(url: string, deps: LandingDeps, hops: string[], retries: RetryBudget): Promise<LandingPage> {
  const signal = deps.signal ? { signal: deps.signal } : {};
  const { final } = await followRedirects(deps.http, url, {
    maxRedirects: deps.config.http.maxRedirects,
    headers: { Accept: ACCEPT },
    ...signal,
    onHop: async (hop) => {
      hops.push(hop.url);
      // A redirect's body is no page we read, but it is stored: bounded like one.
      await captureResponse(deps.capture, hop, { ...signal, maxBytes: deps.config.landingMaxSize });
    },
  });
  hops.push(final.url);
  const declared = mediaType(final.header('content-type'));
  // Pages we may parse are bounded by the landing limit; anything else may be the dataset itself.
  const maybeHtml = declared === null || isHtml(declared) || declared.endsWith('xml');
  const ok = final.statusCode >= 200 && final.statusCode < 300;
  if (deps.dryRun && ok && !maybeHtml) {
    final.body.destroy();
    const length = Number(final.header('content-length'));
    const size = Number.isSafeInteger(length) && length >= 0 ? length : null;
    return {
      url,
      hops,
      headers: final.headers,
      unread: { url: final.url, statusCode: final.statusCode, contentType: declared, size },
    };
  }
  const capture = await captureResponse(deps.capture, resumable(deps.http, final, { retries, ...signal }), {
    maxBytes: maybeHtml ? deps.config.landingMaxSize : deps.config.limits.maxTotalSize,
    // A page we parse is read from memory: no spool file to write, read back and remove.
    keepBody: maybeHtml && ok ? 'memory' : undefined,
    ...signal,
  });
  const landing: LandingPage = { url, hops, capture, headers: final.headers };
  try {
    if (!ok) {
      landing.error = new TerminalBadStatusError(`HTTP ${capture.statusCode} from ${capture.url}`);
    } else if (capture.fileMeta.size_bytes === 0) {
      landing.error = new EmptyBlobError(`empty body from ${capture.url}`);
    } else if ((capture.body || capture.bodyPath) && isHtml(capture.fileMeta.mimetype)) {
      landing.html = capture.body ? capture.body.toString('utf8') : await readFile(capture.bodyPath!, 'utf8');
      landing.biblio = extractBiblio(landing.html, capture.url);
    }
  } finally {
    if (capture.bodyPath) await rm(capture.bodyPath, { force: true });
  }
  return landing;
}
