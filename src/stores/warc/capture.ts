// One row of the capture index: a WARC record we wrote, where it lives and what it holds.

export interface Capture {
  url: string;
  surt: string;
  datetime: string; // 14 digits UTC
  recordType: 'response' | 'revisit' | 'resource' | 'metadata';
  statusCode: number | null;
  mimetype: string | null; // as the server declared it (CDX semantics)
  payloadSha1b32: string;
  fileMimetype: string | null; // the decoded file's resolved type (file_meta.mimetype)
  sha1hex: string | null; // hashes and size of the decoded file; null for non-file records
  md5hex: string | null;
  sha256hex: string | null;
  sizeBytes: number | null;
  warcPath: string;
  warcOffset: number;
  warcCsize: number;
  refersToUrl: string | null; // revisits: the original capture
  refersToDatetime: string | null;
  recordId: string | null; // WARC-Record-ID, '<urn:uuid:…>' (null on rows indexed before it was kept)
  warcDate: string | null; // WARC-Date exactly as written (milliseconds kept)
}
