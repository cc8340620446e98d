// Dataverse, any installation: dataset URLs on any host (dataset.xhtml, citation, the native API),
// DOIs of well-known installations, and landing pages that say they are a Dataverse.
import { z } from 'zod';
import {
  IngestError,
  PlatformError,
  PlatformNotFoundError,
  PlatformRestrictedError,
  PlatformScopeError,
} from '../errors.js';
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

/** DOI prefix → host, for installations whose DOIs we resolve offline (each seen in dataset URLs in the wild). */
const KNOWN_PREFIXES: Readonly<Record<string, string>> = {
  '10.7910': 'dataverse.harvard.edu',
  '10.34894': 'dataverse.nl',
  '10.5683': 'borealisdata.ca',
  '10.5064': 'data.qdr.syr.edu',
  '10.18710': 'dataverse.no',
  '10.57745': 'entrepot.recherche.data.gouv.fr',
};
/** Known Dataverse installations: no /api/info/version probe. */
const KNOWN_HOSTS = new Set([...Object.values(KNOWN_PREFIXES), 'demo.dataverse.org']);
const DATASET_PATH = /^\/(?:dataset\.xhtml|citation|api\/(?:v1\/)?datasets\/:persistentId\/?)$/;
const FILE_PATH = /^\/(?:file\.xhtml|api\/(?:v1\/)?access\/datafile\/:persistentId\/?)$/;
const DOI_URL = /^https?:\/\/(?:dx\.)?doi\.org\//i;
const PID = /^(?:doi|hdl):[^/\s]+\/\S+$/i;
const HASHES = { MD5: ['md5', 32], SHA1: ['sha1', 40], SHA256: ['sha256', 64], SHA512: ['sha512', 128] } as const;
/** Extensions of ingestable originals, for older servers whose JSON lacks originalFileName. */
const ORIGINAL_EXT: Readonly<Record<string, string>> = {
  'text/tsv': 'tsv',
  'text/csv': 'csv',
  'application/x-stata': 'dta',
  'application/x-spss-sav': 'sav',
  'application/x-spss-por': 'por',
  'application/x-rlang-transport': 'RData',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
};

// GET /api/info/version: {"status":"OK","data":{"version":"6.2","build":...}}
const InfoVersion = z.object({ status: z.literal('OK'), data: z.object({ version: z.string() }) });

// A version's file entries (native API; the dataverse_json export has the same shape). The
// original* fields exist only for ingested tabular files: the upload the .tab was derived from.
const FileMetadata = z.object({
  label: z.string(),
  directoryLabel: z.string().optional(),
  description: z.string().optional(),
  restricted: z.boolean().optional(),
  dataFile: z.object({
    id: z.number().int(),
    persistentId: z.string().nullish(),
    contentType: z.string().optional(),
    filesize: z.number().int().nonnegative(),
    md5: z.string().optional(),
    checksum: z.object({ type: z.string(), value: z.string() }).optional(),
    originalFileFormat: z.string().optional(),
    originalFileSize: z.number().int().nonnegative().optional(),
    originalFileName: z.string().optional(),
  }),
});
// A dataset version: `data` of GET /api/datasets/:persistentId/versions/<v>?persistentId=<pid>, and
// `data.latestVersion` of GET /api/datasets/:persistentId/?persistentId=<pid>.
const DatasetVersion = z.object({
  datasetPersistentId: z.string().optional(),
  versionState: z.string().optional(),
  releaseTime: z.string().optional(),
  versionNumber: z.number().int().optional(),
  versionMinorNumber: z.number().int().optional(),
  license: z.union([z.string(), z.object({ name: z.string().optional(), uri: z.string().optional() })]).optional(),
  metadataBlocks: z
    .object({
      citation: z.object({ fields: z.array(z.object({ typeName: z.string(), value: z.unknown() })) }).optional(),
    })
    .optional(),
  files: z.array(FileMetadata),
});
const DatasetResponse = z.object({
  data: z.object({
    protocol: z.string().optional(),
    authority: z.string().optional(),
    identifier: z.string().optional(),
    publisher: z.string().optional(),
    publicationDate: z.string().optional(),
    latestVersion: DatasetVersion,
  }),
});
const VersionResponse = z.object({ data: DatasetVersion });
// GET /api/search?q=filePersistentId:<id>: the dataset a file PID belongs to.
const FileSearch = z.object({
  data: z.object({ items: z.array(z.object({ file_persistent_id: z.string(), dataset_persistent_id: z.string() })) }),
});

type DataverseFile = z.infer<typeof FileMetadata>;
type Version = z.infer<typeof DatasetVersion>;

export interface DataverseTarget {
  origin: string; // scheme://host[:port] of the installation
  host: string;
  pid?: string; // e.g. "doi:10.7910/DVN/TJCLKP": a dataset's, unless `file`
  version?: string; // the `version` URL parameter, as given
  file?: boolean; // the URL names a file (by PID or file id), not a dataset
}

/** The dataset (or file) a URL names: any host's Dataverse URL shapes, or a DOI of a known installation. */
export function dataverseTarget(url: string): DataverseTarget | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (DOI_URL.test(parsed.href)) {
    const doi = /^\/(10\.\d{4,9})\/\S+$/.exec(parsed.pathname.replace(/%2F/gi, '/'));
    const host = doi ? KNOWN_PREFIXES[doi[1]!] : undefined;
    return doi && host ? { origin: `https://${host}`, host, pid: `doi:${doi[0].slice(1)}` } : null;
  }
  const base = { origin: parsed.origin, host: parsed.hostname };
  const pid = parsed.searchParams.get('persistentId') ?? '';
  const version = parsed.searchParams.get('version');
  if (FILE_PATH.test(parsed.pathname) && (PID.test(pid) || parsed.searchParams.has('fileId'))) {
    return { ...base, ...(PID.test(pid) ? { pid } : {}), file: true };
  }
  if (!DATASET_PATH.test(parsed.pathname) || !PID.test(pid)) return null;
  return { ...base, pid, ...(version ? { version } : {}) };
}

/** The request URL, else where it resolved to, else a known DOI, else a page that says it is a Dataverse. */
function targetOf(request: PlatformRequest, landing: LandingPage | null): DataverseTarget | null {
  const fromRequest = dataverseTarget(request.url);
  if (fromRequest && !DOI_URL.test(request.url)) return fromRequest;
  const usable = landing && !landing.error ? landing : null;
  const terminal = usable?.capture?.url;
  const resolved = terminal && !DOI_URL.test(terminal) ? dataverseTarget(terminal) : null;
  if (resolved || fromRequest) return resolved ?? fromRequest;
  const signals = landingSignals(usable);
  const exportLink = signals.links.find((l) => /\/api\/(?:v1\/)?datasets\/export\b/.test(l.href));
  if (!usable || (!exportLink && !signals.generators.some((g) => /\bdataverse\b/i.test(g)))) return null;
  const pid =
    (exportLink && new URL(exportLink.href).searchParams.get('persistentId')) ||
    (signals.doi ? `doi:${signals.doi}` : '');
  const page = new URL(terminal ?? usable.url);
  return PID.test(pid) ? { origin: page.origin, host: page.hostname, pid } : null;
}

/** Query values keep ':' and '/' readable, as Dataverse's own URLs do. */
const q = (value: string) => encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%2F/gi, '/');

/** An unknown host must say it runs Dataverse before we read its API as one. */
async function confirmDataverse(ctx: PlatformContext, target: DataverseTarget): Promise<void> {
  const response = await getApi(ctx, `${target.origin}/api/info/version`);
  if (response.statusCode === 429 || response.statusCode >= 500)
    expectOk(response, `Dataverse probe of ${target.host}`);
  const ok = response.statusCode >= 200 && response.statusCode < 300 && InfoVersion.safeParse(response.json).success;
  // Not a platform failure: the URL only looked like a Dataverse one, so it is outside this helper's scope.
  if (!ok)
    throw new PlatformScopeError(
      `${target.host} is not a Dataverse installation (/api/info/version: HTTP ${response.statusCode}, no Dataverse version)`,
    );
}

/** The dataset a file PID belongs to, from the search API; undefined when it cannot tell. */
async function parentDataset(ctx: PlatformContext, target: DataverseTarget, pid: string): Promise<string | undefined> {
  try {
    const response = await getApi(ctx, `${target.origin}/api/search?q=filePersistentId:${q(pid.split('/').pop()!)}`);
    const hits = FileSearch.safeParse(response.json);
    if (response.statusCode !== 200 || !hits.success) return undefined;
    return hits.data.data.items.find((i) => i.file_persistent_id.toLowerCase() === pid.toLowerCase())
      ?.dataset_persistent_id;
  } catch (err) {
    if (err instanceof IngestError) return undefined; // the scope error says enough without the parent
    throw err;
  }
}

function fileScope(what: string, parent: string | undefined): Error {
  return new PlatformScopeError(
    `Dataverse ${what} is a file, not a dataset${parent ? `; request its dataset ${parent}` : ''}`,
  );
}

/** The version the URL asks for (as the API spells it), or undefined for the latest published one. */
function requestedVersion(version: string | undefined): string | undefined {
  if (version === undefined || /^:latest(-published)?$/i.test(version)) return undefined;
  if (/^\d+(\.\d+)?$/.test(version)) return version;
  // A draft is unpublished and still changing: not a citable version we could archive, even with access.
  if (/^:?draft$/i.test(version))
    throw new PlatformScopeError('Dataverse draft versions are not published; request a released version');
  throw new PlatformScopeError(`unrecognised Dataverse dataset version "${version}"`);
}

async function fetchVersion(ctx: PlatformContext, target: DataverseTarget, pid: string) {
  const version = requestedVersion(target.version);
  const api = `${target.origin}/api/datasets/:persistentId`;
  const response = await getApi(
    ctx,
    version ? `${api}/versions/${version}?persistentId=${q(pid)}` : `${api}/?persistentId=${q(pid)}`,
  );
  if (response.statusCode === 404) {
    const parent = await parentDataset(ctx, target, pid);
    if (parent) throw fileScope(pid, parent);
  }
  expectOk(response, `Dataverse dataset ${pid}${version ? ` version ${version}` : ''}`);
  if (version)
    return { version: parseApi(VersionResponse, response, 'Dataverse dataset version').data, dataset: undefined };
  const { data } = parseApi(DatasetResponse, response, 'Dataverse dataset');
  return { version: data.latestVersion, dataset: data };
}

/** A file's hashes: `checksum` in any algorithm Dataverse supports, and the legacy `md5` field. */
export function fileHashes(dataFile: DataverseFile['dataFile']): {
  md5?: string;
  sha1?: string;
  sha256?: string;
  sha512?: string;
} {
  const hashes: Record<string, string> = {};
  const add = (type: string, value: string | undefined) => {
    const known = HASHES[type.toUpperCase().replace(/-/g, '') as keyof typeof HASHES];
    if (known && value && new RegExp(`^[0-9a-f]{${known[1]}}$`, 'i').test(value))
      hashes[known[0]] ??= value.toLowerCase();
  };
  if (dataFile.checksum) add(dataFile.checksum.type, dataFile.checksum.value);
  add('MD5', dataFile.md5);
  return hashes;
}

function originalName(file: DataverseFile): string {
  if (file.dataFile.originalFileName) return file.dataFile.originalFileName;
  const ext = ORIGINAL_EXT[file.dataFile.originalFileFormat!.replace(/^(application\/x-stata).*/, '$1')];
  return ext ? file.label.replace(/(\.tab)?$/, `.${ext}`) : file.label;
}

function entryOf(origin: string, file: DataverseFile): PlatformFile {
  const { dataFile } = file;
  // Ingested tabular files are fetched as the original upload: Dataverse serves a derived .tab by
  // default, but the checksum it stores is that of the saved original (IQSS/dataverse#7275: "for an
  // ingested tabular file, the checksumvalue in the DataFile table IS the checksum of the saved
  // original"); format=original is the documented way to get those bytes
  // (https://guides.dataverse.org/en/latest/api/dataaccess.html, Basic File Access, `format`).
  const tabular = dataFile.originalFileFormat !== undefined;
  const folder = file.directoryLabel?.replace(/^\/+|\/+$/g, '');
  const name = tabular ? originalName(file) : file.label;
  const { sha512, ...hashes } = fileHashes(dataFile);
  const mimetype = tabular ? dataFile.originalFileFormat : dataFile.contentType;
  return {
    path: folder ? `${folder}/${name}` : name,
    size: tabular ? dataFile.originalFileSize : dataFile.filesize,
    ...hashes,
    ...(mimetype ? { mimetype } : {}),
    platform_url: `${origin}/api/access/datafile/${dataFile.id}?${tabular ? 'format=original&' : ''}gbrecs=true`,
    extra: {
      dataverse_file_id: dataFile.id,
      ...(dataFile.persistentId ? { dataverse_file_pid: dataFile.persistentId } : {}),
      ...(sha512 ? { sha512 } : {}),
      ...(file.description ? { description: file.description } : {}),
      ...(tabular ? { tabular: { label: file.label, size: dataFile.filesize, mimetype: dataFile.contentType } } : {}),
    },
    ...(file.restricted ? { restricted: true } : {}),
  };
}

function itemMeta(version: Version, dataset: z.infer<typeof DatasetResponse>['data'] | undefined, pid: string) {
  const field = (name: string) => version.metadataBlocks?.citation?.fields.find((f) => f.typeName === name)?.value;
  const title = field('title');
  const authors = field('author');
  const license = version.license;
  return {
    title: typeof title === 'string' ? title : undefined,
    creator: (Array.isArray(authors) ? authors : [])
      .map((a) => (a as { authorName?: { value?: unknown } } | null)?.authorName?.value)
      .filter((name): name is string => typeof name === 'string'),
    date: (version.releaseTime ?? dataset?.publicationDate)?.slice(0, 10),
    license: typeof license === 'string' ? license : license?.name,
    licenseurl: typeof license === 'object' ? license.uri : undefined,
    doi: /^doi:/i.test(pid) ? pid.slice(4) : undefined,
    publisher: dataset?.publisher,
  };
}

export const dataverse: PlatformHelper = {
  name: 'dataverse',

  matchRequest(request, landing) {
    return targetOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx): Promise<PlatformItem> {
    const target = targetOf(request, landing);
    if (!target) throw new PlatformScopeError(`${request.url} does not name a Dataverse dataset`);
    if (!KNOWN_HOSTS.has(target.host)) await confirmDataverse(ctx, target);
    if (target.file || !target.pid) {
      throw fileScope(target.pid ?? request.url, target.pid ? await parentDataset(ctx, target, target.pid) : undefined);
    }
    const { version, dataset } = await fetchVersion(ctx, target, target.pid);
    const state = version.versionState ?? 'RELEASED';
    if (state === 'DRAFT') throw new PlatformScopeError(`Dataverse ${target.pid} answered with an unpublished draft`);
    if (state !== 'RELEASED') throw new PlatformNotFoundError(`Dataverse ${target.pid} version is ${state}`);
    if (version.versionNumber === undefined)
      throw new PlatformError('Dataverse dataset version: unexpected response shape at "versionNumber": missing');
    const number = `${version.versionNumber}.${version.versionMinorNumber ?? 0}`;
    const pid =
      version.datasetPersistentId ??
      (dataset?.protocol && dataset.authority && dataset.identifier
        ? `${dataset.protocol}:${dataset.authority}/${dataset.identifier}`
        : target.pid);

    const manifest = version.files.map((f) => entryOf(target.origin, f));
    // Nothing could be archived: say so rather than report a "partial" success holding no file.
    if (manifest.length && manifest.every((f) => f.restricted)) {
      throw new PlatformRestrictedError(`all ${manifest.length} files of Dataverse ${pid} v${number} are restricted`);
    }
    // sandcrawler's name: the PID's last segment (doi:10.7910/DVN/7XCWTN → 7XCWTN), so a renewal
    // of a dataset sandcrawler archived finds its item.
    const suffix = pid.split('/').pop()!;
    const baseUrl = `${target.origin}/dataset.xhtml?persistentId=${q(pid)}&version=${number}`;
    return {
      platformName: 'dataverse',
      platformDomain: target.host,
      platformId: pid,
      manifest,
      archiveorgItemName: `${target.host}-${suffix}-v${number}`.replace(/[^A-Za-z0-9._-]/g, '_'),
      archiveorgItemMeta: { ...itemMeta(version, dataset, pid), version: number, source: baseUrl },
      platformBaseUrl: baseUrl,
      // Pinned to the archived version, with tabular files as their originals, like the manifest.
      platformBundleUrl: `${target.origin}/api/access/dataset/:persistentId/versions/${number}?persistentId=${q(pid)}&format=original`,
    };
  },
};
