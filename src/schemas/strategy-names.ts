// The six archive strategies' wire names.
export const STRATEGY_NAMES = [
  'web-file',
  'web-fileset',
  'web-fileset-bundled',
  'archiveorg-file',
  'archiveorg-fileset',
  'archiveorg-fileset-bundled',
] as const;

export type StrategyName = (typeof STRATEGY_NAMES)[number];
