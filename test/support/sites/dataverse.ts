// Dataverse installations for the shared platform suites: the IQSS dev-instance "Cars" dataset
// (two open files with their real bytes, one restricted Stata file) on a host we have never heard of,
// plus helpers the Dataverse unit tests share. See test/fixtures/dataverse/README.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FixtureServer } from '../fixture-server.js';
import type { PlatformSite } from './types.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures');
export const json = { 'Content-Type': 'application/json' };

export function dataverseJson(name: string): string {
  return readFileSync(join(FIXTURES, 'dataverse', name), 'utf8');
}

/** GET /api/info/version as Dataverse answers it (no recorded response exists; see the README). */
export const INFO_VERSION = '{"status":"OK","data":{"version":"6.7.1","build":"1955-8e18f64"}}';

/** The native dataset endpoint's path for a PID (the latest version), as the helper requests it. */
export const datasetPath = (pid: string) => `/api/datasets/:persistentId/?persistentId=${pid}`;
export const versionPath = (pid: string, version: string) =>
  `/api/datasets/:persistentId/versions/${version}?persistentId=${pid}`;

/**
 * A dataverse_json export re-wrapped as the native dataset endpoint answers: the export's top level
 * is the dataset, its `datasetVersion` becomes `latestVersion` (the same version object shape).
 */
export function nativeFromExport(name: string, edit?: (version: Record<string, unknown>) => void): string {
  const { datasetVersion, ...dataset } = JSON.parse(dataverseJson(name)) as { datasetVersion: Record<string, unknown> };
  edit?.(datasetVersion);
  return JSON.stringify({ status: 'OK', data: { ...dataset, latestVersion: datasetVersion } });
}

/** A recorded dataset response's latestVersion, served as the per-version endpoint serves it. */
export function versionFromDataset(name: string, edit?: (version: Record<string, unknown>) => void): string {
  const { data } = JSON.parse(dataverseJson(name)) as { data: { latestVersion: Record<string, unknown> } };
  edit?.(data.latestVersion);
  return JSON.stringify({ status: 'OK', data: data.latestVersion });
}

const CARS = 'iqss_devinstance_export_dataverse_json_doi_10.5072_FK2_CY7BWA_restricted.json';
const CARS_PID = 'doi:10.5072/FK2/CY7BWA';

/** The Cars dataset at https://dataverse.example.org (the export came from a localhost dev instance). */
export function serveCars(server: FixtureServer): void {
  const landing = '<!DOCTYPE html>\n<html><head><title>Cars</title></head><body></body></html>\n';
  server.route('/api/info/version', { body: INFO_VERSION, headers: json });
  server.route(datasetPath(CARS_PID), { body: nativeFromExport(CARS), headers: json });
  server.route(`/dataset.xhtml?persistentId=${CARS_PID}`, {
    body: landing,
    headers: { 'Content-Type': 'text/html; charset=utf-8' },
  });
  for (const [id, path, type] of [
    ['7', 'code/compute.py', 'text/x-python'],
    ['8', 'doc/README.md', 'text/markdown'],
  ] as const) {
    server.route(`/api/access/datafile/${id}?gbrecs=true`, {
      file: join(FIXTURES, 'dataverse-files', 'CY7BWA', path),
      headers: { 'Content-Type': type },
    });
  }
  // File 9 (data/stata13-auto.dta) is restricted: Dataverse answers 403 to anonymous downloads.
}

export const site: PlatformSite = {
  platform: 'dataverse',
  origins: ['https://dataverse.example.org', 'https://dataverse.harvard.edu'],

  serveDataset(server) {
    serveCars(server);
    return {
      url: `https://dataverse.example.org/dataset.xhtml?persistentId=${CARS_PID}`,
      platformId: CARS_PID,
      itemName: 'dataverse.example.org-CY7BWA-v1.0',
      paths: ['code/compute.py', 'doc/README.md', 'data/stata13-auto.dta'],
      status: 'success-partial',
    };
  },

  serveNotFound(server) {
    // No recorded Dataverse 404 body exists: a plain JSON error body in Dataverse's envelope.
    const body = '{"status":"ERROR","message":"Dataset with Persistent ID doi:10.7910/DVN/ZZZZZZ not found."}';
    server.route(datasetPath('doi:10.7910/DVN/ZZZZZZ'), { status: 404, body, headers: json });
    return 'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/ZZZZZZ';
  },

  serveChangedShape(server) {
    // The recorded HOLVXA response with the first file's size turned into a string.
    const body = dataverseJson('harvard_dataset_doi_10.7910_DVN_HOLVXA_2021-07-08.json').replace(
      '"filesize":204,',
      '"filesize":"204",',
    );
    server.route(datasetPath('doi:10.7910/DVN/HOLVXA'), { body, headers: json });
    return { url: 'https://doi.org/10.7910/DVN/HOLVXA', field: 'data.latestVersion.files.0.dataFile.filesize' };
  },

  claims: [
    'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/TJCLKP',
    'https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/Q5PV4U&version=1.1',
    'https://borealisdata.ca/citation?persistentId=doi:10.5683/SP3/JJ2YZZ',
    'https://data.example.edu/api/datasets/:persistentId/?persistentId=hdl:1902.1/12345',
    'https://doi.org/10.7910/DVN/HOLVXA',
    'https://doi.org/10.34894/CMJXAK',
  ],
  rejects: [
    'https://zenodo.org/records/7078725',
    'https://doi.org/10.5281/zenodo.7078725',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
    'https://figshare.com/articles/dataset/x/10042703',
    'https://example.org/dataset.xhtml?id=12',
    'https://dataverse.harvard.edu/dataverse/harvard',
  ],
};
