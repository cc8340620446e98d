import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractBiblio } from '../../src/capture/biblio.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

describe('extractBiblio', () => {
  it('reads citation_* tags of a recorded Zenodo landing page (record 8347772, 2023 UI)', () => {
    const html = readFileSync(
      join(FIXTURES, 'landing_html', 'zenodo_record_8347772_legacy_ui_2023-09-25.html'),
      'utf8',
    );
    const biblio = extractBiblio(html, 'https://zenodo.org/record/8347772')!;
    expect(biblio.doi).toBe('10.5281/zenodo.8347772');
    expect(biblio.title).toEqual(expect.any(String));
    expect((biblio.title as string).length).toBeGreaterThan(5);
    expect(biblio.contrib_names).toHaveLength(2);
    expect(biblio.release_year).toBeGreaterThanOrEqual(2023);
    expect(biblio.pdf_fulltext_url).toBeUndefined();
    expect(biblio.html_fulltext_url).toMatch(/^https:\/\/zenodo\.org\//);
  });

  it('falls back to Dublin Core and resolves relative URLs', () => {
    const html = `<html><head>
      <meta name="DC.title" content="A dataset">
      <meta name="DC.creator" content="Doe, Jane"><meta name="DC.creator" content="Roe, Richard">
      <meta name="DC.identifier" content="https://doi.org/10.1234/ABC.5">
      <meta name="citation_pdf_url" content="/files/paper.pdf">
      <meta name="keywords" content="ecology; bats, lactation">
    </head></html>`;
    expect(extractBiblio(html, 'https://repo.example.org/record/9')).toEqual({
      title: 'A dataset',
      contrib_names: ['Doe, Jane', 'Roe, Richard'],
      doi: '10.1234/abc.5',
      pdf_fulltext_url: 'https://repo.example.org/files/paper.pdf',
      keywords: ['ecology', 'bats', 'lactation'],
    });
  });

  it('returns null for a page without metadata', () => {
    expect(extractBiblio('<html><body>hello</body></html>', 'https://example.org/')).toBeNull();
  });
});
