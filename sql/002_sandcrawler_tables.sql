-- 002: sandcrawler's ingest tables, so its tools and queries work on what we persist:
-- ingest_request, ingest_file_result, ingest_fileset_platform, cdx, file_meta. Column names, types
-- and primary keys are sandcrawler's (sql/migrations/2019-12-19-060141_init and the fileset
-- proposal); the checks are the ones sandcrawler meant to have:
--   * sandcrawler checked ingest_file_result.status against octet_length(terminal_url), a typo;
--     here status is checked itself;
--   * sandcrawler only checked that dates were 14 bytes long and hashes n bytes long; here they
--     must also be digits and lowercase hex, the only forms its readers understand.
-- Every constraint is named (<table>_<column>_check) so a rejected row's log names the rule it broke.
-- Format checks use "octet_length(x) = n AND x !~ '[^...]'" rather than "x ~ '^[...]{n}$'" for the
-- reason 001 gives (the {n} form is several times slower per row).
-- Idempotent: running this file again changes nothing.

CREATE TABLE IF NOT EXISTS ingest_request (
  link_source           text NOT NULL,
  link_source_id        text NOT NULL,
  ingest_type           text NOT NULL,
  base_url              text NOT NULL,
  ingest_request_source text,
  created               timestamptz NOT NULL DEFAULT now(),
  release_stage         text,
  -- what the key columns do not hold: release_ident, ext_ids, edit_extra, rel (null when none)
  request               jsonb,
  CONSTRAINT ingest_request_pkey PRIMARY KEY (link_source, link_source_id, ingest_type, base_url),
  CONSTRAINT ingest_request_link_source_check CHECK (octet_length(link_source) >= 1),
  CONSTRAINT ingest_request_link_source_id_check CHECK (octet_length(link_source_id) >= 1),
  CONSTRAINT ingest_request_ingest_type_check CHECK (octet_length(ingest_type) >= 1),
  CONSTRAINT ingest_request_base_url_check CHECK (octet_length(base_url) >= 1),
  CONSTRAINT ingest_request_ingest_request_source_check CHECK (octet_length(ingest_request_source) >= 1),
  CONSTRAINT ingest_request_release_stage_check CHECK (octet_length(release_stage) >= 1),
  CONSTRAINT ingest_request_request_check CHECK (jsonb_typeof(request) = 'object')
);
CREATE INDEX IF NOT EXISTS ingest_request_base_url_idx ON ingest_request (base_url, ingest_type);

-- One row per (ingest_type, base_url): the latest result's status and landing page terminal.
CREATE TABLE IF NOT EXISTS ingest_file_result (
  ingest_type          text NOT NULL,
  base_url             text NOT NULL,
  updated              timestamptz NOT NULL DEFAULT now(),
  hit                  boolean NOT NULL,
  status               text,
  terminal_url         text,
  terminal_dt          text,
  terminal_status_code integer,
  terminal_sha1hex     text,
  CONSTRAINT ingest_file_result_pkey PRIMARY KEY (ingest_type, base_url),
  CONSTRAINT ingest_file_result_ingest_type_check CHECK (octet_length(ingest_type) >= 1),
  CONSTRAINT ingest_file_result_base_url_check CHECK (octet_length(base_url) >= 1),
  CONSTRAINT ingest_file_result_status_check CHECK (octet_length(status) >= 1),
  CONSTRAINT ingest_file_result_terminal_url_check CHECK (octet_length(terminal_url) >= 1),
  CONSTRAINT ingest_file_result_terminal_dt_check
    CHECK (octet_length(terminal_dt) = 14 AND terminal_dt !~ '[^0-9]'),
  CONSTRAINT ingest_file_result_terminal_sha1hex_check
    CHECK (octet_length(terminal_sha1hex) = 40 AND terminal_sha1hex !~ '[^0-9a-f]')
);
CREATE INDEX IF NOT EXISTS ingest_file_result_terminal_url_idx ON ingest_file_result (terminal_url);
CREATE INDEX IF NOT EXISTS ingest_file_result_terminal_sha1hex_idx ON ingest_file_result (terminal_sha1hex);

-- Complements ingest_file_result for datasets whose platform was identified (sandcrawler writes no
-- row without a platform_name): the platform, the strategy, the counts and the whole manifest.
CREATE TABLE IF NOT EXISTS ingest_fileset_platform (
  ingest_type                 text NOT NULL,
  base_url                    text NOT NULL,
  updated                     timestamptz NOT NULL DEFAULT now(),
  hit                         boolean NOT NULL,
  status                      text,
  platform_name               text NOT NULL,
  platform_domain             text NOT NULL,
  platform_id                 text NOT NULL,
  ingest_strategy             text,
  total_size                  bigint,
  file_count                  bigint,
  archiveorg_item_name        text,
  archiveorg_item_bundle_path text,
  web_bundle_url              text,
  web_bundle_dt               text,
  -- the result's manifest entries as they are on the wire (path, size, hashes, status, ...)
  manifest                    jsonb,
  CONSTRAINT ingest_fileset_platform_pkey PRIMARY KEY (ingest_type, base_url),
  CONSTRAINT ingest_fileset_platform_ingest_type_check CHECK (octet_length(ingest_type) >= 1),
  CONSTRAINT ingest_fileset_platform_base_url_check CHECK (octet_length(base_url) >= 1),
  CONSTRAINT ingest_fileset_platform_status_check CHECK (octet_length(status) >= 1),
  CONSTRAINT ingest_fileset_platform_platform_name_check CHECK (octet_length(platform_name) >= 1),
  CONSTRAINT ingest_fileset_platform_platform_domain_check CHECK (octet_length(platform_domain) >= 1),
  CONSTRAINT ingest_fileset_platform_platform_id_check CHECK (octet_length(platform_id) >= 1),
  CONSTRAINT ingest_fileset_platform_ingest_strategy_check CHECK (octet_length(ingest_strategy) >= 1),
  CONSTRAINT ingest_fileset_platform_total_size_check CHECK (total_size >= 0),
  CONSTRAINT ingest_fileset_platform_file_count_check CHECK (file_count >= 0),
  CONSTRAINT ingest_fileset_platform_archiveorg_item_name_check CHECK (octet_length(archiveorg_item_name) >= 1),
  CONSTRAINT ingest_fileset_platform_archiveorg_item_bundle_path_check
    CHECK (octet_length(archiveorg_item_bundle_path) >= 1),
  CONSTRAINT ingest_fileset_platform_web_bundle_url_check CHECK (octet_length(web_bundle_url) >= 1),
  CONSTRAINT ingest_fileset_platform_web_bundle_dt_check
    CHECK (octet_length(web_bundle_dt) = 14 AND web_bundle_dt !~ '[^0-9]'),
  CONSTRAINT ingest_fileset_platform_manifest_check CHECK (jsonb_typeof(manifest) = 'array')
);
CREATE INDEX IF NOT EXISTS ingest_fileset_platform_name_domain_id_idx
  ON ingest_fileset_platform (platform_name, platform_domain, platform_id);

-- One row per web capture (url, 14-digit UTC datetime). sha1hex is the WARC payload digest in hex,
-- as sandcrawler's persist path stores it; cdx_sha1hex stays for sandcrawler's schema.
CREATE TABLE IF NOT EXISTS cdx (
  url         text NOT NULL,
  datetime    text NOT NULL,
  sha1hex     text NOT NULL,
  cdx_sha1hex text,
  mimetype    text,
  warc_path   text,
  warc_csize  bigint,
  warc_offset bigint,
  row_created timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT cdx_pkey PRIMARY KEY (url, datetime),
  CONSTRAINT cdx_url_check CHECK (octet_length(url) >= 1),
  CONSTRAINT cdx_datetime_check CHECK (octet_length(datetime) = 14 AND datetime !~ '[^0-9]'),
  CONSTRAINT cdx_sha1hex_check CHECK (octet_length(sha1hex) = 40 AND sha1hex !~ '[^0-9a-f]'),
  CONSTRAINT cdx_cdx_sha1hex_check CHECK (octet_length(cdx_sha1hex) = 40 AND cdx_sha1hex !~ '[^0-9a-f]'),
  CONSTRAINT cdx_mimetype_check CHECK (octet_length(mimetype) >= 1),
  CONSTRAINT cdx_warc_path_check CHECK (octet_length(warc_path) >= 1),
  CONSTRAINT cdx_warc_csize_check CHECK (warc_csize > 0),
  CONSTRAINT cdx_warc_offset_check CHECK (warc_offset >= 0)
);
CREATE INDEX IF NOT EXISTS cdx_sha1hex_idx ON cdx (sha1hex);

-- One row per archived file, by the sha1 of its bytes. The md5 and sha256 indexes let a later
-- ingest find a file by whichever hash its platform publishes and skip downloading it again.
CREATE TABLE IF NOT EXISTS file_meta (
  sha1hex    text NOT NULL,
  sha256hex  text,
  md5hex     text,
  size_bytes bigint,
  mimetype   text,
  CONSTRAINT file_meta_pkey PRIMARY KEY (sha1hex),
  CONSTRAINT file_meta_sha1hex_check CHECK (octet_length(sha1hex) = 40 AND sha1hex !~ '[^0-9a-f]'),
  CONSTRAINT file_meta_sha256hex_check CHECK (octet_length(sha256hex) = 64 AND sha256hex !~ '[^0-9a-f]'),
  CONSTRAINT file_meta_md5hex_check CHECK (octet_length(md5hex) = 32 AND md5hex !~ '[^0-9a-f]'),
  CONSTRAINT file_meta_size_bytes_check CHECK (size_bytes >= 0),
  CONSTRAINT file_meta_mimetype_check CHECK (octet_length(mimetype) >= 1)
);
CREATE INDEX IF NOT EXISTS file_meta_md5hex_idx ON file_meta (md5hex);
CREATE INDEX IF NOT EXISTS file_meta_sha256hex_idx ON file_meta (sha256hex);
