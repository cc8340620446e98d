// The embedded database's prepared seed (dist/pglite-seed, made by npm run build): a new data
// directory starts as a copy of it, also when the copy came through npm, which packs no empty
// directory.
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createCluster, openPglite, PGLITE_SEED, usableSeed } from '../../src/db/pglite.js';
import { silentLogger } from '../support/context.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fileset-seed-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Removes every empty directory under `dir`, deepest first, as npm pack leaves them out. */
async function dropEmptyDirectories(dir: string): Promise<number> {
  let dropped = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    dropped += await dropEmptyDirectories(path);
    if ((await readdir(path)).length === 0) {
      await rm(path, { recursive: true });
      dropped += 1;
    }
  }
  return dropped;
}

describe('the prepared database seed', () => {
  it('is there for this PGlite release, with every directory of the cluster listed', () => {
    const stamp = usableSeed();
    expect(stamp).not.toBeNull();
    expect(stamp!.directories).toEqual(expect.arrayContaining(['base', 'global', 'pg_wal', 'pg_wal/archive_status']));
  });

  it('opens a database from a copy that lost its empty directories on the way (npm pack)', async () => {
    const seed = { dir: join(scratch, 'packed'), stamp: join(scratch, 'packed.json') };
    await cp(PGLITE_SEED.dir, seed.dir, { recursive: true });
    await cp(PGLITE_SEED.stamp, seed.stamp);
    expect(await dropEmptyDirectories(seed.dir)).toBeGreaterThan(0);

    const dataDir = join(scratch, 'data');
    await mkdir(join(dataDir, 'pglite'), { recursive: true });
    await createCluster(join(dataDir, 'pglite'), silentLogger, seed);
    const db = await openPglite(dataDir, silentLogger);
    try {
      expect(await migrate(db, silentLogger)).toEqual([
        '001_capture_index',
        '002_sandcrawler_tables',
        '003_capture_record_ids',
        '004_request_budgets',
      ]);
      // Kept small: the default 128MB pool cost about 120 MB of resident memory (src/db/pglite.ts).
      expect(await db.query('SHOW shared_buffers')).toEqual([{ shared_buffers: '16MB' }]);
      await db.exec('CREATE TABLE scratch (x int); INSERT INTO scratch VALUES (1)');
      expect(await db.query('SELECT x FROM scratch')).toEqual([{ x: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('is not used by another PGlite release: the database is then made by initdb', async () => {
    const seed = { dir: PGLITE_SEED.dir, stamp: join(scratch, 'other.json') };
    await writeFile(seed.stamp, JSON.stringify({ pglite: '0.0.1', directories: [] }));
    expect(usableSeed(seed)).toBeNull();
    const dir = join(scratch, 'unseeded');
    await mkdir(dir);
    await createCluster(dir, silentLogger, seed);
    expect(await readdir(dir)).toEqual([]);
  });
});
