// The generic `web` platform: a landing URL that is itself a file (not an HTML page) is a one-file dataset.
import { createHash } from 'node:crypto';
import { isHtml } from '../pipeline/mimetype.js';
import type { PlatformHelper, PlatformItem } from './types.js';

export const web: PlatformHelper = {
  name: 'web',

  matchRequest(_request, landing) {
    const capture = landing?.capture;
    if (!capture || landing.error) return false;
    const ok = capture.statusCode >= 200 && capture.statusCode < 300;
    return ok && !isHtml(capture.contentType ?? capture.fileMeta.mimetype);
  },

  async processRequest(request, landing): Promise<PlatformItem> {
    const capture = landing!.capture!;
    const url = new URL(capture.url);
    const name = decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '') || 'index';
    const urlHash = createHash('sha1').update(capture.url).digest('hex').slice(0, 16);
    return {
      platformName: 'web',
      platformDomain: url.hostname,
      platformId: capture.url,
      manifest: [
        {
          path: name,
          size: capture.fileMeta.size_bytes,
          md5: capture.fileMeta.md5hex,
          sha1: capture.fileMeta.sha1hex,
          sha256: capture.fileMeta.sha256hex,
          mimetype: capture.fileMeta.mimetype,
          platform_url: request.url,
          prefetched: capture,
        },
      ],
      archiveorgItemName: `web-${url.hostname}-${urlHash}`,
      archiveorgItemMeta: { source: capture.url },
      platformBaseUrl: capture.url,
      platformBundleUrl: null,
    };
  },
};
