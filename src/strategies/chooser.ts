// Choosing a strategy: a pure function of file count, sizes and whether a bundle URL exists.
import type { Config } from '../config.js';
import type { StrategyName } from '../schemas/strategy-names.js';

export interface ChooserInput {
  sizes: ReadonlyArray<number | null | undefined>;
  bundleUrl: string | null;
}

export function chooseStrategy(input: ChooserInput, thresholds: Config['thresholds']): StrategyName {
  const count = input.sizes.length;
  let total = 0;
  let largest = 0;
  for (const size of input.sizes) {
    total += size ?? 0;
    largest = Math.max(largest, size ?? 0);
  }
  const backend =
    count <= thresholds.webMaxFiles && total <= thresholds.webMaxTotalSize && largest <= thresholds.webMaxFileSize
      ? 'web'
      : 'archiveorg';
  if (count === 1) return `${backend}-file`;
  if (input.bundleUrl && count > thresholds.bundleMinFiles && total <= thresholds.bundleMaxTotalSize) {
    return `${backend}-fileset-bundled`;
  }
  return `${backend}-fileset`;
}
