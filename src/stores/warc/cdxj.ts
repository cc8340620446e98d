// CDXJ lines as pywb reads them: "<surt> <datetime> <json>", json keys url, mime, status, digest,
// length, offset, filename (numbers as strings); files sorted bytewise so pywb can binary-search.
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

/** One line without its newline. `filename` defaults to the stored WARC path. */
export function cdxjLine(capture: CdxjFields, filename: string = capture.warcPath): string {
  const mime = capture.recordType === 'revisit' ? 'warc/revisit' : capture.mimetype;
  const json = {
    url: capture.url,
    ...(mime !== null ? { mime } : {}),
    ...(capture.statusCode !== null ? { status: String(capture.statusCode) } : {}),
    digest: `sha1:${capture.payloadSha1b32}`,
    length: String(capture.warcCsize),
    offset: String(capture.warcOffset),
    filename,
  };
  return `${capture.surt} ${capture.datetime} ${JSON.stringify(json)}`;
}
