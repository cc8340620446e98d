// Any InvenioRDM installation other than Zenodo, found by what its landing page says: InvenioRDM
// answers a record page with FAIR signposting whose `describedby` links point at the record's API
// URL, typed application/vnd.inveniordm.v1+json. Files are read with Zenodo's code (invenio.ts).
import { z } from 'zod';
import { PlatformRestrictedError, PlatformScopeError } from '../errors.js';
import { expectOk, getApi, parseApi } from './api.js';
import { landingSignals } from './detect.js';
import { InvenioFileListing, invenioManifest } from './invenio.js';
import type { LandingPage, PlatformHelper, PlatformItem, PlatformRequest } from './types.js';
import { zenodoTarget } from './zenodo.js';

const RDM_JSON = 'application/vnd.inveniordm.v1+json';
const API_RECORD = /^\/api\/records\/([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\/?$/;

// GET <origin>/api/records/<id> (Accept: application/vnd.inveniordm.v1+json): only the fields we read.
const RdmRecord = z.object({
  id: z.string(),
  parent: z.object({ id: z.string() }).optional(),
  is_published: z.boolean().optional(),
  metadata: z.object({
    title: z.string().optional(),
    publication_date: z.string().optional(),
    version: z.string().optional(),
    creators: z.array(z.object({ person_or_org: z.object({ name: z.string().optional() }) })).optional(),
    rights: z.array(z.object({ id: z.string().optional() })).optional(),
  }),
  access: z.object({
    record: z.string(),
    files: z.string(),
    embargo: z
      .object({ active: z.boolean().optional(), until: z.string().nullish(), reason: z.string().nullish() })
      .optional(),
  }),
  files: z.object({ enabled: z.boolean() }),
  links: z.object({ self_html: z.string().optional(), files: z.string(), archive: z.string().optional() }),
  pids: z.object({ doi: z.object({ identifier: z.string() }).optional() }).optional(),
});

interface RdmTarget {
  origin: string;
  host: string;
  id: string;
  apiUrl: string;
}

/** The record API URL the landing page declares, when it is an InvenioRDM record page. */
export function inveniordmTarget(landing: LandingPage | null): RdmTarget | null {
  const link = landingSignals(landing).links.find(
    (l) => (l.rel === 'describedby' || l.rel === 'alternate') && l.type === RDM_JSON,
  );
  if (!link) return null;
  const url = new URL(link.href);
  const id = API_RECORD.exec(url.pathname)?.[1];
  return id ? { origin: url.origin, host: url.hostname, id, apiUrl: `${url.origin}/api/records/${id}` } : null;
}

function targetOf(request: PlatformRequest, landing: LandingPage | null): RdmTarget | null {
  // Zenodo is InvenioRDM too, but has its own helper (and its own record JSON).
  if (zenodoTarget(request.url) || (landing?.capture && zenodoTarget(landing.capture.url))) return null;
  return inveniordmTarget(landing);
}

export const inveniordm: PlatformHelper = {
  name: 'inveniordm',

  matchRequest(request, landing) {
    return targetOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx): Promise<PlatformItem> {
    const target = targetOf(request, landing)!;
    const what = `InvenioRDM record ${target.id} on ${target.host}`;
    const response = await getApi(ctx, target.apiUrl, { headers: { Accept: RDM_JSON } });
    expectOk(response, what);
    const record = parseApi(RdmRecord, response, 'InvenioRDM record');
    if (record.parent?.id === target.id && record.id !== target.id) {
      throw new PlatformScopeError(
        `${what} is a parent (all versions) record; request a version (latest is ${record.id})`,
      );
    }
    const { access } = record;
    if (access.record !== 'public' || access.files !== 'public') {
      const embargo = access.embargo?.active
        ? ` (embargoed until ${access.embargo.until ?? '?'}: ${access.embargo.reason ?? 'no reason given'})`
        : '';
      throw new PlatformRestrictedError(
        `${what}: record access "${access.record}", files access "${access.files}"${embargo}`,
      );
    }
    // A metadata-only record has no files: the empty manifest says so (empty-manifest).
    let manifest: PlatformItem['manifest'] = [];
    if (record.files.enabled) {
      const listing = await getApi(ctx, record.links.files, { headers: { Accept: 'application/json' } });
      expectOk(listing, `${what} files`);
      manifest = invenioManifest(
        parseApi(InvenioFileListing, listing, 'InvenioRDM file listing').entries,
        'InvenioRDM file listing',
        'entries',
      );
    }
    const md = record.metadata;
    const baseUrl = record.links.self_html ?? `${target.origin}/records/${record.id}`;
    return {
      platformName: 'inveniordm',
      platformDomain: target.host,
      platformId: record.id,
      manifest,
      archiveorgItemName: `${target.host}-${record.id}`,
      archiveorgItemMeta: {
        title: md.title,
        creator: md.creators?.map((c) => c.person_or_org.name).filter(Boolean),
        date: md.publication_date,
        doi: record.pids?.doi?.identifier,
        license: md.rights?.map((r) => r.id).find(Boolean),
        version: md.version,
        source: baseUrl,
      },
      platformBaseUrl: baseUrl,
      platformBundleUrl: record.files.enabled ? (record.links.archive ?? null) : null,
    };
  },
};
