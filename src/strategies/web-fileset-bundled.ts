// web-fileset-bundled: the platform's "download all" zip captured once into the WARC store, its
// entries hashed and verified against the platform's manifest.
import { rm } from 'node:fs/promises';
import { BodyTooLargeError, IngestError, InfrastructureError } from '../errors.js';
import { followRedirects } from '../http/redirects.js';
import type { PlatformItem } from '../platforms/types.js';
import { captureResponse, type CapturedResponse } from '../capture/web-capture.js';
import { bundleMaxBytes, matchBundle, readBundle } from './bundle.js';
import type { ArchiveStrategy, StrategyContext, StrategyResult } from './types.js';
import { summarise, unprocessed } from './outcomes.js';
import { webFileset } from './web-fileset.js';

async function fetchBundle(url: string, item: PlatformItem, ctx: StrategyContext): Promise<CapturedResponse> {
  const signal = ctx.signal ? { signal: ctx.signal } : {};
  const { final } = await followRedirects(ctx.http, url, {
    maxRedirects: ctx.config.http.maxRedirects,
    // Downloads count against the platform's download budget, apart from its API budget.
    budget: `${item.platformName}:download`,
    ...signal,
    onHop: async (hop) => void (await captureResponse(ctx.capture, hop, signal)),
  });
  return captureResponse(ctx.capture, final, {
    maxBytes: bundleMaxBytes(item, ctx.config),
    keepBody: 'file',
    ...signal,
  });
}

export const webFilesetBundled: ArchiveStrategy = {
  name: 'web-fileset-bundled',

  /**
   * The same rule as web-fileset: every file already captured with matching size and hashes. A
   * bundle's interior cannot be read back from the WARC cheaply, so an earlier bundle capture does
   * not count: the bundle is fetched again, and identical bytes become a revisit record, not a copy.
   */
  checkExisting(item, ctx) {
    return webFileset.checkExisting(item, ctx);
  },

  async process(item, ctx): Promise<StrategyResult> {
    const url = item.platformBundleUrl;
    if (!url)
      return {
        status: 'error-platform-download',
        manifest: unprocessed(item),
        errorMessage: 'the platform gave no bundle URL',
      };
    let captured: CapturedResponse;
    try {
      captured = await fetchBundle(url, item, ctx);
    } catch (err) {
      if (ctx.signal?.aborted || err instanceof InfrastructureError || !(err instanceof IngestError)) throw err;
      const message =
        err instanceof BodyTooLargeError
          ? `the bundle ${url} is larger than the ${bundleMaxBytes(item, ctx.config)} bytes its files can explain`
          : `the bundle ${url}: ${err.message}`;
      return { status: 'error-platform-download', manifest: unprocessed(item), errorMessage: message };
    }
    const filesetBundle = {
      file_meta: captured.fileMeta,
      terminal: captured.terminal,
      cdx: captured.cdx,
      revisit_cdx: captured.revisitCdx,
      archiveorg_bundle_path: null,
    };
    try {
      if (captured.statusCode < 200 || captured.statusCode >= 300) {
        const errorMessage = `the bundle: HTTP ${captured.statusCode} from ${captured.url}`;
        return { status: 'error-platform-download', manifest: unprocessed(item), errorMessage, filesetBundle };
      }
      const entries = await readBundle(captured.bodyPath!, ctx.config.bundle, ctx.signal);
      const outcomes = matchBundle(item.manifest, entries);
      for (const outcome of outcomes) ctx.onFileDone?.(outcome.entry, outcome.entry.size ?? 0);
      const { status, errorMessage } = summarise(outcomes, 'success');
      return {
        status,
        manifest: outcomes.map((o) => o.entry),
        filesetBundle,
        ...(errorMessage ? { errorMessage } : {}),
      };
    } catch (err) {
      // A zip that is unsafe, a bomb, encrypted or corrupt is the dataset's status; its capture stays.
      if (ctx.signal?.aborted || !(err instanceof IngestError)) throw err;
      return { status: err.status, manifest: unprocessed(item), errorMessage: err.message, filesetBundle };
    } finally {
      if (captured.bodyPath) await rm(captured.bodyPath, { force: true });
    }
  },
};
