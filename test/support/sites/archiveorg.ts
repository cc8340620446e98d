// archive.org for the shared platform suites: the data item nawarian-test (recorded 2019) through the
// metadata API, and its /details/ landing page. See test/fixtures/archiveorg/README.md for what is
// recorded and what these routes add.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformSite } from './types.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'archiveorg');
export const json = { 'Content-Type': 'application/json' };

/** A recorded response body from test/fixtures/archiveorg/. */
export function archiveorgFixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** Replaces exactly one occurrence of `from`, so a test mutation cannot silently miss. */
export function mutate(body: string, from: string, to: string): string {
  const at = body.indexOf(from);
  if (at < 0 || body.indexOf(from, at + 1) >= 0) throw new Error(`mutation target must occur once: ${from}`);
  return body.slice(0, at) + to + body.slice(at + from.length);
}

/**
 * No landing page of these items was recorded: a minimal HTML page standing in for
 * `archive.org/details/<identifier>` (a title, nothing the helper reads).
 */
export function minimalDetailsPage(title: string): string {
  const esc = title.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!DOCTYPE html>\n<html><head><title>${esc} : Internet Archive</title></head><body><h1>${esc}</h1></body></html>\n`;
}

/** The seven data files of nawarian-test, in the order the metadata API lists them. */
export const NAWARIAN_PATHS = [
  'archive_388_data.tar.gz',
  'archive_389_data.tar.gz',
  'archive_394_data.tar.gz',
  'archive_397_data.tar.gz',
  'archive_422_data.tar.gz',
  'archive_423_data.tar.gz',
  'archive_484_data.tar.gz',
];

export const site: PlatformSite = {
  platform: 'archiveorg',
  origins: ['https://archive.org'],

  serveDataset(server) {
    // An archive.org item is already archived: the pipeline answers success-existing with the
    // item's own sizes and hashes and downloads no file, so no file bodies are served.
    server.route('/metadata/nawarian-test', { body: archiveorgFixture('nawarian-test.json'), headers: json });
    server.route('/details/nawarian-test', {
      body: minimalDetailsPage('nawarian-test'),
      headers: { 'Content-Type': 'text/html; charset=UTF-8' },
    });
    return {
      url: 'https://archive.org/details/nawarian-test',
      platformId: 'nawarian-test',
      itemName: 'nawarian-test',
      paths: NAWARIAN_PATHS,
      status: 'success-existing',
    };
  },

  serveNotFound(server) {
    // What archive.org really answers for an identifier that does not exist: HTTP 200 with `{}`.
    server.route('/metadata/no-such-item-fileset-ingest', { body: '{}', headers: json });
    return 'https://archive.org/details/no-such-item-fileset-ingest';
  },

  serveChangedShape(server) {
    // The recorded Fafnir item (comma-repaired copy) with its files array turned into an object.
    const recorded = archiveorgFixture('Fafnir_2342-2009.comma_repaired.json');
    const body = mutate(mutate(recorded, '"files": [', '"files": {"list": ['), '    }\n  ]\n}\n', '    }\n  ]}\n}\n');
    server.route('/metadata/Fafnir_2342-2009', { body, headers: json });
    return { url: 'https://archive.org/details/Fafnir_2342-2009', field: 'files' };
  },

  claims: [
    'https://archive.org/details/nawarian-test',
    'https://archive.org/details/nawarian-test/archive_388_data.tar.gz',
    'https://www.archive.org/details/nawarian-test',
    'https://archive.org/download/nawarian-test',
    'https://archive.org/download/nawarian-test/archive_388_data.tar.gz',
    'https://archive.org/metadata/nawarian-test',
    'http://archive.org/details/Fafnir_2342-2009',
  ],
  rejects: [
    'https://web.archive.org/web/2019/https://archive.org/details/nawarian-test',
    'https://archive.org/search?query=nawarian',
    'https://archive.org/details/@nawarian',
    'https://archive.org/',
    'https://scholar.archive.org/work/abc',
    'https://example.org/details/nawarian-test',
    'https://zenodo.org/records/7078725',
    'https://doi.org/10.5281/zenodo.7078725',
    'https://datadryad.org/dataset/doi:10.5061/dryad.6hdr7sr8z',
  ],
};
