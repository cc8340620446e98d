// datadryad.org and doi.org for the shared platform suites: dataset 10.5061/dryad.2rbnzs7jp (recorded
// 2022-01-14) with its version 57535 files listing. See test/fixtures/dryad/README.md for what is recorded
// and what these routes add.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FixtureServer } from '../fixture-server.js';
import type { PlatformSite } from './types.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures');
const json = { 'Content-Type': 'application/json; charset=utf-8' };

/** A recorded response body from test/fixtures/dryad/. */
export function dryadFixture(name: string): string {
  return readFileSync(join(FIXTURES, 'dryad', name), 'utf8');
}

/** The API path of a dataset, as Dryad spells it: `/api/v2/datasets/doi%3A10.5061%2Fdryad.<id>`. */
export function datasetApiPath(doi: string): string {
  return `/api/v2/datasets/${encodeURIComponent(`doi:${doi}`)}`;
}

export const DATASET_2RBNZS7JP = 'dryad_dataset_dryad.2rbnzs7jp_2022-01-14.json';
/** Page 1 of the recorded listing (the only page), unwrapped from the recording tool's array of pages. */
export const FILES_57535 = 'dryad_version_57535_files_dryad.2rbnzs7jp_2022-01-14.json';
export const FILES_355108 = 'dryad_version_355108_files_dryad.6hdr7sr8z_2026-07-24.json';
export const DATASET_MKKWH70ZP = 'dryad_dataset_dryad.mkkwh70zp.json';

interface ListedFile {
  path: string;
  size: number;
  mimeType?: string;
  _links: { 'stash:download'?: { href: string } };
}

/**
 * Stand-in bytes of exactly the listed size. The real bytes of the 2rbnzs7jp files are not
 * available (see test/fixtures/dryad-files/README.md); the 2022 listing gives sizes but no digests,
 * so nothing in the recorded responses has to be rewritten to match these bytes.
 */
export function standInBytes(path: string, size: number): Buffer {
  return Buffer.alloc(size, `fileset-ingest stand-in bytes for Dryad file ${path}\n`);
}

/** The 2rbnzs7jp dataset as datadryad.org and doi.org answer it; returns the manifest paths. */
export function serveDryad2rbnzs7jp(server: FixtureServer): string[] {
  const doi = '10.5061/dryad.2rbnzs7jp';
  const dataset = dryadFixture(DATASET_2RBNZS7JP);
  const listing = dryadFixture(FILES_57535);
  server.route(`/${doi}`, { status: 302, headers: { Location: `https://datadryad.org/dataset/doi:${doi}` } });
  server.route(`/dataset/doi:${doi}`, {
    body: minimalLanding(doi, dataset),
    headers: { 'Content-Type': 'text/html; charset=utf-8' },
  });
  server.route(datasetApiPath(doi), { body: dataset, headers: json });
  server.route('/api/v2/versions/57535/files', { body: listing, headers: json });
  const files = (JSON.parse(listing) as { _embedded: { 'stash:files': ListedFile[] } })._embedded['stash:files'];
  for (const file of files) {
    const download = file._links['stash:download']!.href;
    server.route(download, {
      body: standInBytes(file.path, file.size),
      headers: { 'Content-Type': file.mimeType || 'application/octet-stream' },
    });
  }
  return files.map((f) => f.path);
}

/**
 * No landing page of 2rbnzs7jp was recorded: a minimal page in the shape of Dryad's own (no
 * citation_* tags, one schema.org JSON-LD block with the DOI and the title from the dataset JSON).
 */
function minimalLanding(doi: string, datasetJson: string): string {
  const { title } = JSON.parse(datasetJson) as { title: string };
  const ld = JSON.stringify({
    '@context': 'http://schema.org',
    '@type': 'Dataset',
    '@id': `https://doi.org/${doi}`,
    name: title,
  });
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!DOCTYPE html>\n<html><head><title>${esc(title)}</title>\n<script type="application/ld+json">${ld.replace(/</g, '\\u003c')}</script>\n</head><body></body></html>\n`;
}

export const site: PlatformSite = {
  platform: 'dryad',
  origins: ['https://datadryad.org', 'https://doi.org'],

  serveDataset(server) {
    return {
      url: 'https://doi.org/10.5061/dryad.2rbnzs7jp',
      platformId: '10.5061/dryad.2rbnzs7jp',
      itemName: 'datadryad.org-2rbnzs7jp-v4',
      paths: serveDryad2rbnzs7jp(server),
      status: 'success',
    };
  },

  serveNotFound(server) {
    // No recorded Dryad 404 body exists: a plain JSON error body (see the README).
    const doi = '10.5061/dryad.notadataset';
    server.route(datasetApiPath(doi), { status: 404, body: '{"error":"not-found"}', headers: json });
    return `https://datadryad.org/dataset/doi:${doi}`;
  },

  serveChangedShape(server) {
    // The recorded mkkwh70zp dataset with its versionNumber turned into a string.
    const body = dryadFixture(DATASET_MKKWH70ZP).replace('"versionNumber": 3,', '"versionNumber": "3",');
    server.route(datasetApiPath('10.5061/dryad.mkkwh70zp'), { body, headers: json });
    return { url: 'https://datadryad.org/stash/dataset/doi:10.5061/dryad.mkkwh70zp', field: 'versionNumber' };
  },

  claims: [
    'https://datadryad.org/stash/dataset/doi:10.5061/dryad.2rbnzs7jp',
    'https://datadryad.org/dataset/doi:10.5061/dryad.6hdr7sr8z',
    'https://datadryad.org/api/v2/datasets/doi%3A10.5061%2Fdryad.2rbnzs7jp',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
    'https://doi.org/10.5061/DRYAD.6HDR7SR8Z',
  ],
  rejects: [
    'https://datadryad.org/search?q=mycorrhiza',
    'https://datadryad.org/stash/share/anFoRwjUzvjvpH8RA2T0mNipNsVst0s0N5mFzcTTcJE',
    'https://example.org/dataset/doi:10.5061/dryad.2rbnzs7jp',
    'https://doi.org/10.5281/zenodo.7078725',
    'https://zenodo.org/records/7078725',
    'https://figshare.com/articles/dataset/x/123',
  ],
};
