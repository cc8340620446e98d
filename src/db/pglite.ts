// Embedded PostgreSQL (PGlite, WebAssembly) persisted under <dataDir>/pglite. PGlite is a single
// backend that must never run twice on one directory: handles in this process share one instance
// (closed with the last handle), and a lock file next to the directory keeps other processes out.
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describeError, InfrastructureError } from '../errors.js';
import type { Logger } from '../logger.js';
import { guardFinished, parseInt8, withSavepoint, type Database } from './handle.js';

const INT8_OID = 20;

/**
 * An empty database cluster prepared by `npm run build` (scripts/pglite-seed.ts): a new database
 * starts as a copy of it instead of running initdb, which takes many seconds and near 1 GB.
 * `stamp` names the PGlite release that made it (another release's seed is not used) and lists
 * every directory of the cluster: npm packs no empty directory, and PostgreSQL needs them all.
 */
export const PGLITE_SEED = {
  dir: fileURLToPath(new URL('../../dist/pglite-seed', import.meta.url)),
  stamp: fileURLToPath(new URL('../../dist/pglite-seed.json', import.meta.url)),
};

/** The installed PGlite's version (its package.json is not exported, so it is read from disk). */
export function pgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface SeedStamp {
  pglite: string;
  /** Every directory of the cluster, relative to it. */
  directories: string[];
}

/** The seed's stamp when the seed is there and this PGlite release made it; otherwise null. */
export function usableSeed(seed = PGLITE_SEED): SeedStamp | null {
  try {
    const stamp = JSON.parse(readFileSync(seed.stamp, 'utf8')) as Partial<SeedStamp>;
    const usable =
      stamp.pglite === pgliteVersion() && Array.isArray(stamp.directories) && existsSync(join(seed.dir, 'PG_VERSION'));
    return usable ? (stamp as SeedStamp) : null;
  } catch {
    return null;
  }
}

/**
 * A new database directory (`dir`, created empty) starts as a copy of the prepared seed (staged, then renamed, so a crash
 * leaves no half copy); without a usable seed PGlite runs initdb, and we say so first.
 */
export async function createCluster(dir: string, logger: Logger, seed = PGLITE_SEED): Promise<void> {
  if (existsSync(join(dir, 'PG_VERSION'))) return;
  const stamp = usableSeed(seed);
  if (!stamp || (await readdir(dir)).length) {
    logger.warn(
      { dir },
      'creating the embedded database with initdb (no prepared seed: npm run build makes one); this takes a while',
    );
    return;
  }
  const staging = `${dir}.seeding`;
  await rm(staging, { recursive: true, force: true });
  await cp(seed.dir, staging, { recursive: true });
  for (const directory of stamp.directories) await mkdir(join(staging, directory), { recursive: true });
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  logger.debug({ dir }, 'created the embedded database from the prepared seed');
}

interface Shared {
  instance: Promise<PGlite>;
  handles: number;
}

// Keyed by absolute directory: the one place that knows which PGlite instances this process runs.
const running = new Map<string, Shared>();
const closing = new Map<string, Promise<void>>();

export async function openPglite(dataDir: string, logger: Logger): Promise<Database> {
  const dir = resolve(dataDir, 'pglite');
  await closing.get(dir)?.catch(() => undefined);
  const shared = running.get(dir) ?? share(dir, start(dir, logger));
  shared.handles += 1;
  let pglite: PGlite;
  try {
    pglite = await shared.instance;
  } catch (err) {
    shared.handles -= 1;
    throw err;
  }

  let closed = false;
  const open = (): PGlite => {
    if (closed) throw new Error('database handle is closed');
    return pglite;
  };
  return {
    kind: 'pglite',
    query: async <T>(sql: string, params?: unknown[]) => (await open().query<T>(sql, params)).rows,
    exec: async (sql) => {
      await open().exec(sql);
    },
    transaction: async (fn) =>
      open().transaction(async (tx) => {
        let done = false;
        try {
          return await fn(guardFinished(onTransaction(tx, 1), () => done));
        } finally {
          done = true;
        }
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      shared.handles -= 1;
      if (shared.handles > 0) return;
      running.delete(dir);
      const stopping = stop(dir, pglite, logger).finally(() => closing.delete(dir));
      closing.set(dir, stopping);
      await stopping;
    },
  };
}

function share(dir: string, instance: Promise<PGlite>): Shared {
  const shared: Shared = { instance, handles: 0 };
  running.set(dir, shared);
  instance.catch(() => {
    if (running.get(dir) === shared) running.delete(dir);
  });
  return shared;
}

function onTransaction(tx: Transaction, depth: number): Database {
  const self: Database = {
    kind: 'pglite',
    query: async <T>(sql: string, params?: unknown[]) => (await tx.query<T>(sql, params)).rows,
    exec: async (sql) => {
      await tx.exec(sql);
    },
    transaction: (fn) => withSavepoint(self, depth, fn, (d) => onTransaction(tx, d)),
    close: async () => {
      throw new Error('close the database, not a transaction handle');
    },
  };
  return self;
}

/**
 * PostgreSQL's default 128MB of shared buffers live in the WebAssembly heap and are touched as the
 * buffer pool fills: opening the seeded database took 280 MB RSS with them and 160 MB with 16MB
 * (290-340 MB and 185-195 MB after 6 MB of inserts, same machine). One process's capture index and
 * budgets are far smaller than that; the file system cache keeps the rest warm. Given on the command
 * line, beside PGlite's own parameters: its postgresqlconf option would replace postgresql.conf.
 */
const PGLITE_PARAMS = ['-c', 'shared_buffers=16MB'];

async function start(dir: string, logger: Logger): Promise<PGlite> {
  const lockPath = `${dir}.lock`;
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new InfrastructureError(`cannot create PGlite directory ${dir}: ${describeError(err)}`, { cause: err });
  }
  await acquireLock(lockPath, dir);
  const started = Date.now();
  try {
    await createCluster(dir, logger);
    const pglite = await PGlite.create(dir, {
      parsers: { [INT8_OID]: parseInt8 },
      startParams: [...PGlite.defaultStartParams, ...PGLITE_PARAMS],
    });
    logger.info({ dir, ms: Date.now() - started }, 'opened embedded PGlite database');
    return pglite;
  } catch (err) {
    await rm(lockPath, { force: true });
    throw new InfrastructureError(`cannot open PGlite database in ${dir}: ${describeError(err)}`, { cause: err });
  }
}

async function stop(dir: string, pglite: PGlite, logger: Logger): Promise<void> {
  try {
    await pglite.close();
  } finally {
    await rm(`${dir}.lock`, { force: true });
    logger.debug({ dir }, 'closed embedded PGlite database');
  }
}

/**
 * Creates `<dir>.lock` holding our pid. A lock whose process is gone is stale and replaced; so is
 * one holding our own pid (this process's instances are all in `running`, so it is a leftover from
 * an earlier process that had the same pid, as PID 1 in a container has after every restart).
 * Limit: pids are only checked on this host and PID namespace.
 */
async function acquireLock(lockPath: string, dir: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new InfrastructureError(`cannot lock PGlite directory ${dir}: ${describeError(err)}`, { cause: err });
      }
    }
    const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (attempt > 0 || (holder > 0 && holder !== process.pid && isAlive(holder))) {
      throw new InfrastructureError(
        `PGlite database ${dir} is in use by process ${Number.isNaN(holder) ? '?' : holder}: PGlite serves one ` +
          `process at a time (set FILESET_DATABASE_URL to share a PostgreSQL database between processes)`,
      );
    }
    await rm(lockPath, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
