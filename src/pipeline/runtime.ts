// Builds the pipeline's dependencies from configuration, and closes them in order.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../config.js';
import { migrate } from '../db/migrate.js';
import { embeddedDatabaseExists, openDatabase, type Database } from '../db/database.js';
import { SharedBudgets } from '../db/shared-budgets.js';
import { Budgets, type BudgetObserver } from '../http/budget.js';
import { HttpClient } from '../http/client.js';
import type { Logger } from '../logger.js';
import { openItemStore } from '../stores/items/index.js';
import { WorkBudget } from '../strategies/work-budget.js';
import { CaptureIndex } from '../stores/warc/capture-index.js';
import { openWarcDestination } from '../stores/warc/destination.js';
import { LOCAL_WARC_PREFIX } from '../stores/warc/location.js';
import { WarcShipper, type ShipObserver } from '../stores/warc/ship.js';
import { WarcWriter } from '../stores/warc/writer.js';
import type { IngestDeps } from './ingest.js';
import { removeStaleSpoolDirs, spoolDirName } from './spool-dirs.js';

export interface Runtime {
  deps: IngestDeps;
  db: Database;
  warcDir: string;
  /** Ships closed WARC files to FILESET_WARC_STORE; null when it is unset (or in a dry run). */
  shipper: WarcShipper | null;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /**
   * For inspect: write nothing under the data directory. Scratch files (and the embedded database,
   * when there is none yet) live in a temporary directory removed on close.
   */
  dryRun?: boolean;
  /** Told of every HTTP retry (an HTTP status or an error code) and the host: workers count them. */
  onHttpRetry?: (reason: string, host: string) => void;
  /** Told of request budget waits and 429 pauses: workers count them. */
  budgetObserver?: BudgetObserver;
  /** Told of WARC shipping (backlog, files shipped, failures): workers export it. */
  shipObserver?: ShipObserver;
  /** First HTTP retry delay before jitter and doubling (default 500 ms); tests shorten it. */
  httpRetryBaseDelayMs?: number;
}

export async function openRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const scratch = options.dryRun ? await mkdtemp(join(tmpdir(), 'fileset-inspect-')) : undefined;
  try {
    return await open(config, logger, options, scratch);
  } catch (err) {
    if (scratch) await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

async function open(
  config: Config,
  logger: Logger,
  options: RuntimeOptions,
  scratch: string | undefined,
): Promise<Runtime> {
  const dataDir = resolve(config.dataDir);
  const warcDir = join(scratch ?? dataDir, LOCAL_WARC_PREFIX);
  const tmpRoot = join(scratch ?? dataDir, 'tmp');
  const tmpDir = join(tmpRoot, spoolDirName());
  const workDir = join(scratch ?? dataDir, 'work');
  if (!scratch) await removeStaleSpoolDirs(tmpRoot, logger);
  await mkdir(tmpDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  // A misconfigured item store fails here, before anything else is opened.
  const items = await openItemStore(config, logger);
  let destination: Awaited<ReturnType<typeof openWarcDestination>>;
  try {
    destination = scratch ? null : await openWarcDestination(config, logger);
  } catch (err) {
    await items.close();
    throw err;
  }
  let db: Database;
  try {
    const nothingYet = scratch && !config.databaseUrl && !embeddedDatabaseExists(config.dataDir);
    db = await openDatabase(nothingYet ? { dataDir: scratch } : config, logger);
  } catch (err) {
    await destination?.close();
    await items.close();
    throw err;
  }
  try {
    await migrate(db, logger);
  } catch (err) {
    await db.close();
    await destination?.close();
    await items.close();
    throw err;
  }
  const shipper = destination
    ? new WarcShipper({
        dir: warcDir,
        destination,
        db,
        logger: logger.child({ module: 'warc-ship' }),
        ...(options.shipObserver ? { observer: options.shipObserver } : {}),
      })
    : null;
  const writer = await WarcWriter.open({
    dir: warcDir,
    prefix: config.warc.prefix,
    rolloverSize: config.warc.rolloverSize,
    gzipLevel: config.warc.gzipLevel,
    software: `fileset-ingest/${config.version}`,
    userAgent: config.userAgent,
    logger: logger.child({ module: 'warc' }),
    ...(shipper ? { onClosed: () => shipper.notify() } : {}),
  });
  // After the writer's recovery, so that files a crashed process left are shipped too.
  shipper?.start();
  // With a PostgreSQL server the request budgets are the fleet's; an embedded database is one process's.
  const { budgetObserver: observer } = options;
  const shared =
    db.kind === 'postgres'
      ? new SharedBudgets(db, { overrides: config.http.budgets, logger, ...(observer ? { observer } : {}) })
      : undefined;
  const budgets = shared ?? new Budgets(config.http.budgets, {}, observer);
  const http = new HttpClient({
    config,
    logger,
    budgets,
    ...(options.onHttpRetry ? { onRetry: options.onHttpRetry } : {}),
    ...(options.httpRetryBaseDelayMs !== undefined ? { retryBaseDelayMs: options.httpRetryBaseDelayMs } : {}),
  });
  const deps: IngestDeps = {
    config,
    logger,
    http,
    index: new CaptureIndex(db),
    writer,
    items,
    tmpDir,
    workDir,
    workBudget: new WorkBudget(config.items.workDirBudget),
    now: () => new Date(),
    ...(shipper ? { warcLocation: (name: string) => shipper.location(name) } : {}),
  };
  return {
    deps,
    db,
    warcDir,
    shipper,
    async close() {
      await writer.close();
      await shipper?.stop();
      await destination?.close();
      await items.close();
      await http.close();
      await shared?.close();
      await db.close();
      await rm(scratch ?? tmpDir, { recursive: true, force: true });
    },
  };
}
