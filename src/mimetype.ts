// The mimetype of an archived file: the server's Content-Type unless it is generic, else magic bytes.

const GENERIC = new Set([
  'application/octet-stream',
  'binary/octet-stream',
  'application/download',
  'application/force-download',
  'application/x-download',
  'application/unknown',
]);

const MAGIC: Array<[bytes: number[], mimetype: string]> = [
  [[0x25, 0x50, 0x44, 0x46, 0x2d], 'application/pdf'],
  [[0x50, 0x4b, 0x03, 0x04], 'application/zip'],
  [[0x50, 0x4b, 0x05, 0x06], 'application/zip'],
  [[0x1f, 0x8b], 'application/gzip'],
  [[0x42, 0x5a, 0x68], 'application/x-bzip2'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'application/x-xz'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'application/zstd'],
  [[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], 'application/x-7z-compressed'],
  [[0x89, 0x50, 0x4e, 0x47], 'image/png'],
  [[0xff, 0xd8, 0xff], 'image/jpeg'],
  [[0x47, 0x49, 0x46, 0x38], 'image/gif'],
  [[0x49, 0x49, 0x2a, 0x00], 'image/tiff'],
  [[0x4d, 0x4d, 0x00, 0x2a], 'image/tiff'],
  [[0x89, 0x48, 0x44, 0x46], 'application/x-hdf5'],
  [[0x43, 0x44, 0x46, 0x01], 'application/x-netcdf'],
  [[0xd0, 0xcf, 0x11, 0xe0], 'application/x-ole-storage'],
];

/** The media type part of a Content-Type header, lower-cased, or null. */
export function mediaType(contentType: string | undefined | null): string | null {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type && /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : null;
}

export function isHtml(type: string | null): boolean {
  return type === 'text/html' || type === 'application/xhtml+xml';
}

/** Guesses a mimetype from the first bytes of a file. */
export function sniffMimetype(head: Buffer): string | null {
  for (const [bytes, mimetype] of MAGIC) {
    if (head.length >= bytes.length && bytes.every((b, i) => head[i] === b)) return mimetype;
  }
  const text = head.toString('utf8').trimStart().slice(0, 256).toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html')) return 'text/html';
  if (text.startsWith('<?xml')) return 'application/xml';
  if (head.length > 0 && looksLikeText(head)) return 'text/plain';
  return null;
}

/** The server's type unless it is generic (octet-stream and friends); else sniffed; else application/octet-stream. */
export function chooseMimetype(contentType: string | undefined | null, head: Buffer): string {
  const declared = mediaType(contentType);
  if (declared && !GENERIC.has(declared)) return declared;
  return sniffMimetype(head) ?? 'application/octet-stream';
}

function looksLikeText(head: Buffer): boolean {
  // Cut at the last complete UTF-8 sequence boundary is overkill here: allow a trailing partial byte.
  for (const byte of head) {
    if (byte === 0) return false;
    if (byte < 0x09 || (byte > 0x0d && byte < 0x20 && byte !== 0x1b)) return false;
  }
  return true;
}
