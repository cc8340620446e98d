// Figshare: article URLs on figshare.com and every *.figshare.com institutional portal, the
// api.figshare.com article endpoints and 10.6084/m9.figshare.<id> DOIs, read through the v2 API.
import { z } from 'zod';
import { PlatformError, PlatformRestrictedError, PlatformScopeError } from '../errors.js';
import { expectOk, getApi, parseApi } from './api.js';
import type {
  LandingPage,
  PlatformContext,
  PlatformFile,
  PlatformHelper,
  PlatformItem,
  PlatformRequest,
} from './types.js';

const API = 'https://api.figshare.com/v2';
const BUNDLE = 'https://ndownloader.figshare.com/articles';
const API_PATH = /^\/v2\/articles\/(\d+)(?:\/versions\/(\d+))?\/?$/;
const DOI_PATH = /^\/10\.6084\/m9\.figshare\.(\d+)(?:\.v(\d+))?$/i;
// Pages that name something other than one public article: an owner's private view, a private
// share link, a collection or a project of many articles.
const NOT_AN_ARTICLE: Array<[RegExp, string]> = [
  [/^\/account\//, 'account (private, login-only) page'],
  [/^\/s\/[^/]+/, 'private share link'],
  [/^\/collections\//, 'collection of articles'],
  [/^\/projects\//, 'project of articles'],
];

// GET https://api.figshare.com/v2/articles/<id>[/versions/<v>]: only the fields we read.
const FigshareFile = z.object({
  id: z.union([z.number(), z.string()]),
  name: z.string(),
  size: z.number().int().nonnegative(),
  is_link_only: z.boolean().optional(),
  download_url: z.string().nullish(),
  supplied_md5: z.string().nullish(),
  computed_md5: z.string().nullish(),
  mimetype: z.string().optional(),
});

const FigshareArticle = z.object({
  id: z.union([z.number(), z.string()]),
  version: z.number().int().nonnegative(),
  title: z.string().optional(),
  doi: z.string().nullish(),
  published_date: z.string().nullish(),
  authors: z.array(z.object({ full_name: z.string().optional() })).optional(),
  license: z.object({ name: z.string().optional() }).nullish(),
  status: z.string().optional(),
  is_public: z.boolean().optional(),
  is_embargoed: z.boolean().optional(),
  embargo_date: z.string().nullish(),
  embargo_type: z.string().nullish(),
  embargo_reason: z.string().nullish(),
  download_disabled: z.boolean().optional(),
  url_public_html: z.string().nullish(),
  files: z.array(FigshareFile),
});

type FigshareArticle = z.infer<typeof FigshareArticle>;

export interface FigshareTarget {
  /** The public host: an institutional portal's own host, else figshare.com. */
  domain: string;
  /** Article id (absent for pages out of scope). */
  id?: string;
  version?: string;
  /** Set when the URL is on figshare but names no public article. */
  outOfScope?: string;
  fromDoi?: boolean;
}

const isNumber = (segment: string | undefined): segment is string => segment !== undefined && /^\d+$/.test(segment);

/**
 * The article named by the path segments after /articles/: `<id>`, `<slug>/<id>[/<v>]` (older)
 * or `<type>/<slug>/<id>[/<v>]`. In `<a>/<n1>/<n2>` a version is smaller than its article id,
 * which tells `<slug>/<id>/<v>` from `<type>/<numeric slug>/<id>`.
 */
function articleIn(segments: string[]): { id: string; version?: string } | null {
  const [a, b, c, d] = segments;
  switch (segments.length) {
    case 1:
      return isNumber(a) ? { id: a } : null;
    case 2:
      return isNumber(b) ? { id: b } : null;
    case 3:
      if (isNumber(b) && isNumber(c) && Number(c) < Number(b)) return { id: b, version: c };
      return isNumber(c) ? { id: c } : null;
    case 4:
      return isNumber(c) && isNumber(d) ? { id: c, version: d } : null;
    default:
      return null;
  }
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** What a URL names on figshare, if it is a figshare article, API, DOI or out-of-scope URL. */
export function figshareTarget(url: string): FigshareTarget | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const host = parsed.hostname.toLowerCase();
  if (host === 'doi.org' || host === 'dx.doi.org') {
    const match = DOI_PATH.exec(safeDecode(parsed.pathname));
    return match
      ? { domain: 'figshare.com', id: match[1]!, ...(match[2] ? { version: match[2] } : {}), fromDoi: true }
      : null;
  }
  if (host === 'api.figshare.com') {
    const match = API_PATH.exec(parsed.pathname);
    return match ? { domain: 'figshare.com', id: match[1]!, ...(match[2] ? { version: match[2] } : {}) } : null;
  }
  // ndownloader serves file bodies and the "download all" zip: a file, not a dataset landing page.
  if ((host !== 'figshare.com' && !host.endsWith('.figshare.com')) || host === 'ndownloader.figshare.com') return null;
  const domain = host === 'www.figshare.com' ? 'figshare.com' : host;
  for (const [pattern, what] of NOT_AN_ARTICLE) {
    if (pattern.test(parsed.pathname)) return { domain, outOfScope: what };
  }
  const segments = parsed.pathname.split('/').filter(Boolean);
  if (segments[0] !== 'articles') return null;
  const article = articleIn(segments.slice(1));
  return article ? { domain, ...article } : null;
}

/** The request URL decides the article; the landing page we reached may name the portal. */
function targetOf(request: PlatformRequest, landing: LandingPage | null): FigshareTarget | null {
  const reached = landing?.capture ? figshareTarget(landing.capture.url) : null;
  const direct = figshareTarget(request.url);
  if (!direct) return reached;
  if (direct.fromDoi && reached && reached.id === direct.id) return { ...direct, domain: reached.domain };
  return direct;
}

const MD5 = /^[0-9a-f]{32}$/i;

function md5Of(file: z.infer<typeof FigshareFile>): { md5?: string } {
  const md5 = [file.computed_md5, file.supplied_md5].find((v): v is string => !!v && MD5.test(v));
  return md5 ? { md5: md5.toLowerCase() } : {};
}

function manifestOf(article: FigshareArticle): PlatformFile[] {
  return article.files.map((file) => {
    const linkOnly = file.is_link_only === true;
    const disabled = article.download_disabled === true;
    return {
      path: file.name,
      size: file.size,
      ...md5Of(file),
      ...(file.mimetype ? { mimetype: file.mimetype } : {}),
      platform_url: file.download_url || `https://ndownloader.figshare.com/files/${file.id}`,
      extra: {
        figshare_file_id: file.id,
        ...(linkOnly ? { link_only: true } : {}),
        ...(disabled ? { download_disabled: true } : {}),
      },
      ...(linkOnly || disabled ? { restricted: true } : {}),
    };
  });
}

function refuseRestricted(article: FigshareArticle, id: string): void {
  if (article.is_public === false) {
    throw new PlatformRestrictedError(`Figshare article ${id} is not public (status "${article.status ?? 'unknown'}")`);
  }
  if (article.is_embargoed === true) {
    const facts = [
      article.embargo_type && `embargo_type "${article.embargo_type}"`,
      article.embargo_date && `until ${article.embargo_date}`,
      article.embargo_reason && `reason "${article.embargo_reason}"`,
    ].filter(Boolean);
    throw new PlatformRestrictedError(
      `Figshare article ${id} is embargoed${facts.length ? ` (${facts.join(', ')})` : ''}`,
    );
  }
}

export const figshare: PlatformHelper = {
  name: 'figshare',

  matchRequest(request, landing) {
    return targetOf(request, landing) !== null;
  },

  async processRequest(request, landing, ctx: PlatformContext): Promise<PlatformItem> {
    const target = targetOf(request, landing)!;
    if (target.outOfScope || !target.id) {
      throw new PlatformScopeError(`${request.url} is a figshare ${target.outOfScope ?? 'page'}, not a public article`);
    }
    const path = target.version ? `${target.id}/versions/${target.version}` : target.id;
    const what = `Figshare article ${path}`;
    const response = await getApi(ctx, `${API}/articles/${path}`);
    expectOk(response, what);
    const article = parseApi(FigshareArticle, response, 'Figshare article');
    const id = String(article.id);
    const version = String(article.version);
    if (id !== target.id || (target.version !== undefined && version !== target.version)) {
      throw new PlatformError(`${what}: the API described article ${id} version ${version} instead`);
    }
    refuseRestricted(article, id);

    const baseUrl = article.url_public_html || `https://${target.domain}/articles/_/${id}`;
    return {
      platformName: 'figshare',
      platformDomain: target.domain,
      platformId: id,
      manifest: manifestOf(article),
      archiveorgItemName: `${target.domain}-${id}-v${version}`,
      archiveorgItemMeta: {
        title: article.title,
        creator: article.authors?.map((a) => a.full_name).filter(Boolean),
        doi: article.doi || undefined,
        date: article.published_date ?? undefined,
        license: article.license?.name,
        version: article.version,
        source: baseUrl,
      },
      platformBaseUrl: baseUrl,
      platformBundleUrl: `${BUNDLE}/${id}/versions/${version}`,
    };
  },
};
