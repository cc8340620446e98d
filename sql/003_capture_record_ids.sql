-- 003: what a revisit record must repeat of the original it points to: the original's
-- WARC-Record-ID (WARC-Refers-To) and its exact WARC-Date (WARC-Refers-To-Date), milliseconds
-- included when it had them; the 14-digit datetime of 001 drops them. Null on rows written before
-- this migration: a revisit of such an original then carries its datetime and no WARC-Refers-To.
-- Format checks in the form 001 explains. Idempotent: running this file again changes nothing.

ALTER TABLE capture ADD COLUMN IF NOT EXISTS record_id text
  CONSTRAINT capture_record_id_check CHECK (record_id LIKE '<%>' AND record_id !~ '[[:space:]]');
ALTER TABLE capture ADD COLUMN IF NOT EXISTS warc_date text
  CONSTRAINT capture_warc_date_check CHECK (length(warc_date) BETWEEN 20 AND 30 AND warc_date LIKE '____-__-__T__:__:__%Z'
    AND warc_date !~ '[^0-9TZ:.-]');
