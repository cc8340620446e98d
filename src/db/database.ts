// The one database interface: PostgreSQL (a pg.Pool) when FILESET_DATABASE_URL is set, otherwise an
// embedded PGlite under the data directory. Both speak the same SQL and return the same values.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Database } from './handle.js';

export type { Database } from './handle.js';

/**
 * PostgreSQL (pg.Pool) when config.databaseUrl is set; otherwise embedded PGlite persisted under
 * `<config.dataDir>/pglite`. Connection failures → InfrastructureError (password redacted).
 */
export async function openDatabase(config: Pick<Config, 'dataDir' | 'databaseUrl'>, logger: Logger): Promise<Database> {
  if (config.databaseUrl) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(config.databaseUrl, logger);
  }
  const { openPglite } = await import('./pglite.js');
  return openPglite(config.dataDir, logger);
}

/** Whether the embedded database of `dataDir` exists (commands that only read do not create it). */
export function embeddedDatabaseExists(dataDir: string): boolean {
  return existsSync(join(resolve(dataDir, 'pglite'), 'PG_VERSION'));
}
