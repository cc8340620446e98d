import { describe, expect, it } from 'vitest';
import { ManifestEntrySchema } from '../../src/schemas/manifest.js';
import { IngestRequestSchema } from '../../src/schemas/request.js';
import {
  CdxSchema,
  DatasetFileResultSchema,
  FileMetaSchema,
  FilesetResultSchema,
  TerminalSchema,
} from '../../src/schemas/result.js';

const keys = (schema: { shape: Record<string, unknown> }) => Object.keys(schema.shape).sort();

describe('wire schemas use sandcrawler field names', () => {
  it('fileset result', () => {
    expect(keys(FilesetResultSchema)).toEqual(
      [
        'hit',
        'status',
        'request',
        'hops',
        'error_message',
        'terminal',
        'file_meta',
        'cdx',
        'revisit_cdx',
        'html_biblio',
        'platform_name',
        'platform_domain',
        'platform_id',
        'platform_base_url',
        'platform_bundle_url',
        // what fatcat's fileset importer reads beside them (captures in our WARCs)
        'web_base_url',
        'web_base_url_dt',
        'web_bundle_url',
        'web_bundle_url_dt',
        'archiveorg_item_name',
        'manifest',
        'file_count',
        'total_size',
        'ingest_strategy',
        'fileset_bundle',
        'fileset_file',
      ].sort(),
    );
    expect(keys(FilesetResultSchema.shape.fileset_bundle.unwrap().unwrap())).toEqual(
      ['file_meta', 'terminal', 'cdx', 'revisit_cdx', 'archiveorg_bundle_path'].sort(),
    );
  });

  it('manifest entry, file_meta, terminal, cdx, dataset-file result', () => {
    expect(keys(ManifestEntrySchema)).toEqual(
      [
        'path',
        'size',
        'md5',
        'sha1',
        'sha256',
        'mimetype',
        'extra',
        'status',
        'platform_url',
        'terminal_url',
        'terminal_dt',
      ].sort(),
    );
    expect(keys(FileMetaSchema)).toEqual(['size_bytes', 'sha1hex', 'sha256hex', 'md5hex', 'mimetype'].sort());
    expect(keys(TerminalSchema)).toEqual(
      ['terminal_url', 'terminal_dt', 'terminal_status_code', 'terminal_sha1hex'].sort(),
    );
    expect(keys(CdxSchema)).toEqual(
      [
        'surt',
        'datetime',
        'url',
        'mimetype',
        'status_code',
        'sha1b32',
        'sha1hex',
        'warc_path',
        'warc_offset',
        'warc_csize',
      ].sort(),
    );
    expect(keys(DatasetFileResultSchema)).toEqual(
      ['hit', 'status', 'request', 'file_meta', 'terminal', 'cdx', 'revisit_cdx'].sort(),
    );
  });

  it('request keeps unknown fields and requires base_url', () => {
    const request = {
      base_url: 'https://doi.org/10.5281/zenodo.1',
      ingest_type: 'dataset',
      ext_ids: { doi: '10.5281/zenodo.1' },
      custom: [1],
    };
    expect(IngestRequestSchema.parse(request)).toEqual(request);
    expect(IngestRequestSchema.safeParse({ ingest_type: 'dataset' }).success).toBe(false);
    expect(IngestRequestSchema.safeParse({ base_url: 'x', force_recrawl: 'yes' }).success).toBe(false);
  });
});
