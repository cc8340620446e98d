// How a WARC file is named outside this process: `cdx.warc_path` is `<prefix>/<file>`, the form
// sandcrawler and Wayback use (sandcrawler's persist keeps only CDX rows whose path holds a `/`).

/** Where the embedded store keeps its WARC files, relative to the data directory. */
export const LOCAL_WARC_PREFIX = 'warcs';

/**
 * The wire path of a WARC file the capture index names. A path that already says where it lives
 * (`<item or prefix>/<file>`, as a shipped WARC's does) is kept as it is.
 */
export function wireWarcPath(indexed: string, prefix: string = LOCAL_WARC_PREFIX): string {
  return indexed.includes('/') ? indexed : `${prefix}/${indexed}`;
}
