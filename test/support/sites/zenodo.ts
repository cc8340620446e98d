// zenodo.org and doi.org for the shared platform suites: record 7078760 with its real file bytes.
import { recordFiles, recordJson, serveZenodoRecord } from '../zenodo-site.js';
import type { PlatformSite } from './types.js';

const json = { 'Content-Type': 'application/json' };

export const site: PlatformSite = {
  platform: 'zenodo',
  origins: ['https://zenodo.org', 'https://doi.org'],

  serveDataset(server) {
    const keys = ['data2.csv', 'data.csv', 'datapackage.json'];
    serveZenodoRecord(server, 'zenodo_record_7078760.json', { files: recordFiles('7078760', keys) });
    return {
      url: 'https://doi.org/10.5281/zenodo.7078760',
      platformId: '7078760',
      itemName: 'zenodo.org-7078760',
      paths: keys,
      status: 'success',
    };
  },

  serveNotFound(server) {
    server.route('/api/records/68358988', {
      status: 404,
      body: recordJson('zenodo_record_68358988_404.json'),
      headers: json,
    });
    return 'https://zenodo.org/records/68358988';
  },

  serveChangedShape(server) {
    // The recorded 7078725 with one file's size turned into a string.
    const body = recordJson('zenodo_record_7078725.json').replace('"size":76,', '"size":"76",');
    server.route('/api/records/7078725', { body, headers: json });
    return { url: 'https://zenodo.org/records/7078725', field: 'files.0.size' };
  },

  claims: [
    'https://zenodo.org/record/7078725',
    'https://zenodo.org/records/7078725',
    'https://doi.org/10.5281/zenodo.7078725',
    'https://sandbox.zenodo.org/records/12',
  ],
  rejects: [
    'https://zenodo.org/communities/x',
    'https://example.org/records/1',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
  ],
};
