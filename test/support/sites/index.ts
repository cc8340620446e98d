// Every platform site (test/support/sites/<platform>.ts), loaded by file name so that a new
// helper's site joins the shared suites without being listed anywhere.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformSite } from './types.js';

const DIR = import.meta.dirname;
const NOT_SITES = ['index.ts', 'types.ts'];

export async function loadSites(): Promise<PlatformSite[]> {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.ts') && !NOT_SITES.includes(f))
    .sort();
  return Promise.all(files.map(async (file) => ((await import(join(DIR, file))) as { site: PlatformSite }).site));
}
