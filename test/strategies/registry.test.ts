import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STRATEGY_NAMES } from '../../src/schemas/strategy-names.js';
import { STRATEGIES } from '../../src/strategies/registry.js';
import type { ArchiveStrategy } from '../../src/strategies/types.js';

const DIR = join(import.meta.dirname, '..', '..', 'src', 'strategies');
const SUPPORT = [
  'bundle.ts',
  'chooser.ts',
  'item-archiving.ts',
  'outcomes.ts',
  'registry.ts',
  'types.ts',
  'verify.ts',
  'warc-archiving.ts',
  'work-budget.ts',
  'work-dir.ts',
];

function isStrategy(value: unknown): value is ArchiveStrategy {
  return typeof value === 'object' && value !== null && 'checkExisting' in value && 'process' in value;
}

describe('strategy registry', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts') && !SUPPORT.includes(f));

  it.each(files)('%s is a strategy named after its file, registered under that name', async (file) => {
    const module = (await import(join(DIR, file))) as Record<string, unknown>;
    const strategies = Object.values(module).filter(isStrategy);
    expect(strategies).toHaveLength(1);
    const name = file.replace(/\.ts$/, '');
    expect(strategies[0]!.name).toBe(name);
    expect(STRATEGY_NAMES).toContain(name);
    expect(STRATEGIES[name as keyof typeof STRATEGIES]).toBe(strategies[0]);
  });

  it('registers only strategies that have a file', () => {
    expect(
      Object.keys(STRATEGIES)
        .map((n) => `${n}.ts`)
        .sort(),
    ).toEqual([...files].sort());
  });
});
