// The generic `web` platform: a landing URL that is itself a file (not an HTML page) is a one-file dataset.
import { createHash } from 'node:crypto';
import { isHtml } from '../mimetype.js';
import type { PlatformFile, PlatformHelper, PlatformItem } from './types.js';

function fileName(url: URL): string {
  const last = url.pathname.split('/').filter(Boolean).pop() ?? '';
  try {
    return decodeURIComponent(last) || 'index';
  } catch {
    return last || 'index';
  }
}

export const web: PlatformHelper = {
  name: 'web',

  matchRequest(_request, landing) {
    if (!landing || landing.error) return false;
    if (landing.unread) return true;
    const capture = landing.capture;
    const ok = capture !== undefined && capture.statusCode >= 200 && capture.statusCode < 300;
    return ok && !isHtml(capture.contentType ?? capture.fileMeta.mimetype);
  },

  async processRequest(request, landing): Promise<PlatformItem> {
    const { capture, unread } = landing!;
    const terminalUrl = capture?.url ?? unread!.url;
    const described: Omit<PlatformFile, 'path'> = capture
      ? {
          size: capture.fileMeta.size_bytes,
          md5: capture.fileMeta.md5hex,
          sha1: capture.fileMeta.sha1hex,
          sha256: capture.fileMeta.sha256hex,
          mimetype: capture.fileMeta.mimetype,
          prefetched: capture,
        }
      : { size: unread!.size, mimetype: unread!.contentType };
    const url = new URL(terminalUrl);
    const urlHash = createHash('sha1').update(terminalUrl).digest('hex').slice(0, 16);
    return {
      platformName: 'web',
      platformDomain: url.hostname,
      platformId: terminalUrl,
      manifest: [{ path: fileName(url), ...described, platform_url: request.url }],
      archiveorgItemName: `web-${url.hostname}-${urlHash}`,
      archiveorgItemMeta: { source: terminalUrl },
      platformBaseUrl: terminalUrl,
      platformBundleUrl: null,
    };
  },
};
