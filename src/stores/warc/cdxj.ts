// CDXJ lines as pywb's own indexer writes them (pywb/indexer/archiveindexer.py, cdxindexer.py), so
// a collection can mix our export with pywb's: "<surt> <datetime> <json>", json keys url, mime,
// status, digest, length, offset, filename (numbers as strings); `digest` the bare base32 SHA-1,
// `mime` "warc/revisit" for revisits and "unk" when the response declared none, `status` only for
// responses. Files are sorted bytewise so pywb can binary-search them.
import type { Capture } from './capture.js';

export type CdxjFields = Pick<
  Capture,
  | 'surt'
  | 'datetime'
  | 'url'
  | 'recordType'
  | 'mimetype'
  | 'statusCode'
  | 'payloadSha1b32'
  | 'warcCsize'
  | 'warcOffset'
  | 'warcPath'
>;

/** The CDX `mime` of a record, as pywb and Wayback give it. */
export function cdxMime(capture: Pick<Capture, 'recordType' | 'mimetype'>): string {
  if (capture.recordType === 'revisit') return 'warc/revisit';
  return capture.mimetype ?? 'unk';
}

/** One line without its newline. `filename` defaults to the stored WARC path. */
export function cdxjLine(capture: CdxjFields, filename: string = capture.warcPath): string {
  const status = capture.recordType === 'response' && capture.statusCode !== null ? String(capture.statusCode) : null;
  const json = {
    url: capture.url,
    mime: cdxMime(capture),
    ...(status !== null ? { status } : {}),
    digest: capture.payloadSha1b32,
    length: String(capture.warcCsize),
    offset: String(capture.warcOffset),
    filename,
  };
  return `${capture.surt} ${capture.datetime} ${JSON.stringify(json)}`;
}
