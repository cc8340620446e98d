// archive.org's item conventions, shared by the archive.org platform (reading items) and the ias3
// item store (writing them): the identifier rule, the /metadata answer, the files archive.org
// writes about an item itself, and its format names.
import { z } from 'zod';

const IDENTIFIER_BODY = '[A-Za-z0-9][A-Za-z0-9._-]{0,99}';
/** An identifier: a letter or digit, then letters, digits, '.', '-', '_'; at most 100 characters. */
export const IDENTIFIER = new RegExp(`^${IDENTIFIER_BODY}$`);
/** The identifier in a `/details/<id>`, `/download/<id>[/<file>]` or `/metadata/<id>` path. */
export const ITEM_PATH = new RegExp(`^/(?:details|download|metadata)/(${IDENTIFIER_BODY})(?:/|$)`);

const Text = z.union([z.string(), z.array(z.string())]);
/** Sizes and times are decimal strings in this API; numbers are accepted too. */
const Numeric = z.union([z.string(), z.number()]);

// GET https://archive.org/metadata/<identifier>: only the fields we read. An identifier that
// does not exist answers `{}`, which callers check before parsing.
export const ArchiveFileSchema = z.object({
  name: z.string(),
  source: z.string().optional(),
  size: Numeric.optional(),
  mtime: Numeric.optional(),
  md5: z.string().optional(),
  sha1: z.string().optional(),
  crc32: z.string().optional(),
  format: z.string().optional(),
  private: z.union([z.string(), z.boolean()]).optional(),
  /** File-level metadata the ias3 store sends with each upload (`x-archive-filemeta-fileset--mimetype`). */
  fileset_mimetype: z.string().optional(),
});
export type ArchiveFile = z.infer<typeof ArchiveFileSchema>;

export const ArchiveItemSchema = z.object({
  is_collection: z.boolean().optional(),
  metadata: z.looseObject({
    identifier: z.string(),
    mediatype: z.string().optional(),
    title: Text.optional(),
    creator: Text.optional(),
    date: Text.optional(),
    collection: Text.optional(),
    licenseurl: Text.optional(),
  }),
  files: z.array(ArchiveFileSchema),
});
export type ArchiveItem = z.infer<typeof ArchiveItemSchema>;

/** Files archive.org writes about the item itself, named `<identifier>` + suffix, and its thumbnail. */
const SYSTEM_SUFFIXES = [
  '_meta.xml',
  '_files.xml',
  '_meta.sqlite',
  '_reviews.xml',
  '_archive.torrent',
  '_itemimage.jpg',
];
const SYSTEM_NAMES = new Set(['__ia_thumb.jpg']);
/** Formats archive.org gives its own bookkeeping and display files, even when `source` is "original". */
const SYSTEM_FORMATS = new Set([
  'metadata',
  'archive bittorrent',
  'item tile',
  'item image',
  'collection header',
  'jpeg thumb',
]);

/** A name archive.org takes for its own files in this item (never an uploader's file). */
export function isSystemName(identifier: string, name: string): boolean {
  const lower = name.toLowerCase();
  const id = identifier.toLowerCase();
  return SYSTEM_NAMES.has(lower) || SYSTEM_SUFFIXES.some((suffix) => lower === id + suffix);
}

/** A format archive.org gives its own bookkeeping and display files. */
export function isSystemFormat(format: string | undefined): boolean {
  return format !== undefined && SYSTEM_FORMATS.has(format.trim().toLowerCase());
}

/** archive.org format names (lower-cased) → mimetype; anything else is null, never an error. */
const FORMAT_MIMETYPES: Record<string, string> = {
  text: 'text/plain',
  json: 'application/json',
  html: 'text/html',
  xml: 'application/xml',
  'comma-separated values': 'text/csv',
  'tab-separated values': 'text/tab-separated-values',
  zip: 'application/zip',
  gzip: 'application/gzip',
  bzip2: 'application/x-bzip2',
  tar: 'application/x-tar',
  rar: 'application/vnd.rar',
  '7z': 'application/x-7z-compressed',
  'iso image': 'application/x-iso9660-image',
  pdf: 'application/pdf',
  'text pdf': 'application/pdf',
  epub: 'application/epub+zip',
  'microsoft excel': 'application/vnd.ms-excel',
  jpeg: 'image/jpeg',
  'jpeg 2000': 'image/jp2',
  png: 'image/png',
  gif: 'image/gif',
  'animated gif': 'image/gif',
  tiff: 'image/tiff',
  mpeg4: 'video/mp4',
  'h.264': 'video/mp4',
  mpeg2: 'video/mpeg',
  'ogg video': 'video/ogg',
  webm: 'video/webm',
  'vbr mp3': 'audio/mpeg',
  '128kbps mp3': 'audio/mpeg',
  '64kbps mp3': 'audio/mpeg',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  'ogg vorbis': 'audio/ogg',
  wave: 'audio/wav',
};

export function formatMimetype(format: string | undefined): string | null {
  return format === undefined ? null : (FORMAT_MIMETYPES[format.trim().toLowerCase()] ?? null);
}

/** `/download/<identifier>/<path>`, each path segment percent-encoded. */
export function downloadPath(identifier: string, path: string): string {
  return `/download/${encodeURIComponent(identifier)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}
