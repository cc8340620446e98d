// Applies the numbered SQL files in sql/ (001_name.sql, 002_name.sql, ...) once each, in order,
// each in its own transaction, and records them in schema_migrations.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import type { Database } from './database.js';

const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

// One key for every fileset-ingest migrator on a database: workers starting together queue on it
// instead of racing to create the same tables. Advisory locks are per database, so test databases
// do not contend with each other.
const MIGRATION_LOCK_KEY = 7_213_459_823_001;

const SCHEMA_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

export interface Migration {
  version: string; // the file name without .sql, e.g. "001_capture_index"
  path: string;
}

/**
 * Applies the pending migrations and returns the versions applied now ([] when up to date). Safe
 * to run from several processes at once: each migration runs under a transaction-scoped advisory
 * lock and re-checks schema_migrations after taking it.
 */
export async function migrate(db: Database, logger: Logger, sqlDir: string = sqlDirectory()): Promise<string[]> {
  const migrations = await listMigrations(sqlDir);
  const recorded = await db.transaction(async (tx) => {
    await lockMigrations(tx);
    return appliedVersions(tx);
  });
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...recorded].filter((v) => !known.has(v));
  if (unknown.length) {
    logger.warn(
      { versions: unknown, sqlDir },
      'database has migrations this version does not know (newer code ran here?)',
    );
  }

  const applied: string[] = [];
  for (const migration of migrations) {
    if (recorded.has(migration.version)) continue;
    const sql = await readFile(migration.path, 'utf8');
    const started = Date.now();
    const ran = await db.transaction(async (tx) => {
      await lockMigrations(tx);
      const rows = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (rows.length) return false; // another process applied it while we waited for the lock
      await tx.exec(sql);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
      return true;
    });
    if (ran) {
      applied.push(migration.version);
      logger.info({ version: migration.version, ms: Date.now() - started }, 'applied migration');
    }
  }
  return applied;
}

/** The migration files in sqlDir, in order. Other files (a README) are ignored. */
export async function listMigrations(sqlDir: string): Promise<Migration[]> {
  const names = (await readdir(sqlDir)).filter((name) => MIGRATION_FILE.test(name)).sort();
  const byNumber = new Map<string, string>();
  for (const name of names) {
    const number = name.slice(0, 3);
    const other = byNumber.get(number);
    if (other) throw new Error(`two migrations numbered ${number} in ${sqlDir}: ${other} and ${name}`);
    byNumber.set(number, name);
  }
  return names.map((name) => ({ version: name.slice(0, -'.sql'.length), path: join(sqlDir, name) }));
}

/** <package root>/sql, found from this module's location in src/db/ (tests) or dist/db/ (built). */
export function sqlDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up += 1) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'sql'))) return join(dir, 'sql');
    dir = dirname(dir);
  }
  throw new Error(`cannot find the sql/ directory above ${fileURLToPath(import.meta.url)}`);
}

/** Takes the migration lock (held until the transaction ends) and makes sure the ledger exists. */
async function lockMigrations(tx: Database): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
  await tx.exec(SCHEMA_MIGRATIONS);
}

async function appliedVersions(tx: Database): Promise<Set<string>> {
  const rows = await tx.query<{ version: string }>('SELECT version FROM schema_migrations');
  return new Set(rows.map((r) => r.version));
}
