// OSF (osf.io and the test server test.osf.io): project/component pages, API node URLs and
// 10.17605/OSF.IO/<GUID> DOIs, read through the API v2: the node, then its osfstorage tree walked
// folder by folder, every listing paged by `links.next`.
// Components (child nodes) and add-on storage (GitHub, Dropbox, ...) are not walked: a node's own
// osfstorage is the dataset; a component is archived by requesting its own guid.
import { z } from 'zod';
import { PlatformError, PlatformRestrictedError, PlatformScopeError } from '../errors.js';
import { expectOk, getApi, parseApi, type ApiResponse } from './api.js';
import type {
  LandingPage,
  PlatformContext,
  PlatformFile,
  PlatformHelper,
  PlatformItem,
  PlatformRequest,
} from './types.js';

/** Site host → API origin. */
const SITES: Record<string, string> = { 'osf.io': 'https://api.osf.io', 'test.osf.io': 'https://api.test.osf.io' };
const API_HOSTS: Record<string, string> = { 'api.osf.io': 'osf.io', 'api.test.osf.io': 'test.osf.io' };
const DOI_HOSTS = new Set(['doi.org', 'dx.doi.org', 'www.doi.org']);
const GUID = /^[a-z0-9]{5,}$/;
const OSF_DOI = /^\/10\.17605\/osf\.io\/([a-z0-9]{5,})\/?$/i;
/** First path segments of osf.io pages that are not guids. */
const RESERVED = new Set([
  'preprints',
  'registries',
  'institutions',
  'search',
  'dashboard',
  'login',
  'logout',
  'meetings',
  'collections',
  'static',
  'support',
  'explore',
  'myprojects',
  'my-projects',
  'register',
  'settings',
  'download',
  'profile',
  'goodbye',
  'forgotpassword',
  'resetpassword',
  'reviews',
  'quickfiles',
  'notifications',
  'legacy',
  'users',
]);
/** Node sub-pages that still name the whole node. */
const NODE_PAGES = new Set([
  'files',
  'wiki',
  'overview',
  'metadata',
  'analytics',
  'registrations',
  'forks',
  'contributors',
  'components',
  'addons',
  'settings',
]);
/** Listing pages for one node's whole tree; more is a server fault, not a dataset. */
export const MAX_LISTING_PAGES = 1000;

// GET <api>/v2/nodes/<guid>/: only the fields we read.
const OsfNode = z.object({
  data: z.object({
    id: z.string(),
    attributes: z.object({
      title: z.string(),
      description: z.string().nullish(),
      category: z.string().nullish(),
      date_created: z.string().nullish(),
      date_modified: z.string().nullish(),
      public: z.boolean().optional(),
      node_license: z.unknown().optional(),
    }),
    relationships: z
      .object({ license: z.object({ data: z.object({ id: z.string() }).nullish() }).optional() })
      .optional(),
  }),
});

// GET <api>/v2/nodes/<guid>/files/osfstorage/ and each folder's relationships.files.links.related.href.
const OsfEntry = z.object({
  id: z.string(),
  attributes: z.object({
    guid: z.string().nullish(),
    name: z.string(),
    kind: z.enum(['file', 'folder']),
    materialized_path: z.string().nullish(),
    size: z.number().int().nonnegative().nullish(),
    current_version: z.number().int().optional(),
    extra: z
      .object({ hashes: z.object({ md5: z.string().nullish(), sha256: z.string().nullish() }).optional() })
      .optional(),
  }),
  relationships: z.object({
    files: z.object({ links: z.object({ related: z.object({ href: z.string() }) }) }).optional(),
  }),
  links: z.object({ download: z.string().optional(), upload: z.string().optional(), move: z.string().optional() }),
});
type OsfEntry = z.infer<typeof OsfEntry>;
const OsfListing = z.object({ data: z.array(OsfEntry), links: z.object({ next: z.string().nullish() }) });

// GET <api>/v2/files/<guid>/ (the files endpoint takes a file guid as well as a file id).
const OsfFileEntity = z.object({
  data: z.object({
    type: z.literal('files'),
    attributes: z.object({ name: z.string(), kind: z.string() }),
    relationships: z.object({ node: z.object({ data: z.object({ id: z.string() }) }).optional() }).optional(),
  }),
});

export interface OsfTarget {
  /** osf.io or test.osf.io. */
  siteHost: string;
  apiOrigin: string;
  guid: string;
  /** Why the URL names less than a whole node (one file, another storage provider). */
  outOfScope?: string;
}

/** The node a URL names, if it is an OSF node page, API node URL or OSF DOI. */
export function osfTarget(url: string): OsfTarget | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const host = parsed.hostname.replace(/^www\./, '');
  const segments = parsed.pathname.split('/').filter(Boolean);
  const at = (siteHost: string, guid: string, outOfScope?: string): OsfTarget => ({
    siteHost,
    apiOrigin: SITES[siteHost]!,
    guid,
    ...(outOfScope ? { outOfScope } : {}),
  });
  if (DOI_HOSTS.has(host)) {
    const guid = OSF_DOI.exec(decodeURIComponent(parsed.pathname))?.[1];
    return guid ? at('osf.io', guid.toLowerCase()) : null;
  }
  if (API_HOSTS[host]) {
    const [version, kind, guid] = segments;
    return version === 'v2' && kind === 'nodes' && guid && GUID.test(guid) ? at(API_HOSTS[host], guid) : null;
  }
  if (!SITES[host]) return null;
  if (segments[0] === 'project') segments.shift(); // the pre-2016 `/project/<guid>/` form
  const [guid, page, provider, ...rest] = segments;
  if (!guid || !GUID.test(guid) || RESERVED.has(guid)) return null;
  if (page === undefined) return at(host, guid);
  if (!NODE_PAGES.has(page)) return null;
  if (page !== 'files' || provider === undefined) return at(host, guid);
  if (provider !== 'osfstorage')
    return at(host, guid, `the "${provider}" storage add-on (only osfstorage is archived)`);
  return rest.length ? at(host, guid, `one file or folder (${rest.join('/')}) of node ${guid}`) : at(host, guid);
}

function targetOf(request: PlatformRequest, landing: LandingPage | null): OsfTarget | null {
  return osfTarget(request.url) ?? (landing?.capture ? osfTarget(landing.capture.url) : null);
}

/** A node the API will not show anonymously answers 401 (or 403 to a signed-in stranger). */
function refuseRestricted(response: ApiResponse, what: string): void {
  if (response.statusCode === 401 || response.statusCode === 403) {
    throw new PlatformRestrictedError(`${what} is private (HTTP ${response.statusCode} from ${response.url})`);
  }
}

/** The node endpoint 404s for a guid that is a file's: say so instead of "not found". */
async function refuseFileGuid(ctx: PlatformContext, target: OsfTarget): Promise<void> {
  const response = await getApi(ctx, `${target.apiOrigin}/v2/files/${target.guid}/`);
  if (response.statusCode !== 200) return;
  const file = OsfFileEntity.safeParse(response.json);
  if (!file.success) return;
  const { attributes, relationships } = file.data.data;
  const node = relationships?.node?.data.id;
  throw new PlatformScopeError(
    `OSF guid ${target.guid} names a ${attributes.kind} ("${attributes.name}"${node ? ` of node ${node}` : ''}), not a project or component`,
  );
}

/** A listing entry lacking what its kind needs, reported like parseApi reports a changed shape. */
const shapeError = (index: number, field: string, kind: string) =>
  new PlatformError(`OSF files listing: unexpected response shape at "data.${index}.${field}": missing for a ${kind}`);

const hex = (value: string | null | undefined, length: number): string | undefined =>
  value && value.length === length && /^[0-9a-f]+$/i.test(value) ? value.toLowerCase() : undefined;

function fileEntry(entry: OsfEntry, path: string, index: number): PlatformFile {
  const { attributes: a, links } = entry;
  if (a.size === null || a.size === undefined) throw shapeError(index, 'attributes.size', 'file');
  if (!links.download) throw shapeError(index, 'links.download', 'file');
  const md5 = hex(a.extra?.hashes?.md5, 32);
  const sha256 = hex(a.extra?.hashes?.sha256, 64);
  // The API gives no media type for a file: the download's Content-Type fills it in.
  return {
    path,
    size: a.size,
    ...(md5 ? { md5 } : {}),
    ...(sha256 ? { sha256 } : {}),
    platform_url: links.download,
    extra: {
      osf_file_id: entry.id,
      ...(a.guid ? { osf_guid: a.guid } : {}),
      ...(a.current_version ? { version: a.current_version } : {}),
    },
  };
}

/** `materialized_path` without its leading `/` when it agrees with the walk, else the walk's own path. */
function pathOf(entry: OsfEntry, prefix: string): string {
  const own = `${prefix}${entry.attributes.name}${entry.attributes.kind === 'folder' ? '/' : ''}`;
  const materialized = entry.attributes.materialized_path?.replace(/^\//, '');
  return materialized === own ? materialized : own;
}

export interface OsfStorageTree {
  files: PlatformFile[];
  /** The first entry's WaterButler link (it names the region's files host), for the bundle URL. */
  waterbutler: string | undefined;
}

interface Walk extends OsfStorageTree {
  ctx: PlatformContext;
  seen: Set<string>;
  stopAfter: number;
  maxPages: number;
}

/**
 * Every file under an osfstorage listing URL, folders walked depth-first in listing order. Stops
 * once more than `stopAfter` files are listed: the pipeline's too-many-files check (the one place
 * that owns that limit) then fires without the rest of a huge tree being fetched.
 */
export async function listOsfStorage(
  ctx: PlatformContext,
  rootUrl: string,
  { stopAfter, maxPages = MAX_LISTING_PAGES }: { stopAfter: number; maxPages?: number },
): Promise<OsfStorageTree> {
  const walk: Walk = { ctx, files: [], waterbutler: undefined, seen: new Set(), stopAfter, maxPages };
  await walkFolder(walk, rootUrl, '');
  return { files: walk.files, waterbutler: walk.waterbutler };
}

/** Lists one folder (every page), descending into subfolders in listing order. */
async function walkFolder(walk: Walk, firstUrl: string, prefix: string): Promise<void> {
  for (let url: string | null | undefined = firstUrl; url;) {
    if (walk.seen.has(url))
      throw new PlatformError(`OSF files listing: ${url} comes back (a links.next or folder loop)`);
    if (walk.seen.size >= walk.maxPages)
      throw new PlatformError(`OSF files listing: more than ${walk.maxPages} pages (stopped before ${url})`);
    walk.seen.add(url);
    const response = await getApi(walk.ctx, url);
    refuseRestricted(response, `OSF files listing ${url}`);
    // The node exists: a listing page that is not there is the server's fault, not a missing dataset.
    expectOk(response, `OSF files listing ${url}`, []);
    const page = parseApi(OsfListing, response, 'OSF files listing');
    for (const [index, entry] of page.data.entries()) {
      walk.waterbutler ??= entry.links.upload ?? entry.links.move;
      const path = pathOf(entry, prefix);
      if (entry.attributes.kind === 'file') walk.files.push(fileEntry(entry, path, index));
      else {
        const related = entry.relationships.files?.links.related.href;
        if (!related) throw shapeError(index, 'relationships.files', 'folder');
        await walkFolder(walk, related, path);
      }
      if (walk.files.length > walk.stopAfter) return;
    }
    url = page.links.next;
  }
}

/** WaterButler zips a provider's whole tree on `GET /v1/resources/<guid>/providers/osfstorage/?zip=`. */
function bundleUrl(waterbutler: string | undefined, guid: string): string | null {
  if (!waterbutler || !URL.canParse(waterbutler)) return null;
  const origin = new URL(waterbutler);
  return origin.pathname.startsWith(`/v1/resources/${guid}/`)
    ? `${origin.origin}/v1/resources/${guid}/providers/osfstorage/?zip=`
    : null;
}

export const osf: PlatformHelper = {
  name: 'osf',

  matchRequest(request, landing) {
    return targetOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx: PlatformContext): Promise<PlatformItem> {
    const target = targetOf(request, landing)!;
    if (target.outOfScope)
      throw new PlatformScopeError(
        `OSF URL ${request.url} names ${target.outOfScope}; request the node ${target.guid}`,
      );
    const nodeUrl = `${target.apiOrigin}/v2/nodes/${target.guid}/`;
    const response = await getApi(ctx, nodeUrl);
    refuseRestricted(response, `OSF node ${target.guid}`);
    if (response.statusCode === 404) await refuseFileGuid(ctx, target);
    expectOk(response, `OSF node ${target.guid}`);
    const node = parseApi(OsfNode, response, 'OSF node').data;
    if (node.attributes.public === false) throw new PlatformRestrictedError(`OSF node ${node.id} is not public`);

    const tree = await listOsfStorage(ctx, `${nodeUrl}files/osfstorage/`, {
      stopAfter: ctx.config.limits.maxFileCount,
    });
    const a = node.attributes;
    const baseUrl = `https://${target.siteHost}/${node.id}/`;
    return {
      platformName: 'osf',
      platformDomain: target.siteHost,
      platformId: node.id,
      manifest: tree.files,
      archiveorgItemName: `${target.siteHost}-${node.id}`,
      archiveorgItemMeta: {
        title: a.title,
        date: a.date_created?.slice(0, 10),
        date_modified: a.date_modified ?? undefined,
        description: a.description || undefined,
        category: a.category ?? undefined,
        license: node.relationships?.license?.data?.id,
        node_license: a.node_license ?? undefined,
        source: baseUrl,
      },
      platformBaseUrl: baseUrl,
      platformBundleUrl: bundleUrl(tree.waterbutler, node.id),
    };
  },
};
