import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLink, landingSignals, parseLinkHeader } from '../../src/platforms/detect.js';
import type { LandingPage } from '../../src/platforms/types.js';
import { FIXTURES } from '../support/zenodo-site.js';

const html = (name: string) => readFileSync(join(FIXTURES, 'landing_html', name), 'utf8');
const page = (url: string, extra: Partial<LandingPage> = {}): LandingPage => ({ url, hops: [url], ...extra });

describe('parseLinkHeader', () => {
  it('reads several links, several relations, quoted and bare parameters, relative targets', () => {
    const header =
      '<https://zenodo.org/api/records/1> ; rel="describedby" ; type="application/vnd.inveniordm.v1+json" , ' +
      '</files/a,b.csv>; rel="item alternate"; type=text/csv, <https://doi.org/10.5281/zenodo.1>; rel=cite-as';
    expect(parseLinkHeader(header, 'https://zenodo.org/records/1')).toEqual([
      { href: 'https://zenodo.org/api/records/1', rel: 'describedby', type: 'application/vnd.inveniordm.v1+json' },
      { href: 'https://zenodo.org/files/a,b.csv', rel: 'item', type: 'text/csv' },
      { href: 'https://zenodo.org/files/a,b.csv', rel: 'alternate', type: 'text/csv' },
      { href: 'https://doi.org/10.5281/zenodo.1', rel: 'cite-as' },
    ]);
  });

  it('skips what is not a link: no target, a non-http target, garbage', () => {
    expect(parseLinkHeader('rel="item", <javascript:alert(1)>; rel=item, <<<>>>, ;;;', 'https://x.org/')).toEqual([]);
  });
});

describe('landingSignals', () => {
  it('finds the DOI in the JSON-LD of a recorded Dryad landing page (which has no citation_* tags)', () => {
    const signals = landingSignals(
      page('https://datadryad.org/dataset/doi:10.5061/dryad.6hdr7sr8z', {
        html: html('dryad_landing_doi_10.5061_dryad.6hdr7sr8z_2026-07-24.html'),
      }),
    );
    expect(signals.jsonLd).toHaveLength(1);
    expect(signals.doi).toBe('10.5061/dryad.6hdr7sr8z');
  });

  it('finds citation_doi on a recorded Zenodo landing page', () => {
    const signals = landingSignals(
      page('https://zenodo.org/record/8347772', { html: html('zenodo_record_8347772_legacy_ui_2023-09-25.html') }),
    );
    expect(signals.doi).toBe('10.5281/zenodo.8347772');
  });

  it('collects generators, <link> elements and Link headers, headers first; keeps the DOI as written', () => {
    const landing = page('https://data.example.edu/dataset.xhtml?persistentId=doi:10.1234/ABC', {
      headers: [['Link', '<https://doi.org/10.1234/ABC> ; rel="cite-as"']],
      html: `<html><head><meta name="generator" content="Dataverse 6.2">
        <link rel="describedby" type="application/ld+json" href="/api/datasets/export?exporter=schema.org&amp;persistentId=doi:10.1234/ABC">
        <script type="application/ld+json">{ broken</script></head></html>`,
    });
    const signals = landingSignals(landing);
    expect(signals.generators).toEqual(['Dataverse 6.2']);
    expect(signals.links.map((l) => l.rel)).toEqual(['cite-as', 'describedby']);
    expect(findLink(signals, 'describedby', /ld\+json/)?.href).toBe(
      'https://data.example.edu/api/datasets/export?exporter=schema.org&persistentId=doi:10.1234/ABC',
    );
    expect(signals.jsonLd).toEqual([]);
    expect(signals.doi).toBe('10.1234/ABC');
    expect(landingSignals(landing)).toBe(signals); // computed once per page
  });

  it('a page that could not be used says nothing', () => {
    const failed = page('https://x.org/', {
      html: '<meta name="generator" content="Dataverse">',
      error: new Error('HTTP 503'),
    });
    expect(landingSignals(failed)).toEqual({ generators: [], links: [], jsonLd: [] });
    expect(landingSignals(null).links).toEqual([]);
  });
});
