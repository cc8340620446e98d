// How a WARC file is named outside this process: `cdx.warc_path` is `<prefix>/<file>`, the form
// sandcrawler and Wayback use (sandcrawler's persist keeps only CDX rows whose path holds a `/`).

/** Where the embedded store keeps its WARC files, relative to the data directory. */
export const LOCAL_WARC_PREFIX = 'warcs';

/** Where a WARC file named `name` lives outside this process, `<item or prefix>/<file>` (the shipper's destination). */
export type WarcLocator = (name: string) => string;

/**
 * The wire path of a WARC file the capture index names. A path that already says where it lives
 * (`<item or prefix>/<file>`, as a shipped WARC's does) is kept as it is. A bare name is a file
 * not shipped yet: with a WARC store, its location there (fixed by its name, so a result can carry
 * it before the file is shipped); without one, `warcs/<file>` in the data directory.
 */
export function wireWarcPath(indexed: string, prefix: string | WarcLocator = LOCAL_WARC_PREFIX): string {
  if (indexed.includes('/')) return indexed;
  return typeof prefix === 'function' ? prefix(indexed) : `${prefix}/${indexed}`;
}
