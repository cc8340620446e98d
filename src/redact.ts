// Secrets out of text, for every log line and every error message: credentials in URLs,
// Authorization and Cookie values, key=value secrets, and the configured secrets themselves.
// Every pattern is linear in the text, so a hostile 10 MB line costs no more than reading it.

export const REDACTED = '[redacted]';

const PATTERNS: Array<[RegExp, string]> = [
  // userinfo of a URL with an authority (`scheme://user:pass@`), up to its last `@` ...
  [/\b([a-z][a-z0-9+.-]{0,31}:[/\\]{2})[^\s/\\?#"'<>]*@/gi, `$1${REDACTED}@`],
  // ... and of a special scheme written without slashes, which URL parsers read the same way.
  [/\b((?:https?|wss?|ftp):)(?![/\\])[^\s/\\?#"'<>]*@/gi, `$1//${REDACTED}@`],
  // Authorization, Cookie and archive.org/AWS key headers, as `name: value` or `"name":"value"`
  [
    /\b(authorization|proxy-authorization|cookie|set-cookie|x-amz-security-token)(["']?\s{0,8}[:=,]\s{0,8}["']?)[^"'\\\r\n]+/gi,
    `$1$2${REDACTED}`,
  ],
  // credentials schemes wherever they appear (a header pair logged as an array, a message)
  [/\b(LOW|Bearer|Basic|Digest)\s+[^\s"',;\\]+/g, `$1 ${REDACTED}`],
  // key=value secrets: DSN keywords, query parameters, JSON fields
  [
    /((?<![a-z0-9])(?:password|passwd|pwd|secret|secret_?key|secret_?access_?key|access_?token|api_?key|token)(?![a-z0-9])["']?\s{0,8}[=:]\s{0,8}["']?)[^\s&"',;\\]+/gi,
    `$1${REDACTED}`,
  ],
];

/** A function removing secrets from text; `secrets` are literal values (configured keys, passwords) to hide too. */
export function secretScrubber(secrets: ReadonlyArray<string | undefined> = []): (text: string) => string {
  const literals = new Set<string>();
  for (const secret of secrets) {
    // Short values would hide ordinary words; a real key or password is longer.
    if (!secret || secret.length < 4) continue;
    literals.add(secret);
    literals.add(JSON.stringify(secret).slice(1, -1));
    literals.add(encodeURIComponent(secret));
  }
  const ordered = [...literals].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const literal of ordered) if (out.includes(literal)) out = out.replaceAll(literal, REDACTED);
    return scrubSecrets(out);
  };
}

/** Removes credentials in URLs, Authorization values and key=value secrets from text. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
