// Prepares the empty embedded-database cluster new data directories start from (src/db/pglite.ts,
// PGLITE_SEED): PGlite's initdb done once, by `npm run build`, and redone only when the installed
// PGlite differs from the one that made the current seed. The migrations of sql/ are not in it:
// they are applied when a database opens, so the seed never lags behind sql/.
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { openPglite, PGLITE_SEED, pgliteVersion, type SeedStamp } from '../src/db/pglite.js';
import { createLogger } from '../src/logger.js';

const version = pgliteVersion();
const current = JSON.parse(await readFile(PGLITE_SEED.stamp, 'utf8').catch(() => '{}')) as Partial<SeedStamp>;
if (current.pglite !== version || !Array.isArray(current.directories)) {
  process.stderr.write(`preparing the embedded database seed (PGlite ${version}) in ${PGLITE_SEED.dir}\n`);
  const logger = createLogger('silent');
  const staging = await mkdtemp(join(dirname(PGLITE_SEED.dir), '.pglite-seed-'));
  try {
    await (await openPglite(staging, logger)).close();
    await rm(PGLITE_SEED.dir, { recursive: true, force: true });
    await rename(join(staging, 'pglite'), PGLITE_SEED.dir);
    const directories = (await readdir(PGLITE_SEED.dir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => relative(PGLITE_SEED.dir, join(entry.parentPath, entry.name)))
      .sort();
    const stamp: SeedStamp = { pglite: version, directories };
    await writeFile(PGLITE_SEED.stamp, `${JSON.stringify(stamp)}\n`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
