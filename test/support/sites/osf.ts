// test.osf.io, api.test.osf.io and files.us.test.osf.io for the shared platform suites: osfr's test
// project y8t6r (recorded 2026-02) with its osfstorage tree. See test/fixtures/osf/README.md for what
// is recorded and what these routes change or add.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FixtureServer } from '../fixture-server.js';
import type { PlatformSite } from './types.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures');
const json = { 'Content-Type': 'application/vnd.api+json; charset=utf-8' };

/** A recorded response body from test/fixtures/osf/. */
export function osfFixture(name: string): string {
  return readFileSync(join(FIXTURES, 'osf', name), 'utf8');
}

/** The real bytes of a recorded file, from test/fixtures/osf-files/<node>/<path>. */
export function osfFileBytes(node: string, path: string): Buffer {
  return readFileSync(join(FIXTURES, 'osf-files', node, path));
}

export const NODE_Y8T6R = 'osf_test_node_y8t6r.json';
export const ROOT_Y8T6R = 'osf_test_node_y8t6r_files_osfstorage_page1.json';
export const MANY_FILES_PAGE1 = 'osf_test_folder_5d4ef2104e90e100146f7e53_page1.json';
export const MANY_FILES_PAGE2 = 'osf_test_folder_5d4ef2104e90e100146f7e53_page2.json';
/** Recorded for node a2ncb (a filtered query with no match): the only recorded empty listing. */
export const EMPTY_LISTING = 'osf_test_node_a2ncb_files_osfstorage_empty_2026-02-19.json';
export const FILE_69967C90 = 'osf_test_file_69967c90d957f4745b0cab28.json';
/** Copies of the recorded listings with only the md5/sha256 of each file rewritten to match standInBytes(). */
export const ROOT_Y8T6R_STANDIN = 'osf_test_node_y8t6r_files_osfstorage_page1.standin-hashes.json';
export const MANY_FILES_PAGE1_STANDIN = 'osf_test_folder_5d4ef2104e90e100146f7e53_page1.standin-hashes.json';

/** API paths, as the recorded links name them (the test origins are rewritten onto the fixture server). */
export const PATHS = {
  node: '/v2/nodes/y8t6r/',
  root: '/v2/nodes/y8t6r/files/osfstorage/',
  manyFiles: '/v2/nodes/y8t6r/files/osfstorage/5d4ef2104e90e100146f7e53/',
  manyFilesPage2: '/v2/nodes/y8t6r/files/osfstorage/5d4ef2104e90e100146f7e53/?page=2',
  nestedDir: '/v2/nodes/y8t6r/files/osfstorage/5d4f01fb4fb5130014d6754d/',
} as const;
export const PAGE2_URL = `https://api.test.osf.io${PATHS.manyFilesPage2}`;
export const PAGE3_URL = 'https://api.test.osf.io/v2/nodes/y8t6r/files/osfstorage/5d4ef2104e90e100146f7e53/?page=3';

/** A recorded body with one documented change; fails loudly when the text to change is not there. */
export function mutate(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture does not contain ${from}`);
  return text.replace(from, to);
}

/**
 * Stand-in bytes of exactly the listed size. The real bytes of the y8t6r files cannot be found
 * (osfr's data-raw/create-test-project.R wrote 100 runif() numbers per text file and plotted the
 * PDF at run time): the *.standin-hashes.json copies carry these bytes' md5 and sha256 instead.
 */
export function standInBytes(path: string, size: number): Buffer {
  return Buffer.alloc(size, `fileset-ingest stand-in bytes for OSF file ${path}\n`);
}

interface ListedEntry {
  attributes: { kind: string; materialized_path: string; size: number | null };
  links: { download?: string };
}

const CONTENT_TYPES: Record<string, string> = { txt: 'text/plain', pdf: 'application/pdf' };

/** Routes a listing's file downloads to stand-in bytes; returns the files' paths in listing order. */
function serveDownloads(server: FixtureServer, listing: string): string[] {
  const files = (JSON.parse(listing) as { data: ListedEntry[] }).data.filter((e) => e.attributes.kind === 'file');
  for (const { attributes, links } of files) {
    const path = attributes.materialized_path.replace(/^\//, '');
    server.route(new URL(links.download!).pathname, {
      body: standInBytes(path, attributes.size!),
      headers: { 'Content-Type': CONTENT_TYPES[path.split('.').pop()!] ?? 'application/octet-stream' },
    });
  }
  return files.map((f) => f.attributes.materialized_path.replace(/^\//, ''));
}

/**
 * y8t6r as test.osf.io answers it, cut to what was recorded: the many-files folder's page 1 is its
 * last page (11 files in all, within the web strategy's 20), nested-dir is served the recorded
 * empty listing. Returns the manifest paths in the helper's (depth-first listing) order.
 */
export function serveY8t6r(server: FixtureServer): string[] {
  const root = osfFixture(ROOT_Y8T6R_STANDIN);
  const page1 = mutate(osfFixture(MANY_FILES_PAGE1_STANDIN), `"next":"${PAGE2_URL}"`, '"next":null');
  server.route('/y8t6r/', { body: minimalLanding(), headers: { 'Content-Type': 'text/html; charset=utf-8' } });
  server.route(PATHS.node, { body: osfFixture(NODE_Y8T6R), headers: json });
  server.route(PATHS.root, { body: root, headers: json });
  server.route(PATHS.manyFiles, { body: page1, headers: json });
  server.route(PATHS.nestedDir, { body: osfFixture(EMPTY_LISTING), headers: json });
  const inFolder = serveDownloads(server, page1);
  const atRoot = serveDownloads(server, root);
  return [...inFolder, ...atRoot];
}

/** No OSF landing page was recorded (osf.io serves a JavaScript application): a minimal page. */
function minimalLanding(): string {
  return '<!DOCTYPE html>\n<html><head><title>OSF | osfr-testthat-project</title></head><body></body></html>\n';
}

export const site: PlatformSite = {
  platform: 'osf',
  origins: ['https://test.osf.io', 'https://api.test.osf.io', 'https://files.us.test.osf.io'],

  serveDataset(server) {
    return {
      url: 'https://test.osf.io/y8t6r/',
      platformId: 'y8t6r',
      itemName: 'test.osf.io-y8t6r',
      paths: serveY8t6r(server),
      status: 'success',
    };
  },

  serveNotFound(server) {
    // No recorded OSF 404 body exists: a plain JSON:API error body (see the README). The file-guid
    // probe (/v2/files/zzzzz/) is left unrouted: the fixture server answers it 404 too.
    server.route('/v2/nodes/zzzzz/', { status: 404, body: '{"errors":[{"detail":"Not found."}]}', headers: json });
    return 'https://test.osf.io/zzzzz/';
  },

  serveChangedShape(server) {
    // The recorded y8t6r node with `public` turned into a string, served under another guid.
    const body = mutate(osfFixture(NODE_Y8T6R), '"public":true', '"public":"true"');
    server.route('/v2/nodes/c4ng3/', { body, headers: json });
    return { url: 'https://test.osf.io/c4ng3/', field: 'data.attributes.public' };
  },

  claims: [
    'https://osf.io/y8t6r/',
    'https://osf.io/y8t6r',
    'https://osf.io/y8t6r/files/osfstorage',
    'https://osf.io/y8t6r/files/',
    'https://test.osf.io/y8t6r/',
    'https://api.osf.io/v2/nodes/y8t6r/',
    'https://api.test.osf.io/v2/nodes/y8t6r/files/osfstorage/',
    'https://doi.org/10.17605/OSF.IO/Y8T6R',
    'https://doi.org/10.17605/osf.io/y8t6r',
  ],
  rejects: [
    'https://osf.io/preprints/psyarxiv/abcde/',
    'https://osf.io/registries/discover',
    'https://osf.io/institutions/cos',
    'https://osf.io/search?q=data',
    'https://osf.io/dashboard',
    'https://osf.io/meetings/',
    'https://osf.io/collections/x/discover',
    'https://osf.io/static/img/logo.png',
    'https://osf.io/download/bexrz/',
    'https://osf.io/abcd/',
    'https://doi.org/10.31234/osf.io/abcde',
    'https://api.osf.io/v2/registrations/abcde/',
    'https://example.org/y8t6r/',
    'https://zenodo.org/records/7078725',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
    'https://figshare.com/articles/dataset/x/123',
  ],
};
