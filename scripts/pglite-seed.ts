// Prepares the embedded-database cluster new data directories start from (src/db/pglite.ts,
// PGLITE_SEED): initdb and the migrations of sql/ done once, by `npm run build`, and redone only
// when the installed PGlite differs from the one that made the current seed (migrations added
// later are applied when a database opens, as for any existing database).
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { migrate } from '../src/db/migrate.js';
import { openPglite, PGLITE_SEED, pgliteVersion } from '../src/db/pglite.js';
import { createLogger } from '../src/logger.js';

const version = pgliteVersion();
const current = await readFile(PGLITE_SEED.stamp, 'utf8').catch(() => '{}');
if ((JSON.parse(current) as { pglite?: string }).pglite !== version) {
  process.stderr.write(`preparing the embedded database seed (PGlite ${version}) in ${PGLITE_SEED.dir}\n`);
  const logger = createLogger('silent');
  const staging = await mkdtemp(join(dirname(PGLITE_SEED.dir), '.pglite-seed-'));
  try {
    const db = await openPglite(staging, logger);
    try {
      await migrate(db, logger);
    } finally {
      await db.close();
    }
    await rm(PGLITE_SEED.dir, { recursive: true, force: true });
    await rename(join(staging, 'pglite'), PGLITE_SEED.dir);
    await writeFile(PGLITE_SEED.stamp, `${JSON.stringify({ pglite: version })}\n`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
