// Dataset limits applied to a manifest before anything is downloaded.
import type { Config } from '../config.js';
import { EmptyManifestError, TooLargeSizeError, TooManyFilesError } from '../errors.js';
import type { PlatformItem } from '../platforms/types.js';

export function applyLimits(item: PlatformItem, limits: Config['limits']): void {
  const count = item.manifest.length;
  if (count === 0) throw new EmptyManifestError(`${item.platformName} ${item.platformId} lists no files`);
  if (count > limits.maxFileCount) {
    throw new TooManyFilesError(`${count} files, more than the limit of ${limits.maxFileCount}`);
  }
  const total = item.manifest.reduce((sum, f) => sum + (f.size ?? 0), 0);
  if (total > limits.maxTotalSize) {
    throw new TooLargeSizeError(`${total} bytes in all, more than the limit of ${limits.maxTotalSize}`);
  }
}
