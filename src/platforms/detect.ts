// What a landing page says about the software behind it: generator tags, FAIR signposting links
// (HTTP Link headers and <link> elements), JSON-LD and the declared DOI. Helpers use these to
// recognise an installation (a Dataverse, an InvenioRDM) on a host they have never heard of.
import * as cheerio from 'cheerio';
import type { LandingPage } from './types.js';

export interface TypedLink {
  /** Absolute URL. */
  href: string;
  /** One relation (a Link with `rel="item describedby"` yields two entries), lower case. */
  rel: string;
  /** Media type, lower case, when given. */
  type?: string;
}

export interface LandingSignals {
  /** `<meta name="generator">` values, e.g. "Dataverse 6.2" or "InvenioRDM". */
  generators: string[];
  /** Signposting and alternate links: HTTP `Link` headers first, then `<link>` elements. */
  links: TypedLink[];
  /** Every JSON-LD block that parsed. */
  jsonLd: unknown[];
  /**
   * The DOI the page declares, as written (DOIs are case-insensitive, but some APIs look them up
   * exactly), without a resolver prefix: citation_doi, JSON-LD or signposting cite-as.
   */
  doi?: string;
}

const EMPTY: LandingSignals = Object.freeze({ generators: [], links: [], jsonLd: [] }) as LandingSignals;
const cache = new WeakMap<LandingPage, LandingSignals>();
const DOI = /\b(10\.\d{4,9}\/[^\s"'<>]+)/i;

/** The signals of a landing page; computed once per page. An unusable page has none. */
export function landingSignals(landing: LandingPage | null | undefined): LandingSignals {
  if (!landing || landing.error) return EMPTY;
  let signals = cache.get(landing);
  if (!signals) {
    signals = readSignals(landing);
    cache.set(landing, signals);
  }
  return signals;
}

/** The first link with this relation (and, when given, a media type matching `type`). */
export function findLink(signals: LandingSignals, rel: string, type?: RegExp): TypedLink | undefined {
  return signals.links.find((l) => l.rel === rel && (!type || (l.type !== undefined && type.test(l.type))));
}

function readSignals(landing: LandingPage): LandingSignals {
  const base = landing.capture?.url ?? landing.url;
  const links: TypedLink[] = [];
  for (const [name, value] of landing.headers ?? []) {
    if (name.toLowerCase() === 'link') links.push(...parseLinkHeader(value, base));
  }
  const signals: LandingSignals = { generators: [], links, jsonLd: [] };
  if (landing.html) readHtml(landing.html, base, signals);
  const citeAs = findLink(signals, 'cite-as');
  signals.doi ??= doiIn(citeAs?.href) ?? doiInJsonLd(signals.jsonLd);
  return signals;
}

function readHtml(html: string, base: string, signals: LandingSignals): void {
  const $ = cheerio.load(html);
  $('meta').each((_, el) => {
    const name = ($(el).attr('name') ?? $(el).attr('property') ?? '').trim().toLowerCase();
    const content = $(el).attr('content')?.trim();
    if (!content) return;
    if (name === 'generator') signals.generators.push(content);
    if ((name === 'citation_doi' || name === 'dc.identifier') && !signals.doi) signals.doi = doiIn(content);
  });
  $('link[rel][href]').each((_, el) => {
    const href = absolute($(el).attr('href')!, base);
    if (!href) return;
    const type = $(el).attr('type')?.trim().toLowerCase();
    for (const rel of $(el).attr('rel')!.toLowerCase().split(/\s+/).filter(Boolean)) {
      signals.links.push({ href, rel, ...(type ? { type } : {}) });
    }
  });
  $('script[type="application/ld+json"]').each((_, el) => {
    try {
      signals.jsonLd.push(JSON.parse($(el).text()));
    } catch {
      // A broken block says nothing; the others may still parse.
    }
  });
}

/** RFC 8288 Link header: `<url>; rel="a b"; type="x", <url2>; rel=c`. Commas inside <> or quotes are kept. */
export function parseLinkHeader(value: string, base: string): TypedLink[] {
  const links: TypedLink[] = [];
  for (const part of splitOutsideQuotes(value)) {
    const target = /^\s*<([^>]*)>/.exec(part);
    if (!target) continue;
    const href = absolute(target[1]!, base);
    if (!href) continue;
    const params = new Map<string, string>();
    for (const match of part.slice(target[0].length).matchAll(/;\s*([a-z*-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]+))/gi)) {
      params.set(match[1]!.toLowerCase(), (match[2] ?? match[3] ?? '').trim());
    }
    const type = params.get('type')?.toLowerCase();
    for (const rel of (params.get('rel') ?? '').toLowerCase().split(/\s+/).filter(Boolean)) {
      links.push({ href, rel, ...(type ? { type } : {}) });
    }
  }
  return links;
}

function splitOutsideQuotes(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let inQuotes = false;
  let inAngle = false;
  for (const char of value) {
    if (char === '"' && !inAngle) inQuotes = !inQuotes;
    else if (char === '<' && !inQuotes) inAngle = true;
    else if (char === '>' && !inQuotes) inAngle = false;
    if (char === ',' && !inQuotes && !inAngle) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim()) parts.push(current);
  return parts;
}

function absolute(href: string, base: string): string | undefined {
  try {
    const url = new URL(href.trim(), base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function doiIn(text: string | undefined): string | undefined {
  if (!text) return undefined;
  let decoded = text;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    // keep the raw text
  }
  return DOI.exec(decoded)?.[1]?.replace(/[.,;]+$/, '');
}

function doiInJsonLd(blocks: unknown[]): string | undefined {
  for (const block of blocks) {
    for (const node of Array.isArray(block) ? block : [block]) {
      if (typeof node !== 'object' || node === null) continue;
      const { identifier, '@id': id } = node as { identifier?: unknown; '@id'?: unknown };
      const candidates = [identifier, id].flatMap((v) => (Array.isArray(v) ? v : [v]));
      for (const candidate of candidates) {
        const text =
          typeof candidate === 'string'
            ? candidate
            : ((candidate as { value?: unknown; '@id'?: unknown } | null)?.value ??
              (candidate as { '@id'?: unknown } | null)?.['@id']);
        const doi = typeof text === 'string' ? doiIn(text) : undefined;
        if (doi) return doi;
      }
    }
  }
  return undefined;
}
