import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_NAMES, envDefault } from '../../src/config.js';
import { STATUSES } from '../../src/schemas/statuses.js';

const ROOT = join(import.meta.dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function tableNames(marker: string): string[] {
  const section = README.split(`<!-- ${marker}:start -->`)[1]?.split(`<!-- ${marker}:end -->`)[0] ?? '';
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

describe('README mirrors the code', () => {
  it('lists every status, in the order of STATUSES, and no other', () => {
    expect(tableNames('statuses')).toEqual([...STATUSES]);
  });

  it('documents every configuration variable in the README and .env.example', () => {
    expect(tableNames('config')).toEqual([...ENV_NAMES]);
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const inExample = [...example.matchAll(/^#?\s*(FILESET_[A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(inExample).toEqual([...ENV_NAMES]);
  });

  it('gives the default of every variable whose schema declares one', () => {
    const section = README.split('<!-- config:start -->')[1]?.split('<!-- config:end -->')[0] ?? '';
    const documented = new Map(
      [...section.matchAll(/^\| `([^`]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]),
    );
    const declared = ENV_NAMES.map((name) => [name, envDefault(name)] as const).filter(([, value]) => value);
    expect(declared.length).toBeGreaterThan(30);
    for (const [name, value] of declared) expect(`${name}: ${documented.get(name)}`).toBe(`${name}: \`${value}\``);
  });
});
