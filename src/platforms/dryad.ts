// Dryad (datadryad.org): dataset landing URLs, API URLs and 10.5061/dryad.* DOIs, read through the
// v2 API: the dataset names its latest version, whose files listing is paged by HAL `_links.next`.
import { z } from 'zod';
import { PlatformError, PlatformRestrictedError } from '../errors.js';
import { expectOk, getApi, parseApi } from './api.js';
import { landingSignals } from './detect.js';
import type {
  LandingPage,
  PlatformContext,
  PlatformFile,
  PlatformHelper,
  PlatformItem,
  PlatformRequest,
} from './types.js';

const ORIGIN = 'https://datadryad.org';
const HOSTS = new Set(['datadryad.org', 'www.datadryad.org']);
const DOI_HOSTS = new Set(['doi.org', 'dx.doi.org', 'www.doi.org']);
/** The UI (`/stash/dataset/…` before 2024, `/dataset/…` now) and the API name a dataset by `doi:<doi>`. */
const SITE_PATH = /^\/(?:stash\/dataset|dataset|api\/v2\/datasets)\/doi:(10\.\d{4,9}\/[^/?#\s]+)\/?$/i;
const DRYAD_DOI = /^\/(10\.5061\/dryad\.[^/?#\s]+)\/?$/i;
/** A files listing longer than this many pages is a server fault, not a dataset. */
export const MAX_FILE_PAGES = 1000;

const Href = z.object({ href: z.string() });

// GET https://datadryad.org/api/v2/datasets/<encodeURIComponent("doi:<doi>")>: only the fields we read.
// `storage_size` is the 2020 spelling of `storageSize`.
const DryadDataset = z.object({
  _links: z.object({ 'stash:version': Href, 'stash:download': Href.optional() }),
  identifier: z.string(),
  storageSize: z.number().int().nonnegative().optional(),
  storage_size: z.number().int().nonnegative().optional(),
  title: z.string().optional(),
  authors: z.array(z.object({ firstName: z.string().nullish(), lastName: z.string().nullish() })).optional(),
  versionNumber: z.number().int(),
  curationStatus: z.string().optional(),
  visibility: z.string().optional(),
  publicationDate: z.string().nullish(),
  license: z.string().optional(),
});
type DryadDataset = z.infer<typeof DryadDataset>;

// The same endpoint for a dataset nobody may see yet (Dryad answers 200 with an explanation).
const HiddenDataset = z.object({ message: z.string(), _links: z.never().optional() });

// GET https://datadryad.org/api/v2/versions/<id>/files (and the `_links.next` pages after it).
const DryadFile = z.object({
  _links: z.object({ self: Href.optional(), 'stash:download': Href.optional() }),
  path: z.string(),
  size: z.number().int().nonnegative(),
  mimeType: z.string().nullish(),
  status: z.string().optional(),
  digest: z.string().nullish(),
  digestType: z.string().nullish(),
  description: z.string().nullish(),
});
type DryadFile = z.infer<typeof DryadFile>;

const FilesPage = z.object({
  _links: z.object({ next: Href.optional() }).optional(),
  _embedded: z.object({ 'stash:files': z.array(DryadFile) }),
});

/** The DOI (lower case, no `doi:`) a URL names, if it is a Dryad dataset URL or a 10.5061/dryad.* DOI. */
export function dryadDoi(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const path = decodeFully(parsed.pathname);
  if (HOSTS.has(parsed.hostname)) return SITE_PATH.exec(path)?.[1]?.toLowerCase() ?? null;
  if (DOI_HOSTS.has(parsed.hostname)) return DRYAD_DOI.exec(path)?.[1]?.toLowerCase() ?? null;
  return null;
}

/** Dryad's own pages double-encode (`doi%253A10.5061%252F…`): decode until nothing changes. */
function decodeFully(text: string): string {
  for (let i = 0; i < 3; i += 1) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      return text;
    }
    if (decoded === text) break;
    text = decoded;
  }
  return text;
}

function doiOf(request: PlatformRequest, landing: LandingPage | null): string | null {
  const direct = dryadDoi(request.url);
  if (direct || !landing?.capture) return direct;
  const fromCapture = dryadDoi(landing.capture.url);
  if (fromCapture) return fromCapture;
  // A page on datadryad.org without the DOI in its URL (a share link): the page declares it.
  return URL.canParse(landing.capture.url) && HOSTS.has(new URL(landing.capture.url).hostname)
    ? (landingSignals(landing).doi ?? null)
    : null;
}

interface DigestFields {
  md5?: string;
  sha1?: string;
  sha256?: string;
  /** The digest as Dryad gave it, when it is of an algorithm we do not verify (or malformed). */
  extra?: { digest: string; digestType: string | null };
}

const ALGORITHMS = new Map([
  ['md5', { field: 'md5', hexLength: 32 }],
  ['sha1', { field: 'sha1', hexLength: 40 }],
  ['sha256', { field: 'sha256', hexLength: 64 }],
] as const);

/** Manifest hash fields from Dryad's `digest` + `digestType` ("md5", "sha-1", "sha-256"). */
export function digestFields(digest: string | null | undefined, digestType: string | null | undefined): DigestFields {
  if (!digest) return {};
  const value = digest.trim().toLowerCase();
  const algorithm = ALGORITHMS.get((digestType ?? '').toLowerCase().replace(/[^a-z0-9]/g, '') as 'md5');
  if (algorithm && value.length === algorithm.hexLength && /^[0-9a-f]+$/.test(value))
    return { [algorithm.field]: value };
  return { extra: { digest, digestType: digestType ?? null } };
}

function absolute(href: string): string {
  return new URL(href, ORIGIN).href;
}

function fileEntry(file: DryadFile): PlatformFile {
  const { extra: digestExtra, ...hashes } = digestFields(file.digest, file.digestType);
  const download = file._links['stash:download']?.href;
  const self = file._links.self?.href;
  const fileId = self ? /\/files\/(\d+)\/?$/.exec(self)?.[1] : undefined;
  return {
    path: file.path,
    size: file.size,
    ...hashes,
    ...(file.mimeType ? { mimetype: file.mimeType } : {}),
    platform_url: download ? absolute(download) : self ? absolute(self) : null,
    extra: {
      ...(fileId ? { dryad_file_id: Number(fileId) } : {}),
      ...(file.status ? { status: file.status } : {}),
      ...(file.description ? { description: file.description } : {}),
      ...digestExtra,
      // Dryad links a file's content only when anyone may download it.
      ...(download ? {} : { restriction: 'no stash:download link: not downloadable anonymously' }),
    },
    ...(download ? {} : { restricted: true }),
  };
}

/** Every file of a version's listing, following `_links.next`; a loop or an endless listing is an error. */
export async function listDryadFiles(
  ctx: PlatformContext,
  firstUrl: string,
  maxPages = MAX_FILE_PAGES,
): Promise<PlatformFile[]> {
  const seen = new Set<string>();
  const files: PlatformFile[] = [];
  for (let url: string | undefined = firstUrl; url !== undefined;) {
    if (seen.has(url)) throw new PlatformError(`Dryad files listing: page ${url} comes back (a _links.next loop)`);
    if (seen.size >= maxPages)
      throw new PlatformError(`Dryad files listing: more than ${maxPages} pages (stopped before ${url})`);
    seen.add(url);
    const response = await getApi(ctx, url);
    expectOk(response, `Dryad files listing ${url}`);
    const page = parseApi(FilesPage, response, 'Dryad files listing');
    files.push(...page._embedded['stash:files'].map(fileEntry));
    const next = page._links?.next?.href;
    url = next ? absolute(next) : undefined;
  }
  return files;
}

/** The dataset's total size: `storageSize` since 2021, `storage_size` in 2020 responses. */
export function datasetStorageSize(dataset: Pick<DryadDataset, 'storageSize' | 'storage_size'>): number | undefined {
  return dataset.storageSize ?? dataset.storage_size;
}

function refuseUnpublished(dataset: DryadDataset): void {
  const status = dataset.curationStatus;
  if (status !== undefined && status.toLowerCase() !== 'published') {
    const date = dataset.publicationDate ? ` (publication date ${dataset.publicationDate})` : '';
    throw new PlatformRestrictedError(
      `Dryad dataset ${dataset.identifier} is not published: curationStatus "${status}"${date}`,
    );
  }
  if (dataset.visibility !== undefined && dataset.visibility !== 'public') {
    throw new PlatformRestrictedError(`Dryad dataset ${dataset.identifier} visibility is "${dataset.visibility}"`);
  }
}

/** archive.org identifier characters only; `10.5061/dryad.2rbnzs7jp` → `2rbnzs7jp`. */
function itemSuffix(doi: string): string {
  const suffix = doi.slice(doi.indexOf('/') + 1).replace(/^dryad\./, '');
  return suffix.replace(/[^A-Za-z0-9._-]/g, '_');
}

export const dryad: PlatformHelper = {
  name: 'dryad',

  matchRequest(request, landing) {
    return doiOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx: PlatformContext): Promise<PlatformItem> {
    const requested = doiOf(request, landing)!;
    const response = await getApi(ctx, `${ORIGIN}/api/v2/datasets/${encodeURIComponent(`doi:${requested}`)}`);
    expectOk(response, `Dryad dataset doi:${requested}`);
    const hidden = HiddenDataset.safeParse(response.json);
    if (hidden.success) throw new PlatformRestrictedError(`Dryad dataset doi:${requested}: ${hidden.data.message}`);
    const dataset = parseApi(DryadDataset, response, 'Dryad dataset');
    refuseUnpublished(dataset);

    const doi = dataset.identifier.replace(/^doi:/i, '').toLowerCase();
    // The version resource is not needed: its files listing lives under it.
    const versionUrl = absolute(dataset._links['stash:version'].href).replace(/\/+$/, '');
    const manifest = await listDryadFiles(ctx, `${versionUrl}/files`);
    const landingUrl = `${ORIGIN}/dataset/doi:${doi}`;
    return {
      platformName: 'dryad',
      platformDomain: 'datadryad.org',
      platformId: doi,
      manifest,
      archiveorgItemName: `datadryad.org-${itemSuffix(doi)}-v${dataset.versionNumber}`,
      archiveorgItemMeta: {
        title: dataset.title,
        creator: dataset.authors?.map((a) => [a.firstName, a.lastName].filter(Boolean).join(' ')).filter(Boolean),
        date: dataset.publicationDate ?? undefined,
        doi,
        license: dataset.license,
        version: dataset.versionNumber,
        storage_size: datasetStorageSize(dataset),
        source: landingUrl,
      },
      platformBaseUrl: landingUrl,
      // The zip of exactly the version whose files are listed (/api/v2/versions/<id>/download).
      platformBundleUrl: `${versionUrl}/download`,
    };
  },
};
