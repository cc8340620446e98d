// Cleaning request URLs (DOIs, whitespace, fragments) and the URL blocklist.
import { BlockedUrlError, InvalidUrlError } from '../errors.js';
import { parseHttpUrl } from '../http/url.js';

const DOI_PATTERN = /^(?:doi:\s*|https?:\/\/(?:dx\.)?doi\.org\/|info:doi\/)?(10\.\d{4,9}\/\S+)$/i;

/**
 * Normalises a request's base_url into the URL we fetch: DOIs in any spelling become
 * https://doi.org/<doi>; scheme and host are lower-cased; fragments dropped. Throws
 * InvalidUrlError for anything that is not an http(s) URL with a host.
 */
export function cleanUrl(raw: string): string {
  const text = raw.trim();
  if (!text) throw new InvalidUrlError('empty URL');
  const doi = DOI_PATTERN.exec(text);
  if (doi) return `https://doi.org/${doi[1]}`;
  return parseHttpUrl(text).toString();
}

/** Request URLs we never crawl: web-archive replays and other archives' copies, plus configured patterns. */
export const DEFAULT_URL_BLOCKLIST = [
  '://web.archive.org/web/',
  '://archive.org/wayback/',
  '://wayback.archive-it.org/',
  '://webcache.googleusercontent.com/',
  '://scholar.archive.org/',
];

/** Throws BlockedUrlError when the URL contains any blocklist pattern (plain substring match). */
export function checkBlocklist(url: string, extra: readonly string[]): void {
  const lower = url.toLowerCase();
  for (const pattern of [...DEFAULT_URL_BLOCKLIST, ...extra]) {
    if (lower.includes(pattern.toLowerCase())) {
      throw new BlockedUrlError(`URL matches blocklist pattern "${pattern}"`);
    }
  }
}
