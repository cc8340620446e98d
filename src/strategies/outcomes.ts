// What one file's archiving came to, and what a dataset's files come to: shared by every strategy
// and by the pipeline (an item that is already an archive).
import type { PlatformFile, PlatformItem } from '../platforms/types.js';
import type { CaptureResult, ManifestEntry } from '../schemas/index.js';
import type { FileStatus, Status } from '../schemas/statuses.js';

export interface FileOutcome {
  entry: ManifestEntry;
  capture?: CaptureResult;
  message?: string;
}

/** The wire form of an entry: internal fields dropped, hex digests in lower case (as consumers require). */
export function wireEntry(file: PlatformFile, status: FileStatus): ManifestEntry {
  const { prefetched: _prefetched, restricted: _restricted, ...entry } = file;
  for (const algorithm of ['md5', 'sha1', 'sha256'] as const) {
    const value = entry[algorithm];
    if (value && /^[0-9A-Fa-f]+$/.test(value)) entry[algorithm] = value.toLowerCase();
  }
  return { ...entry, status };
}

/** Every file as not processed (restricted ones as restricted): the bundle never got that far. */
export function unprocessed(item: PlatformItem) {
  return item.manifest.map((f) => wireEntry(f, f.restricted ? 'platform-restricted' : 'not-processed'));
}

/**
 * The dataset's status from its files: the first failing file decides; restricted files make an
 * otherwise complete set `success-partial`; only earlier copies make it `success-existing`.
 */
export function summarise(outcomes: FileOutcome[], success: Status): { status: Status; errorMessage?: string } {
  const failure = outcomes.find((o) => !['success', 'exists', 'platform-restricted'].includes(o.entry.status ?? ''));
  if (failure)
    return { status: failure.entry.status as Status, errorMessage: failure.message ?? failure.entry.status! };
  const restricted = outcomes.filter((o) => o.entry.status === 'platform-restricted');
  if (restricted.length === outcomes.length) {
    return { status: 'platform-restricted', errorMessage: 'every file is restricted by the platform' };
  }
  if (restricted.length) {
    return {
      status: 'success-partial',
      errorMessage: `${restricted.length} of ${outcomes.length} files are restricted`,
    };
  }
  if (outcomes.every((o) => o.entry.status === 'exists')) return { status: 'success-existing' };
  return { status: success };
}
