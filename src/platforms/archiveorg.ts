// archive.org items: /details/, /download/ and /metadata/ URLs, read through the metadata API. An
// item is already in the archive, so nothing is copied: the result points at archive.org's copy.
import {
  ArchiveItemSchema,
  ITEM_PATH,
  downloadPath,
  formatMimetype,
  isSystemFormat,
  isSystemName,
  type ArchiveFile,
  type ArchiveItem,
} from '../archiveorg-rules.js';
import { PlatformError, PlatformNotFoundError, PlatformRestrictedError, PlatformScopeError } from '../errors.js';
import { expectOk, getApi, parseApi } from './api.js';
import type {
  LandingPage,
  PlatformContext,
  PlatformFile,
  PlatformHelper,
  PlatformItem,
  PlatformRequest,
} from './types.js';

const ORIGIN = 'https://archive.org';
// web.archive.org (Wayback captures) is deliberately absent: replays are not datasets.
const HOSTS = new Set(['archive.org', 'www.archive.org']);

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

/** `https://archive.org/download/<item>/<path>?cnt=0`; `cnt=0` keeps our fetch out of the download counts. */
export function downloadUrl(identifier: string, path: string): string {
  return `${ORIGIN}${downloadPath(identifier, path)}?cnt=0`;
}

function isSystemFile(file: ArchiveFile, identifier: string): boolean {
  return isSystemName(identifier, file.name) || isSystemFormat(file.format);
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
      throw new PlatformNotFoundError(
        `archive.org item ${requested} does not exist (empty metadata from ${response.url})`,
      );
    }
    if (isObject(response.json) && (response.json.is_dark === true || response.json.is_dark === 'true')) {
      throw new PlatformRestrictedError(`archive.org item ${requested} is dark (withdrawn from public access)`);
    }
    const item = parseApi(ArchiveItemSchema, response, 'archive.org item');
    const md = item.metadata;
    const identifier = md.identifier;
    if (md.mediatype === 'collection' || item.is_collection === true) {
      throw new PlatformScopeError(
        `archive.org ${identifier} is a collection of items, not a dataset; request one of its items`,
      );
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
      // archive.org's "download all" zip of an item: observed (the item page's "download all" link),
      // not documented (see test/fixtures/archiveorg/README.md).
      platformBundleUrl: `${ORIGIN}/compress/${identifier}`,
      alreadyArchived: true,
    };
  },

  // The item already is an archive.org item: say so in ingest_strategy, as sandcrawler did.
  chooseStrategy(item) {
    return item.manifest.length === 1 ? 'archiveorg-file' : 'archiveorg-fileset';
  },
};
