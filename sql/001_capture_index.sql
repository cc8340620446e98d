-- 001: the capture index. One row per WARC record we wrote (response, revisit, resource, metadata):
-- answers "latest capture of URL", "first response with payload digest D", "latest capture of the
-- file with this sha1/md5/sha256", and exports CDXJ for pywb in SURT order. Same SQL on PGlite and
-- PostgreSQL.
--
-- url, surt and warc_path sort in byte order (COLLATE "C") whatever the database's locale: CDXJ
-- files must be byte-sorted for pywb's binary search, and byte comparison is also the cheapest.
-- Timestamps are WARC-Date as 14 digits (UTC), as CDX carries them.
-- Format checks are written "length(x) = n AND x !~ '[^...]'" rather than "x ~ '^[...]{n}$'":
-- PostgreSQL's regex engine expands {n} into n states; the {64} form measured ~3x slower per row.

CREATE TABLE IF NOT EXISTS capture (
  warc_path          text COLLATE "C" NOT NULL CHECK (warc_path <> ''),
  warc_offset        bigint NOT NULL CHECK (warc_offset >= 0),
  warc_csize         bigint NOT NULL CHECK (warc_csize > 0),
  url                text COLLATE "C" NOT NULL CHECK (url <> ''),
  -- a CDXJ line is "<surt> <datetime> <json>": a surt with white space would break the line
  surt               text COLLATE "C" NOT NULL CHECK (surt <> '' AND surt !~ '[[:space:]]'),
  datetime           text NOT NULL CHECK (length(datetime) = 14 AND datetime !~ '[^0-9]'),
  record_type        text NOT NULL CHECK (record_type IN ('response', 'revisit', 'resource', 'metadata')),
  status_code        integer CHECK (status_code BETWEEN 100 AND 599),
  mimetype           text CHECK (mimetype <> ''),
  -- WARC-Payload-Digest as base32 SHA-1, what CDX "digest" carries
  payload_sha1b32    text NOT NULL CHECK (length(payload_sha1b32) = 32 AND payload_sha1b32 !~ '[^A-Z2-7]'),
  -- hashes and size of the decoded file (content-encoding removed); null for non-file records
  file_mimetype      text CHECK (file_mimetype <> ''),
  sha1hex            text CHECK (length(sha1hex) = 40 AND sha1hex !~ '[^0-9a-f]'),
  md5hex             text CHECK (length(md5hex) = 32 AND md5hex !~ '[^0-9a-f]'),
  sha256hex          text CHECK (length(sha256hex) = 64 AND sha256hex !~ '[^0-9a-f]'),
  size_bytes         bigint CHECK (size_bytes >= 0),
  -- revisits: the original capture (WARC-Refers-To-Target-URI, WARC-Refers-To-Date)
  refers_to_url      text CHECK (refers_to_url <> ''),
  refers_to_datetime text CHECK (length(refers_to_datetime) = 14 AND refers_to_datetime !~ '[^0-9]'),
  created            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (warc_path, warc_offset),
  CONSTRAINT capture_refers_to_pair CHECK ((refers_to_url IS NULL) = (refers_to_datetime IS NULL))
);

-- latest capture of a URL
CREATE INDEX IF NOT EXISTS capture_url_datetime_idx ON capture (url, datetime DESC);
-- the original a revisit refers to: earliest response with this payload digest
CREATE INDEX IF NOT EXISTS capture_payload_datetime_idx ON capture (payload_sha1b32, datetime);
-- the latest capture of a file by a hash of its decoded bytes, whichever the platform publishes
-- (only file records have them)
CREATE INDEX IF NOT EXISTS capture_sha1hex_datetime_idx ON capture (sha1hex, datetime DESC)
  WHERE sha1hex IS NOT NULL;
CREATE INDEX IF NOT EXISTS capture_md5hex_datetime_idx ON capture (md5hex, datetime DESC)
  WHERE md5hex IS NOT NULL;
CREATE INDEX IF NOT EXISTS capture_sha256hex_datetime_idx ON capture (sha256hex, datetime DESC)
  WHERE sha256hex IS NOT NULL;
-- CDXJ export in SURT order, paged by keyset: the full key makes each page one index range
CREATE INDEX IF NOT EXISTS capture_surt_datetime_idx ON capture (surt, datetime, warc_path, warc_offset);
