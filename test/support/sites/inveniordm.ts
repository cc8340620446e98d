// An InvenioRDM installation other than Zenodo (rogue-scholar.org) for the shared platform suites.
// The record JSON is recorded; the landing page, its signposting Link header and the file listing
// are built here (no recording exists): see test/fixtures/zenodo/README.md.
import { createHash } from 'node:crypto';
import type { FixtureServer } from '../fixture-server.js';
import { recordJson } from '../zenodo-site.js';
import type { PlatformSite } from './types.js';

const ORIGIN = 'https://rogue-scholar.org';
const json = { 'Content-Type': 'application/json' };
const RECORDED = 'inveniordm_native_rogue-scholar_pevm6-kx104_2026-07-24.json';

/** The test file served for the record (no real file: the recorded record is metadata-only). */
export const RDM_FILE = Buffer.from('id,title\n1,The Petrol Tank for AI Discovery\n');

/** The landing page as InvenioRDM serves it: FAIR signposting level 1 in the Link header. */
export function serveRdmLanding(server: FixtureServer, id: string, options: { linkHeader?: boolean } = {}): void {
  const api = `${ORIGIN}/api/records/${id}`;
  const link = [
    `<https://doi.org/10.59350/5cj54-ha154> ; rel="cite-as"`,
    `<${api}> ; rel="describedby" ; type="application/vnd.inveniordm.v1+json"`,
    `<${api}> ; rel="describedby" ; type="application/ld+json"`,
    `<${api}> ; rel="linkset" ; type="application/linkset+json"`,
  ].join(' , ');
  server.route(`/records/${id}`, {
    body: '<!DOCTYPE html><html><head><title>record</title></head><body></body></html>',
    headers: { 'Content-Type': 'text/html; charset=utf-8', ...(options.linkHeader === false ? {} : { Link: link }) },
  });
}

/** The parts of the recorded record the tests change. */
interface RdmJson {
  files: { enabled: boolean };
  access: { record: unknown; files: unknown; embargo?: unknown };
  links: Record<string, unknown>;
}

/** The recorded record, with files switched on (and optionally other changes) — see the README. */
export function rdmRecord(change: (record: RdmJson) => void = () => {}): string {
  const record = JSON.parse(recordJson(RECORDED)) as RdmJson;
  record.files.enabled = true;
  change(record);
  return JSON.stringify(record);
}

/** The recorded Zenodo file listing (InvenioRDM's files API), moved to this record with our test file's size and md5. */
export function rdmListing(id: string): string {
  const text = recordJson('preston_zenodo_record_13505983_files_listing_newapi.json').replaceAll(
    'https://zenodo.org/api/records/13505983',
    `${ORIGIN}/api/records/${id}`,
  );
  const moved = JSON.parse(text) as { entries: Array<Record<string, unknown>> };
  moved.entries[0]!.size = RDM_FILE.length;
  moved.entries[0]!.checksum = `md5:${createHash('md5').update(RDM_FILE).digest('hex')}`;
  return JSON.stringify(moved);
}

export const RDM_KEY = 'Thuiller et al. - 2006 - INTERACTIONS BETWEEN ENVIRONMENT, SPECIES TRAITS, .]';

export const site: PlatformSite = {
  platform: 'inveniordm',
  origins: [ORIGIN],

  serveDataset(server) {
    const id = 'pevm6-kx104';
    serveRdmLanding(server, id);
    server.route(`/api/records/${id}`, { body: rdmRecord(), headers: json });
    server.route(`/api/records/${id}/files`, { body: rdmListing(id), headers: json });
    server.route(`/api/records/${id}/files/${RDM_KEY}/content`, {
      body: RDM_FILE,
      headers: { 'Content-Type': 'text/csv' },
    });
    return {
      url: `${ORIGIN}/records/${id}`,
      platformId: id,
      itemName: `rogue-scholar.org-${id}`,
      paths: [RDM_KEY],
      status: 'success-file',
    };
  },

  serveNotFound(server) {
    serveRdmLanding(server, 'zzzzz-00000');
    server.route('/api/records/zzzzz-00000', {
      status: 404,
      body: '{"status": 404, "message": "The persistent identifier does not exist."}',
      headers: json,
    });
    return `${ORIGIN}/records/zzzzz-00000`;
  },

  serveChangedShape(server) {
    serveRdmLanding(server, 'pevm6-kx104');
    server.route('/api/records/pevm6-kx104', { body: rdmRecord((r) => (r.access.files = 1)), headers: json });
    return { url: `${ORIGIN}/records/pevm6-kx104`, field: 'access.files' };
  },

  // Found by its landing page only: from the URL alone it claims nothing.
  claims: [],
  rejects: [
    `${ORIGIN}/records/pevm6-kx104`,
    'https://zenodo.org/records/5244404',
    'https://example.org/api/records/abc',
  ],
};
