// Serves a recorded Zenodo record the way zenodo.org and doi.org would: the API JSON verbatim,
// file bodies at the download links the JSON itself gives, the DOI redirect and a landing page.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FixtureServer } from './fixture-server.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

interface RecordJson {
  id: number | string;
  doi?: string;
  metadata?: { title?: string; creators?: Array<{ name?: string }>; publication_date?: string };
  files?: Array<{ key?: string; filename?: string; links: { self?: string; content?: string; download?: string } }>;
}

export interface ZenodoSiteOptions {
  /** File bodies by file key; keys without a body are not served (404). */
  files?: Record<string, Buffer | string>;
  /** Serve the record at this id instead of its own (e.g. a concept id that resolves to it). */
  servedAs?: string;
  /** Landing page HTML; default: a minimal page with citation_* tags (see test/fixtures/README.md). */
  landingHtml?: string | null;
}

export function recordJson(name: string): string {
  return readFileSync(join(FIXTURES, 'zenodo', name), 'utf8');
}

/** Adds routes for one record; returns the record's id and its download paths by key. */
export function serveZenodoRecord(server: FixtureServer, fixtureName: string, options: ZenodoSiteOptions = {}) {
  const text = recordJson(fixtureName);
  const record = JSON.parse(text) as RecordJson;
  const id = options.servedAs ?? String(record.id);
  server.route(`/api/records/${id}`, { body: text, headers: { 'Content-Type': 'application/json' } });
  const doi = `10.5281/zenodo.${id}`;
  server.route(`/${doi}`, { status: 302, headers: { Location: `https://zenodo.org/records/${id}` } });
  const landing = options.landingHtml === undefined ? minimalLanding(record) : options.landingHtml;
  if (landing !== null) {
    for (const path of [`/records/${id}`, `/record/${id}`]) {
      server.route(path, { body: landing, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
    }
  }
  const downloads: Record<string, string> = {};
  for (const file of record.files ?? []) {
    const key = file.key ?? file.filename ?? '';
    const link = file.links.content ?? file.links.download ?? file.links.self;
    if (!link) continue;
    const path = new URL(link).pathname;
    downloads[key] = path;
    const body = options.files?.[key];
    if (body !== undefined) {
      server.route(path, { body, headers: { 'Content-Type': 'application/octet-stream' } });
    }
  }
  return { id: String(record.id), downloads };
}

/** The real bytes of a record's files (test/fixtures/zenodo-files/<id>/, md5-verified, see README). */
export function recordFiles(id: string, keys: string[]): Record<string, Buffer> {
  return Object.fromEntries(keys.map((k) => [k, readFileSync(join(FIXTURES, 'zenodo-files', id, k))]));
}

function minimalLanding(record: RecordJson): string {
  const md = record.metadata ?? {};
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const tags = [
    md.title && `<meta name="citation_title" content="${esc(md.title)}">`,
    ...(md.creators ?? []).map((c) => c.name && `<meta name="citation_author" content="${esc(c.name)}">`),
    md.publication_date && `<meta name="citation_publication_date" content="${esc(md.publication_date)}">`,
    record.doi && `<meta name="citation_doi" content="${esc(record.doi)}">`,
  ].filter(Boolean);
  return `<!DOCTYPE html>\n<html><head><title>${esc(md.title ?? '')}</title>\n${tags.join('\n')}\n</head><body></body></html>\n`;
}
