import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { chooseStrategy } from '../../src/strategies/chooser.js';

const thresholds = loadConfig({}).thresholds;
const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('chooseStrategy (the README defaults)', () => {
  it.each([
    ['one small file', [1000], null, 'web-file'],
    ['one 200 MiB file', [200 * MiB], null, 'archiveorg-file'],
    ['20 small files', Array(20).fill(1000), null, 'web-fileset'],
    ['21 small files', Array(21).fill(1000), null, 'archiveorg-fileset'],
    ['small set over 1 GiB', [(600 * MiB) / 8, ...Array(14).fill(80 * MiB)], null, 'archiveorg-fileset'],
    ['51 files with a bundle', Array(51).fill(1000), 'https://x/bundle', 'archiveorg-fileset-bundled'],
    ['50 files with a bundle', Array(50).fill(1000), 'https://x/bundle', 'archiveorg-fileset'],
    ['51 files, bundle, 5 GiB', Array(51).fill(100 * MiB), 'https://x/bundle', 'archiveorg-fileset'],
    ['unknown sizes count as 0', [null, undefined], null, 'web-fileset'],
  ] as const)('%s → %s', (_name, sizes, bundleUrl, expected) => {
    expect(chooseStrategy({ sizes: [...sizes], bundleUrl }, thresholds)).toBe(expected);
  });

  it('follows configured thresholds', () => {
    const custom = { ...thresholds, webMaxFiles: 100, bundleMinFiles: 10, webMaxTotalSize: 2 * GiB };
    expect(chooseStrategy({ sizes: Array(11).fill(1), bundleUrl: 'https://x/b' }, custom)).toBe('web-fileset-bundled');
  });
});
