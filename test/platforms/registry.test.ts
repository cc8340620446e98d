import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLATFORMS } from '../../src/platforms/registry.js';
import type { PlatformHelper } from '../../src/platforms/types.js';

const DIR = join(import.meta.dirname, '..', '..', 'src', 'platforms');
/** Modules of the folder that are not helpers. */
const SUPPORT = ['api.ts', 'detect.ts', 'invenio.ts', 'registry.ts', 'types.ts'];

function isHelper(value: unknown): value is PlatformHelper {
  return typeof value === 'object' && value !== null && 'matchRequest' in value && 'processRequest' in value;
}

describe('platform registry', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts') && !SUPPORT.includes(f));

  it.each(files)('%s exports one helper named after the file, and it is registered', async (file) => {
    const module = (await import(join(DIR, file))) as Record<string, unknown>;
    const helpers = Object.values(module).filter(isHelper);
    expect(helpers).toHaveLength(1);
    expect(helpers[0]!.name).toBe(file.replace(/\.ts$/, ''));
    expect(PLATFORMS).toContain(helpers[0]);
  });

  it('registers nothing without a file, and ends with the generic web helper', () => {
    expect(PLATFORMS.map((p) => `${p.name}.ts`).sort()).toEqual([...files].sort());
    expect(PLATFORMS.at(-1)!.name).toBe('web');
  });
});
