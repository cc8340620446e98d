// figshare.com, api.figshare.com, ndownloader.figshare.com and doi.org for the shared platform suites:
// dataset article 8263811 (4 small text files) reached through its figshare DOI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformSite } from './types.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'figshare');
const json = { 'Content-Type': 'application/json' };

export function figshareJson(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/**
 * The test bodies of article 8263811's files. No real bytes were found (test/fixtures/figshare/README.md):
 * each is 20 bytes, the recorded size, and the `.test-bytes.json` copy carries their md5s.
 */
export function testBody(name: string): Buffer {
  return Buffer.from(`test body ${name.replace(/\.txt$/, '')}\n`);
}

interface ArticleJson {
  title: string;
  doi: string;
  url_public_html: string;
  authors: Array<{ full_name: string }>;
  files: Array<{ name: string; download_url: string }>;
}

/** What a landing page would minimally say; no recorded figshare landing HTML exists. */
function minimalLanding(article: ArticleJson): string {
  const tags = [
    `<meta name="citation_title" content="${article.title}">`,
    ...article.authors.map((a) => `<meta name="citation_author" content="${a.full_name}">`),
    `<meta name="citation_doi" content="${article.doi}">`,
  ];
  return `<!DOCTYPE html>\n<html><head><title>${article.title}</title>\n${tags.join('\n')}\n</head><body></body></html>\n`;
}

export const site: PlatformSite = {
  platform: 'figshare',
  origins: ['https://figshare.com', 'https://api.figshare.com', 'https://ndownloader.figshare.com', 'https://doi.org'],

  serveDataset(server) {
    const body = figshareJson('waterbutler_account_project_article_8263811_dataset_public.test-bytes.json');
    const article = JSON.parse(body) as ArticleJson;
    server.route('/v2/articles/8263811', { body, headers: json });
    server.route('/10.6084/m9.figshare.8263811', { status: 302, headers: { Location: article.url_public_html } });
    server.route(new URL(article.url_public_html).pathname, {
      body: minimalLanding(article),
      headers: { 'Content-Type': 'text/html; charset=utf-8' },
    });
    for (const file of article.files) {
      server.route(new URL(file.download_url).pathname, {
        body: testBody(file.name),
        headers: { 'Content-Type': 'text/plain' },
      });
    }
    return {
      url: 'https://doi.org/10.6084/m9.figshare.8263811',
      platformId: '8263811',
      itemName: 'figshare.com-8263811-v3',
      paths: ['Dataset02.txt', 'Dataset01.txt', 'Dataset04.txt', 'Dataset03.txt'],
      status: 'success',
    };
  },

  serveNotFound(server) {
    // No recorded Figshare 404 body exists: this body is written by the test.
    server.route('/v2/articles/999999999', {
      status: 404,
      body: '{"message": "written by the test: no recorded figshare 404 body"}',
      headers: json,
    });
    return 'https://figshare.com/articles/dataset/missing/999999999';
  },

  serveChangedShape(server) {
    // The recorded smithsonian article with its file's size turned into a string.
    const body = figshareJson('figshare_article_10042703_smithsonian_v5.json').replace(
      '"name": "BayofPanama_Site1.zip",\n      "size": 19891019,',
      '"name": "BayofPanama_Site1.zip",\n      "size": "19891019",',
    );
    server.route('/v2/articles/10042703', { body, headers: json });
    return { url: 'https://smithsonian.figshare.com/articles/dataset/Bay_of_Panama/10042703', field: 'files.0.size' };
  },

  claims: [
    'https://figshare.com/articles/dataset/Dataset/8263811',
    'https://figshare.com/articles/dataset/Dataset/8263811/3',
    'https://figshare.com/articles/Dataset01_txt/8263811',
    'https://figshare.com/articles/8263811',
    'https://smithsonian.figshare.com/articles/dataset/Bay_of_Panama_Water_Quality_Monitoring_Project_Site_1_of_7/10042703/5',
    'https://api.figshare.com/v2/articles/10042703/versions/5',
    'https://doi.org/10.6084/m9.figshare.8263811',
    'https://doi.org/10.6084/m9.figshare.8263811.v3',
  ],
  rejects: [
    'https://ndownloader.figshare.com/articles/8263811/versions/3',
    'https://ndownloader.figshare.com/files/15460985',
    'https://figshare.com/',
    'https://figshare.com/search?q=water',
    'https://notfigshare.com/articles/dataset/x/8263811',
    'https://doi.org/10.25573/data.10042703.v5',
    'https://doi.org/10.6084/m9.figshare.%E0%A4%A',
    'https://zenodo.org/records/7078725',
    'https://doi.org/10.5281/zenodo.7078725',
    'https://doi.org/10.5061/dryad.6hdr7sr8z',
  ],
};
