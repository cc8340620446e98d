// Validates the URLs the client is asked to fetch: only http(s), a host, and no embedded credentials.
import { InvalidUrlError } from '../errors.js';

/** Parses an absolute http(s) URL or throws InvalidUrlError saying what is wrong with it. */
export function parseHttpUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidUrlError(`not a URL: "${text.slice(0, 200)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidUrlError(`not an http(s) URL: ${url.protocol} in "${text.slice(0, 200)}"`);
  }
  // Credentials would end up in logs, WARC records and results; no dataset URL needs them.
  if (url.username || url.password) throw new InvalidUrlError(`URL carries credentials: ${url.host}`);
  if (!url.hostname) throw new InvalidUrlError(`URL has no host: "${text.slice(0, 200)}"`);
  // The fragment never goes on the wire, so it is not part of what was requested.
  url.hash = '';
  return url;
}
