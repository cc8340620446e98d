// Test helper: reads WARC files back with warcio.js (webrecorder's reader, an implementation
// independent of our writer): every record's headers, block, and offset in the file.
import { createReadStream } from 'node:fs';
import { WARCParser } from 'warcio';

export interface ReadRecord {
  /** Offset of the record's gzip member in the file. */
  offset: number;
  type: string;
  headers: Map<string, string>;
  block: Buffer;
}

export async function readWarc(path: string): Promise<ReadRecord[]> {
  const parser = new WARCParser(createReadStream(path), { parseHttp: false });
  const records: ReadRecord[] = [];
  for await (const record of parser) {
    const block = Buffer.from(await record.readFully(false));
    const headers = new Map<string, string>();
    for (const [name, value] of record.warcHeaders.headers) headers.set(name.toLowerCase(), value);
    records.push({ offset: parser.offset, type: record.warcType, headers, block });
  }
  return records;
}
