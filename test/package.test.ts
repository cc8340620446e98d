// The npm package as `npm pack` makes it (run after `npm run build`, as `npm test` does): exactly
// what an installed fileset-ingest needs, nothing of the development tree.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('npm pack', () => {
  it('ships the CLI, the compiled code, the database seed, the migrations, README and LICENSE only', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      maxBuffer: 64 * 2 ** 20,
    });
    const [pack] = JSON.parse(stdout) as Array<{ name: string; files: Array<{ path: string; mode: number }> }>;
    const paths = pack!.files.map((f) => f.path);
    expect(pack!.name).toBe('fileset-ingest');
    for (const path of paths) expect(path).toMatch(/^(bin|dist|sql)\/|^(package\.json|README\.md|LICENSE)$/);
    expect(paths.filter((p) => /(^|\/)test\/|\.test\.|(^|\/)fixtures\//.test(p))).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'bin/fileset-ingest.js',
        'dist/cli.js',
        'dist/pglite-seed.json',
        'dist/pglite-seed/PG_VERSION',
        'sql/001_capture_index.sql',
        'sql/002_sandcrawler_tables.sql',
        'README.md',
        'LICENSE',
        'package.json',
      ]),
    );
    // The bin is executable once installed.
    expect(pack!.files.find((f) => f.path === 'bin/fileset-ingest.js')!.mode & 0o111).not.toBe(0);
  });

  it('pins PGlite exactly: the database seed in dist/ is only used by the release that made it', () => {
    const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const stamp = JSON.parse(readFileSync(join(root, 'dist', 'pglite-seed.json'), 'utf8')) as { pglite: string };
    expect(dependencies['@electric-sql/pglite']).toBe(stamp.pglite);
  });

  it('has the license package.json declares', () => {
    const { license } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string };
    expect(license).toBe('AGPL-3.0-or-later');
    const text = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(text).toMatch(/^GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007/);
    expect(text).toContain('or (at your option) any later version');
  });
});
