// html_biblio: bibliographic metadata from a landing page's citation_*, Dublin Core and og: meta tags.
import * as cheerio from 'cheerio';

export type HtmlBiblio = Record<string, string | string[] | number>;

/** Meta names, first match wins, for each single-valued biblio field. */
const SINGLE_FIELDS: Record<string, string[]> = {
  title: ['citation_title', 'dc.title', 'dcterms.title', 'og:title'],
  release_date: [
    'citation_publication_date',
    'citation_date',
    'citation_online_date',
    'dc.date',
    'dcterms.issued',
    'dcterms.date',
  ],
  doi: ['citation_doi', 'dc.identifier', 'prism.doi', 'bepress_citation_doi'],
  publisher: ['citation_publisher', 'dc.publisher', 'dcterms.publisher', 'og:site_name'],
  container_name: ['citation_journal_title', 'citation_conference_title', 'citation_inbook_title'],
  container_issn: ['citation_issn', 'prism.issn'],
  volume: ['citation_volume', 'prism.volume'],
  issue: ['citation_issue', 'prism.number'],
  first_page: ['citation_firstpage'],
  last_page: ['citation_lastpage'],
  license: ['dc.rights', 'dcterms.license', 'dcterms.rights'],
  lang: ['citation_language', 'dc.language', 'dcterms.language'],
  pdf_fulltext_url: ['citation_pdf_url', 'bepress_citation_pdf_url'],
  html_fulltext_url: ['citation_fulltext_html_url', 'citation_abstract_html_url'],
  xml_fulltext_url: ['citation_xml_url'],
  description: ['citation_abstract', 'dc.description', 'dcterms.abstract', 'og:description', 'description'],
};

const LIST_FIELDS: Record<string, string[]> = {
  contrib_names: ['citation_author', 'dc.creator', 'dcterms.creator', 'bepress_citation_author'],
  keywords: ['citation_keywords', 'dc.subject', 'keywords'],
};

const DOI_IN_TEXT = /10\.\d{4,9}\/[^\s"'<>]+/;

export function extractBiblio(html: string, baseUrl: string): HtmlBiblio | null {
  const $ = cheerio.load(html);
  const meta = new Map<string, string[]>();
  $('meta').each((_, el) => {
    const name = ($(el).attr('name') ?? $(el).attr('property') ?? '').trim().toLowerCase();
    const content = $(el).attr('content')?.trim();
    if (!name || !content) return;
    const values = meta.get(name) ?? [];
    values.push(content);
    meta.set(name, values);
  });

  const biblio: HtmlBiblio = {};
  for (const [field, names] of Object.entries(SINGLE_FIELDS)) {
    const value = names.map((n) => meta.get(n)?.[0]).find((v) => v !== undefined);
    if (value !== undefined) biblio[field] = value;
  }
  for (const [field, names] of Object.entries(LIST_FIELDS)) {
    const values = names.flatMap((n) => meta.get(n) ?? []);
    if (values.length) biblio[field] = field === 'keywords' ? splitKeywords(values) : values;
  }

  if (typeof biblio.doi === 'string') {
    const doi = DOI_IN_TEXT.exec(biblio.doi)?.[0];
    if (doi) biblio.doi = doi.toLowerCase();
    else delete biblio.doi;
  }
  const year = typeof biblio.release_date === 'string' ? /^(\d{4})/.exec(biblio.release_date)?.[1] : undefined;
  if (year) biblio.release_year = Number(year);
  for (const field of ['pdf_fulltext_url', 'html_fulltext_url', 'xml_fulltext_url'] as const) {
    const value = biblio[field];
    if (typeof value === 'string') {
      try {
        biblio[field] = new URL(value, baseUrl).toString();
      } catch {
        delete biblio[field];
      }
    }
  }
  if (typeof biblio.description === 'string' && biblio.description.length > 1000) {
    biblio.description = `${biblio.description.slice(0, 1000)}…`;
  }
  return Object.keys(biblio).length ? biblio : null;
}

function splitKeywords(values: string[]): string[] {
  return [
    ...new Set(
      values
        .flatMap((v) => v.split(/[;,]/))
        .map((k) => k.trim())
        .filter(Boolean),
    ),
  ];
}
