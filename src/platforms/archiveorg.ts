// archive.org items: /details/, /download/ and /metadata/ URLs, read through the metadata API. An
// item is already in the archive, so nothing is copied: the result points at archive.org's copy.
import { z } from 'zod';
import { PlatformError, PlatformNotFoundError, PlatformRestrictedError, PlatformScopeError } from '../errors.js';
import { expectOk, getApi, parseApi } from './api.js';
import type { LandingPage, PlatformContext, PlatformFile, PlatformHelper, PlatformItem, PlatformRequest } from './types.js';

const ORIGIN = 'https://archive.org';
// web.archive.org (Wayback captures) is deliberately absent: replays are not datasets.
const HOSTS = new Set(['archive.org', 'www.archive.org']);
/** Identifiers: a letter or digit, then letters, digits, '.', '-', '_'; at most 100 characters. */
const ITEM_PATH = /^\/(?:details|download|metadata)\/([A-Za-z0-9][A-Za-z0-9._-]{0,99})(?:\/|$)/;

const Text = z.union([z.string(), z.array(z.string())]);
/** Sizes and times are decimal strings in this API; numbers are accepted too. */
const Numeric = z.union([z.string(), z.number()]);

// GET https://archive.org/metadata/<identifier>: only the fields we read.
const ArchiveFile = z.object({
  name: z.string(),
  source: z.string().optional(),
  size: Numeric.optional(),
  mtime: Numeric.optional(),
  md5: z.string().optional(),
  sha1: z.string().optional(),
  crc32: z.string().optional(),
  format: z.string().optional(),
  private: z.union([z.string(), z.boolean()]).optional(),
});
type ArchiveFile = z.infer<typeof ArchiveFile>;

const ArchiveItem = z.object({
  is_collection: z.boolean().optional(),
  metadata: z.object({
    identifier: z.string(),
    mediatype: z.string().optional(),
    title: Text.optional(),
    creator: Text.optional(),
    date: Text.optional(),
    collection: Text.optional(),
    licenseurl: Text.optional(),
  }),
  files: z.array(ArchiveFile),
});
type ArchiveItem = z.infer<typeof ArchiveItem>;

/** Files archive.org writes about the item itself (`<identifier>` + suffix), not the uploader's data. */
const SYSTEM_SUFFIXES = ['_meta.xml', '_files.xml', '_meta.sqlite', '_reviews.xml', '_archive.torrent', '_itemimage.jpg'];
const SYSTEM_NAMES = new Set(['__ia_thumb.jpg']);
/** Formats archive.org gives its own bookkeeping and display files, even when `source` is "original". */
const SYSTEM_FORMATS = new Set(['metadata', 'archive bittorrent', 'item tile', 'item image', 'collection header', 'jpeg thumb']);

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

/** The item identifier a URL names, if it is an archive.org item URL (any file path names the whole item). */
export function archiveorgIdentifier(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (!HOSTS.has(parsed.hostname) || !/^https?:$/.test(parsed.protocol)) return null;
  return ITEM_PATH.exec(parsed.pathname)?.[1] ?? null;
}

function identifierOf(request: PlatformRequest, landing: LandingPage | null): string | null {
  return archiveorgIdentifier(request.url) ?? (landing?.capture ? archiveorgIdentifier(landing.capture.url) : null);
}

export function formatMimetype(format: string | undefined): string | null {
  return format === undefined ? null : (FORMAT_MIMETYPES[format.trim().toLowerCase()] ?? null);
}

/** `https://archive.org/download/<item>/<path>?cnt=0`; `cnt=0` keeps our fetch out of the download counts. */
export function downloadUrl(identifier: string, path: string): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `${ORIGIN}/download/${encodeURIComponent(identifier)}/${encoded}?cnt=0`;
}

function isSystemFile(file: ArchiveFile, identifier: string): boolean {
  const name = file.name.toLowerCase();
  const id = identifier.toLowerCase();
  if (SYSTEM_NAMES.has(name) || SYSTEM_SUFFIXES.some((suffix) => name === id + suffix)) return true;
  return file.format !== undefined && SYSTEM_FORMATS.has(file.format.trim().toLowerCase());
}

function toNumber(value: string | number | undefined): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value.trim()) : null;
}

/** A digest as lowercase hex, or undefined when absent or malformed. */
function hexDigest(value: string | undefined, length: number): string | undefined {
  return value && value.length === length && /^[0-9a-f]+$/i.test(value) ? value.toLowerCase() : undefined;
}

function manifestOf(item: ArchiveItem, identifier: string): PlatformFile[] {
  return item.files
    .filter((file) => file.source === 'original' && !isSystemFile(file, identifier))
    .map((file) => {
      const md5 = hexDigest(file.md5, 32);
      const sha1 = hexDigest(file.sha1, 40);
      const mtime = toNumber(file.mtime);
      const restricted = file.private === true || file.private === 'true';
      return {
        path: file.name,
        size: toNumber(file.size),
        ...(md5 ? { md5 } : {}),
        ...(sha1 ? { sha1 } : {}),
        mimetype: formatMimetype(file.format),
        platform_url: downloadUrl(identifier, file.name),
        extra: {
          ...(file.format !== undefined ? { format: file.format } : {}),
          ...(file.crc32 ? { crc32: file.crc32.toLowerCase() } : {}),
          ...(mtime !== null ? { mtime } : {}),
        },
        ...(restricted ? { restricted: true } : {}),
      };
    });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const archiveorg: PlatformHelper = {
  name: 'archiveorg',

  matchRequest(request, landing) {
    return identifierOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx: PlatformContext): Promise<PlatformItem> {
    // A /download/<item>/<file> URL still yields the whole item: the item is archive.org's unit of
    // a dataset (one identifier, one metadata record), and nothing is copied, so the rest costs nothing.
    const requested = identifierOf(request, landing);
    if (!requested) throw new PlatformError(`no archive.org item identifier in ${request.url}`);
    const response = await getApi(ctx, `${ORIGIN}/metadata/${encodeURIComponent(requested)}`);
    expectOk(response, `archive.org item ${requested}`);
    // The metadata API answers 200 with `{}` for an identifier that does not exist.
    if (isObject(response.json) && Object.keys(response.json).length === 0) {
      throw new PlatformNotFoundError(`archive.org item ${requested} does not exist (empty metadata from ${response.url})`);
    }
    if (isObject(response.json) && (response.json.is_dark === true || response.json.is_dark === 'true')) {
      throw new PlatformRestrictedError(`archive.org item ${requested} is dark (withdrawn from public access)`);
    }
    const item = parseApi(ArchiveItem, response, 'archive.org item');
    const md = item.metadata;
    const identifier = md.identifier;
    if (md.mediatype === 'collection' || item.is_collection === true) {
      throw new PlatformScopeError(`archive.org ${identifier} is a collection of items, not a dataset; request one of its items`);
    }
    if (md.mediatype === 'web') {
      throw new PlatformScopeError(`archive.org ${identifier} is a web crawl item (mediatype "web"), not a dataset`);
    }

    return {
      platformName: 'archiveorg',
      platformDomain: 'archive.org',
      platformId: identifier,
      manifest: manifestOf(item, identifier),
      archiveorgItemName: identifier,
      archiveorgItemMeta: Object.fromEntries(
        Object.entries({
          title: md.title,
          creator: md.creator,
          date: md.date,
          mediatype: md.mediatype,
          collection: md.collection,
          licenseurl: md.licenseurl,
        }).filter(([, value]) => value !== undefined),
      ),
      platformBaseUrl: `${ORIGIN}/details/${identifier}`,
      // archive.org's "download all" (`/compress/<item>`) is used widely but no documentation of it
      // could be found (see test/fixtures/archiveorg/README.md), so no bundle URL is claimed.
      platformBundleUrl: null,
      alreadyArchived: true,
    };
  },

  // The item already is an archive.org item: say so in ingest_strategy, as sandcrawler did.
  chooseStrategy(item) {
    return item.manifest.length === 1 ? 'archiveorg-file' : 'archiveorg-fileset';
  },
};
