// The strategies that exist, by wire name; a chosen strategy missing here is `no-strategy-helper`.
// Every strategy file in this folder must be listed (test/strategies/registry.test.ts).
import { archiveorgFile } from './archiveorg-file.js';
import { archiveorgFileset } from './archiveorg-fileset.js';
import { archiveorgFilesetBundled } from './archiveorg-fileset-bundled.js';
import type { StrategyName } from '../schemas/strategy-names.js';
import type { ArchiveStrategy } from './types.js';
import { webFile } from './web-file.js';
import { webFileset } from './web-fileset.js';
import { webFilesetBundled } from './web-fileset-bundled.js';

export const STRATEGIES: Partial<Record<StrategyName, ArchiveStrategy>> = {
  'web-file': webFile,
  'web-fileset': webFileset,
  'web-fileset-bundled': webFilesetBundled,
  'archiveorg-file': archiveorgFile,
  'archiveorg-fileset': archiveorgFileset,
  'archiveorg-fileset-bundled': archiveorgFilesetBundled,
};
