// Zenodo: record URLs (/record/<id>, /records/<id>) and 10.5281/zenodo.<id> DOIs, read through the
// records API in all three shapes it has served (legacy, Oct-2023 transitional, InvenioRDM).
import { z } from 'zod';
import { PlatformRestrictedError, PlatformScopeError } from '../errors.js';
import { expectOk, getApi, parseApi } from './api.js';
import { InvenioFile, invenioManifest } from './invenio.js';
import type { LandingPage, PlatformContext, PlatformHelper, PlatformItem, PlatformRequest } from './types.js';

const HOSTS = new Set(['zenodo.org', 'www.zenodo.org', 'sandbox.zenodo.org']);
const RECORD_PATH = /^\/(?:api\/)?records?\/(\d+)(?:[/?#]|$)/;
const DOI_PATH = /^\/(10\.5281\/zenodo\.(\d+))$/i;

// GET https://zenodo.org/api/records/<id>: only the fields we read.
const ZenodoRecord = z.object({
  id: z.union([z.number(), z.string()]),
  conceptrecid: z.union([z.number(), z.string()]).optional(),
  doi: z.string().optional(),
  metadata: z.object({
    title: z.string().optional(),
    access_right: z.string().optional(),
    embargo_date: z.string().nullish(),
    publication_date: z.string().optional(),
    creators: z.array(z.object({ name: z.string().optional() })).optional(),
    license: z.object({ id: z.string().optional() }).nullish(),
    resource_type: z.object({ type: z.string().optional() }).optional(),
    version: z.string().optional(),
  }),
  files: z.array(InvenioFile).nullish(),
  links: z.object({ archive: z.string().optional() }).optional(),
});

type ZenodoRecord = z.infer<typeof ZenodoRecord>;

interface ZenodoTarget {
  host: string;
  id: string;
}

/** The record a URL names, if it is a Zenodo record or DOI URL. */
export function zenodoTarget(url: string): ZenodoTarget | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const host = parsed.hostname.replace(/^www\./, '');
  if (HOSTS.has(parsed.hostname)) {
    const id = RECORD_PATH.exec(parsed.pathname)?.[1];
    return id ? { host, id } : null;
  }
  if (parsed.hostname === 'doi.org' || parsed.hostname === 'dx.doi.org') {
    const id = DOI_PATH.exec(decodeURIComponent(parsed.pathname))?.[2];
    return id ? { host: 'zenodo.org', id } : null;
  }
  return null;
}

function targetOf(request: PlatformRequest, landing: LandingPage | null): ZenodoTarget | null {
  return zenodoTarget(request.url) ?? (landing?.capture ? zenodoTarget(landing.capture.url) : null);
}

export const zenodo: PlatformHelper = {
  name: 'zenodo',

  matchRequest(request, landing) {
    return targetOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx: PlatformContext): Promise<PlatformItem> {
    const target = targetOf(request, landing)!;
    const apiUrl = `https://${target.host}/api/records/${target.id}`;
    const response = await getApi(ctx, apiUrl);
    expectOk(response, `Zenodo record ${target.id}`);
    const record = parseApi(ZenodoRecord, response, 'Zenodo record');
    const recordId = String(record.id);

    // A concept DOI/record stands for all versions: archiving "the latest" would silently change.
    if (record.conceptrecid !== undefined && String(record.conceptrecid) === target.id && recordId !== target.id) {
      throw new PlatformScopeError(
        `Zenodo ${target.id} is a concept (all versions) record; request a version (latest is ${recordId})`,
      );
    }
    const access = record.metadata.access_right ?? 'open';
    if (access !== 'open') {
      const embargo = record.metadata.embargo_date ? ` until ${record.metadata.embargo_date}` : '';
      throw new PlatformRestrictedError(`Zenodo record ${recordId} access_right is "${access}"${embargo}`);
    }

    const md = record.metadata;
    return {
      platformName: 'zenodo',
      platformDomain: target.host,
      platformId: recordId,
      manifest: invenioManifest(record.files ?? [], 'Zenodo record', 'files'),
      archiveorgItemName: `${target.host}-${recordId}`,
      archiveorgItemMeta: {
        title: md.title,
        creator: md.creators?.map((c) => c.name).filter(Boolean),
        date: md.publication_date,
        doi: record.doi,
        license: md.license?.id,
        version: md.version,
        source: `https://${target.host}/records/${recordId}`,
      },
      platformBaseUrl: `https://${target.host}/records/${recordId}`,
      // Every record's files as one zip: today's API lists it as links.archive; records recorded
      // before 2023 do not list it, but Zenodo serves the same path for them.
      platformBundleUrl: record.links?.archive ?? `https://${target.host}/api/records/${recordId}/files-archive`,
    };
  },
};
