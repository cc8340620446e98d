// The URL rewrite map: serves one origin from another (recorded fixtures, staging) while every
// record and result keeps the original URL.

/**
 * Replaces the origin of `url` when the map has it; path and query are kept. Keys and values are
 * origins as `URL.origin` spells them ('https://zenodo.org'), which is how config.ts stores them.
 * An unparseable URL is returned unchanged: validating it is the caller's job.
 */
export function rewriteUrl(url: string, map: Map<string, string>): string {
  if (map.size === 0) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const target = map.get(parsed.origin);
  if (target === undefined) return url;
  // Concatenated rather than resolved: resolving a path like "//x" against the target would
  // change the host.
  return `${new URL(target).origin}${parsed.pathname}${parsed.search}${parsed.hash}`;
}

/** Origins the operator configured as rewrite targets: the SSRF guard trusts them. */
export function rewriteTargets(map: Map<string, string>): Set<string> {
  return new Set([...map.values()].map((target) => new URL(target).origin));
}
