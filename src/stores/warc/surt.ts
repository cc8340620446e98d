// SURT (Sort-friendly URI Reordering Transform) as Wayback and pywb compute CDX keys: a port of
// the `surt` Python package's defaults (GoogleURLCanonicalizer then IAURLCanonicalizer, no scheme,
// no trailing comma), e.g. http://www.Example.com:80/a?b=2&a=1 → com,example)/a?a=1&b=2.
//
// Like the reference it works on bytes: the URL is UTF-8 encoded and every intermediate string
// below holds one byte per char (latin1), so percent-decoding may produce any byte.
import { domainToASCII } from 'node:url';

interface ParsedUrl {
  scheme: string;
  host: string | null;
  port: number | null;
  path: string | null;
  query: string | null;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/** The SURT key of a URL; "-" for an empty one, as the reference returns. */
export function surt(url: string): string {
  if (!url) return '-';
  if (url.startsWith('filedesc')) return url;
  const bytes = Buffer.from(url, 'utf8').toString('latin1');
  const opaque = /^([a-zA-Z][a-zA-Z0-9+.-]*):(?!\/\/)(.*)$/s.exec(trimAscii(bytes));
  if (opaque && !/^https?$/i.test(opaque[1]!)) {
    // dns:, mailto:, urn:, warcinfo: ... have no authority to reorder
    return lowerAscii(`${opaque[1]!}:${escapeOnce(opaque[2]!)}`);
  }
  const parsed = parse(bytes);
  googleCanonicalize(parsed);
  iaCanonicalize(parsed);
  return format(parsed);
}

/** handyurl.parse: Python's urlsplit with Heritrix's fixes for sloppy URLs. */
function parse(input: string): ParsedUrl {
  let url = trimAscii(input).replace(/[\n\r\t]/g, '');
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url)) url = `http://${url}`;
  url = url.replace(/^(https?:\/\/)+/, '$1');

  const colon = url.indexOf(':');
  const scheme = lowerAscii(url.slice(0, colon));
  let rest = url.slice(colon + 1);
  let netloc = '';
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, end + 2);
    rest = end < 0 ? '' : rest.slice(end + 2);
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const mark = rest.indexOf('?');
  const query = mark >= 0 ? rest.slice(mark + 1) : '';
  let path = mark >= 0 ? rest.slice(0, mark) : rest;

  const [hostname, port] = splitNetloc(netloc.replace(/:+$/, ''));
  let host = hostname;
  if (host === null && path && scheme.startsWith('http')) {
    // "http:////www.vikings.com": the host hides in the path
    const stripped = path.replace(/^\/+/, '');
    const slash = stripped.indexOf('/');
    host = slash < 0 ? stripped : stripped.slice(0, slash);
    path = `/${slash < 0 ? '' : stripped.slice(slash + 1)}`;
  }
  return { scheme, host: host || null, port, path: path || null, query: query || null };
}

function splitNetloc(netloc: string): [string | null, number | null] {
  const hostinfo = netloc.slice(netloc.lastIndexOf('@') + 1);
  let host: string;
  let portText: string;
  if (hostinfo.includes('[')) {
    const bracketed = hostinfo.slice(hostinfo.indexOf('[') + 1);
    const close = bracketed.indexOf(']');
    host = close < 0 ? bracketed : bracketed.slice(0, close);
    const after = close < 0 ? '' : bracketed.slice(close + 1);
    portText = after.includes(':') ? after.slice(after.indexOf(':') + 1) : '';
  } else {
    const colon = hostinfo.indexOf(':');
    host = colon < 0 ? hostinfo : hostinfo.slice(0, colon);
    portText = colon < 0 ? '' : hostinfo.slice(colon + 1);
  }
  // Python raises on a bad port; a key is more useful than an exception, so ignore it.
  const port = /^\d{1,5}$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : null;
  return [host ? lowerAscii(host) : null, port || null];
}

/** GoogleURLCanonicalizer: one canonical percent-encoding, dotted IPv4, normalised path. */
function googleCanonicalize(url: ParsedUrl): void {
  if (url.query) url.query = escapeOnce(unescapeRepeatedly(url.query));
  if (url.host) {
    let host = unescapeRepeatedly(url.host);
    if (/[\x80-\xff]/.test(host)) {
      const unicode = Buffer.from(host, 'latin1').toString('utf8');
      const ascii = domainToASCII(unicode);
      if (ascii) host = ascii;
    }
    host = host.replaceAll('..', '.').replace(/^\.+|\.+$/g, '');
    url.host = attemptIpFormats(host) ?? escapeOnce(lowerAscii(host));
  }
  url.path = escapeOnce(normalizePath(unescapeRepeatedly(url.path ?? '')));
}

/** IAURLCanonicalizer: lower case, no www, no default port, no session ids, sorted query. */
function iaCanonicalize(url: ParsedUrl): void {
  if (url.host) url.host = lowerAscii(url.host).replace(/^www\d*\./, '');
  if (url.port !== null && DEFAULT_PORTS[url.scheme] === url.port) url.port = null;
  let path = url.path;
  if (path) {
    path = stripPathSessionId(lowerAscii(path));
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  }
  url.path = path;
  if (url.query) {
    const query = alphaReorderQuery(lowerAscii(stripQuerySessionId(url.query)));
    url.query = query || null;
  }
}

function format(url: ParsedUrl): string {
  let out = '';
  if (url.host) {
    out += url.host.split('.').reverse().join(',');
    if (url.port !== null) out += `:${url.port}`;
    out += ')';
  } else {
    out += `${url.scheme}:`;
  }
  if (url.path) out += url.path;
  else if (url.query !== null) out += '/';
  if (url.query !== null) out += `?${url.query}`;
  return Buffer.from(out, 'latin1').toString('utf8');
}

/** Python's bytes.strip() and bytes.lower(): ASCII only, so no byte >= 0x80 ever changes. */
function trimAscii(text: string): string {
  return text.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');
}

function lowerAscii(text: string): string {
  return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function unescapeRepeatedly(text: string): string {
  for (;;) {
    const next = text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === text) return text;
    text = next;
  }
}

/** Python's quote() with the reference's safe set: escapes controls, space, '#', '%' and non-ASCII. */
function escapeOnce(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    const escape = code <= 0x20 || code === 0x23 || code === 0x25 || code >= 0x7f;
    out += escape ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : text[i];
  }
  return out;
}

/** Drops "." and empty segments and resolves "..", keeping a trailing slash. */
function normalizePath(path: string): string {
  if (!path) return '/';
  const kept: string[] = [];
  for (const segment of path.split('/').slice(1)) {
    if (segment === '.') continue;
    if (segment === '..') {
      if (kept.length > 0) kept.pop();
      else kept.push(segment);
    } else {
      kept.push(segment);
    }
  }
  let out = '/';
  kept.forEach((segment, i) => {
    if (i === kept.length - 1) out += segment;
    else if (segment) out += `${segment}/`;
  });
  return out;
}

/** Numeric hosts as inet_aton reads them ("3279880203", "017.0.0.1", "10.0.258"); else null. */
function attemptIpFormats(host: string): string | null {
  if (/^\d+$/.test(host)) return dotted(BigInt(host) & 0xffffffffn);
  if (
    !/^([1-9][0-9]*)(\.[0-9]+)?(\.[0-9]+)?(\.[0-9]+)?$/.test(host) &&
    !/^(0[0-7]*)(\.[0-7]+)?(\.[0-7]+)?(\.[0-7]+)?$/.test(host)
  ) {
    return null;
  }
  const parts = host
    .split('.')
    .map((p) => (/^0[0-7]*$/.test(p) ? parseInt(p, 8) : /^[1-9][0-9]*$/.test(p) ? parseInt(p, 10) : NaN));
  if (parts.some((p) => Number.isNaN(p))) return null;
  const last = parts.pop()!;
  const lastMax = 2 ** (8 * (4 - parts.length)) - 1;
  if (parts.some((p) => p > 255) || last > lastMax) return null;
  let value = 0n;
  for (const p of parts) value = (value << 8n) | BigInt(p);
  return dotted((value << BigInt(8 * (4 - parts.length))) | BigInt(last));
}

function dotted(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

const PATH_SESSION_IDS = [
  /^(.*\/)(\((?:[a-z]\([0-9a-z]{24}\))+\)\/)([^?]+\.aspx.*)$/i,
  /^(.*\/)(\([0-9a-z]{24}\)\/)([^?]+\.aspx.*)$/i,
];

const QUERY_SESSION_IDS = [
  /^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$/i,
  /^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$/i,
  /^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$/i,
  /^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$/i,
  /^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$/i,
];

function stripPathSessionId(path: string): string {
  for (const pattern of PATH_SESSION_IDS) {
    const m = pattern.exec(path);
    if (m) path = m[1]! + m[3]!;
  }
  return path;
}

function stripQuerySessionId(query: string): string {
  for (const pattern of QUERY_SESSION_IDS) {
    const m = pattern.exec(query);
    if (m) query = m[1]! + (m[2] ?? '');
  }
  return query;
}

/** Sorts "k=v" pairs as Python sorts (key, value) tuples; "k" without "=" sorts before "k=". */
function alphaReorderQuery(query: string): string {
  if (query.length <= 1) return query;
  const pairs = query.split('&').map((arg) => {
    const eq = arg.indexOf('=');
    return eq < 0 ? [arg] : [arg.slice(0, eq), arg.slice(eq + 1)];
  });
  pairs.sort((a, b) => compare(a[0]!, b[0]!) || a.length - b.length || compare(a[1] ?? '', b[1] ?? ''));
  return pairs.map((p) => p.join('=')).join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
