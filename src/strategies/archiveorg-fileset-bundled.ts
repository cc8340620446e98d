// archiveorg-fileset-bundled: the platform's "download all" zip fetched once into the working
// directory (resumable, within the disk budget), its entries hashed and verified against the
// platform's manifest, and stored in the item as one file beside its interior manifest:
//   <item>/_bundle/<item>.zip                 the platform's zip, byte for byte
//   <item>/_bundle/<item>.zip.manifest.json   its entries: path, size, crc32, md5, sha1, sha256
// The interior manifest lets a later ingest say success-existing without reading the zip back.
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IngestError, ItemUploadError } from '../errors.js';
import type { PlatformFile, PlatformItem } from '../platforms/types.js';
import { type ItemFile } from '../stores/items/types.js';
import { itemMetadata, itemNameOf, NOT_CAPTURED } from './item-archiving.js';
import { fetchToWork, pruneEmptyDirs, removeWork, workPaths } from './work-dir.js';
import { bundleMaxBytes, matchBundle, readBundle, type BundleEntry } from './bundle.js';
import type { ArchiveStrategy, StrategyContext, StrategyResult } from './types.js';
import { summarise, unprocessed } from './outcomes.js';

const bundlePath = (itemName: string) => `_bundle/${itemName}.zip`;
const manifestPath = (itemName: string) => `${bundlePath(itemName)}.manifest.json`;

async function readStoredEntries(itemName: string, ctx: StrategyContext): Promise<BundleEntry[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of await ctx.items.readFile(itemName, manifestPath(itemName))) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as BundleEntry[];
}

function storedBundle(itemName: string, zip: ItemFile): StrategyResult['filesetBundle'] {
  return {
    file_meta: zip.sha256
      ? {
          size_bytes: zip.size,
          md5hex: zip.md5,
          sha1hex: zip.sha1,
          sha256hex: zip.sha256,
          mimetype: zip.mimetype ?? 'application/zip',
        }
      : null,
    terminal: null,
    cdx: null,
    revisit_cdx: null,
    archiveorg_bundle_path: bundlePath(itemName),
  };
}

export const archiveorgFilesetBundled: ArchiveStrategy = {
  name: 'archiveorg-fileset-bundled',

  /** The item holds the bundle and its interior manifest, and every open file matches it. */
  async checkExisting(item, ctx) {
    const itemName = itemNameOf(item);
    if (item.manifest.some((f) => f.restricted)) return null;
    const files = await ctx.items.listFiles(itemName, ctx.signal);
    const zip = files.find((f) => f.path === bundlePath(itemName));
    if (!zip || !files.some((f) => f.path === manifestPath(itemName))) return null;
    const outcomes = matchBundle(item.manifest, await readStoredEntries(itemName, ctx));
    if (outcomes.some((o) => o.entry.status !== 'success')) return null;
    return {
      status: 'success-existing',
      manifest: outcomes.map((o) => ({ ...o.entry, status: 'exists' as const })),
      filesetBundle: storedBundle(itemName, zip),
    };
  },

  async process(item, ctx): Promise<StrategyResult> {
    const url = item.platformBundleUrl;
    if (!url)
      return {
        status: 'error-platform-download',
        manifest: unprocessed(item),
        errorMessage: 'the platform gave no bundle URL',
      };
    const itemName = itemNameOf(item);
    const limit = Math.min(bundleMaxBytes(item, ctx.config), ctx.workBudget.total);
    const pseudo: PlatformFile = { path: bundlePath(itemName), platform_url: url, mimetype: 'application/zip' };
    const work = workPaths(ctx.workDir, itemName, pseudo.path);
    const signal = ctx.signal ?? new AbortController().signal;
    const release = await ctx.workBudget.reserve(limit, signal);
    try {
      const fetched = await fetchToWork(pseudo, work, {
        ctx: { ...ctx, signal },
        budget: `${item.platformName}:download`,
        limit,
      });
      if (!('meta' in fetched)) {
        await removeWork(work);
        return {
          status: 'error-platform-download',
          manifest: unprocessed(item),
          errorMessage: `the bundle ${url}: ${fetched.message ?? fetched.entry.status}`,
        };
      }
      // The zip was fetched, not captured over the web: no terminal names a capture of it.
      const filesetBundle = {
        file_meta: fetched.meta,
        terminal: null,
        cdx: null,
        revisit_cdx: null,
        archiveorg_bundle_path: null,
      };
      let entries: BundleEntry[];
      try {
        entries = await readBundle(work.done, ctx.config.bundle, signal);
      } catch (err) {
        if (!(err instanceof IngestError)) throw err;
        await removeWork(work);
        return { status: err.status, manifest: unprocessed(item), errorMessage: err.message, filesetBundle };
      }
      const outcomes = matchBundle(item.manifest, entries);
      for (const outcome of outcomes) ctx.onFileDone?.(outcome.entry, outcome.entry.size ?? 0);
      const { status, errorMessage } = summarise(outcomes, 'success');
      const failure = errorMessage ? { errorMessage } : {};
      if (status !== 'success' && status !== 'success-partial') {
        await removeWork(work);
        return { status, manifest: outcomes.map((o) => o.entry), filesetBundle, ...failure };
      }
      try {
        await storeBundle(item, itemName, work.done, fetched.meta, entries, ctx);
      } catch (err) {
        if (!(err instanceof ItemUploadError)) throw err; // an unreachable store: keep the work files for the retry
        await removeWork(work);
        return {
          status: 'error-archiveorg-upload',
          manifest: outcomes.map((o) => o.entry),
          filesetBundle,
          errorMessage: `the item store refused the bundle: ${err.message}`,
        };
      }
      await removeWork(work);
      return {
        status,
        manifest: outcomes.map((o) => ({ ...o.entry, ...NOT_CAPTURED })),
        // Relative to the item, as archive.org names it (`/download/<item>/<bundle path>`).
        filesetBundle: { ...filesetBundle, archiveorg_bundle_path: bundlePath(itemName) },
        note: {
          strategy: 'archiveorg-fileset-bundled',
          bundle: bundlePath(itemName),
          bundle_url: url,
          entries: entries.length,
          files: outcomes.length,
        },
        ...failure,
      };
    } finally {
      release();
      await pruneEmptyDirs(work.item).catch(() => undefined);
    }
  },
};

/** The zip, then its interior manifest (the manifest last: its presence says the bundle is whole). */
async function storeBundle(
  item: PlatformItem,
  itemName: string,
  zipPath: string,
  meta: { size_bytes: number; md5hex: string; sha1hex: string; sha256hex: string },
  entries: BundleEntry[],
  ctx: StrategyContext,
): Promise<void> {
  await ctx.items.setMetadata(itemName, itemMetadata(item));
  const zip = { path: bundlePath(itemName), source: zipPath, mimetype: 'application/zip' };
  await ctx.items.putFile(
    itemName,
    { ...zip, size: meta.size_bytes, md5: meta.md5hex, sha1: meta.sha1hex, sha256: meta.sha256hex },
    ctx.signal,
  );
  const json = Buffer.from(`${JSON.stringify(entries, null, 2)}\n`);
  const jsonPath = `${zipPath}.manifest.json`;
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, json);
  try {
    const hex = (alg: string) => createHash(alg).update(json).digest('hex');
    await ctx.items.putFile(
      itemName,
      {
        path: manifestPath(itemName),
        source: jsonPath,
        size: json.length,
        md5: hex('md5'),
        sha1: hex('sha1'),
        sha256: hex('sha256'),
        mimetype: 'application/json',
      },
      ctx.signal,
    );
  } finally {
    await rm(jsonPath, { force: true });
  }
}
