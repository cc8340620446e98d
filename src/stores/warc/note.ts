// The per-ingest note: a `metadata` record holding the fileset result, beside what the ingest
// captured. It must never pass for a capture: its WARC-Target-URI is a URN, not the request URL,
// so no indexer (pywb's, jwarc's, OutbackCDX's) files it under an http URL that replay would serve.
import type { MetadataInput } from './writer.js';
import { WARC_FIELDS_TYPE, warcFieldsBlock } from './record.js';

export const NOTE_URI_PREFIX = 'urn:fileset-ingest:result:';
/** The `application/warc-fields` field that holds the result JSON. */
export const NOTE_RESULT_FIELD = 'fileset-result';

/** The metadata record for one ingest of `requestUrl` (JSON keeps the block on one line). */
export function resultNote(requestUrl: string, result: unknown, date: Date): MetadataInput {
  return {
    targetUri: `${NOTE_URI_PREFIX}${requestUrl}`,
    date,
    contentType: WARC_FIELDS_TYPE,
    body: warcFieldsBlock([[NOTE_RESULT_FIELD, JSON.stringify(result)]]),
  };
}

/** The result JSON in a note's block, or undefined when the block holds none. */
export function readNote(block: string): unknown {
  const prefix = `${NOTE_RESULT_FIELD}:`;
  const line = block.split('\r\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : JSON.parse(line.slice(prefix.length).trim());
}
