// Builds the pipeline's dependencies from configuration, and closes them in order.
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config.js';
import { migrate } from '../db/migrate.js';
import { openDatabase, type Database } from '../db/database.js';
import { HttpClient } from '../http/client.js';
import type { Logger } from '../logger.js';
import { CaptureIndex } from '../stores/warc/capture-index.js';
import { WarcWriter } from '../stores/warc/writer.js';
import type { IngestDeps } from './ingest.js';

export interface Runtime {
  deps: IngestDeps;
  db: Database;
  warcDir: string;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const dataDir = resolve(config.dataDir);
  const warcDir = join(dataDir, 'warcs');
  const tmpDir = join(dataDir, 'tmp', String(process.pid));
  await mkdir(tmpDir, { recursive: true });
  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
  } catch (err) {
    await db.close();
    throw err;
  }
  const writer = await WarcWriter.open({
    dir: warcDir,
    prefix: config.warc.prefix,
    rolloverSize: config.warc.rolloverSize,
    software: `fileset-ingest/${config.version}`,
    userAgent: config.userAgent,
    logger: logger.child({ module: 'warc' }),
  });
  const http = new HttpClient({ config, logger });
  const deps: IngestDeps = {
    config,
    logger,
    http,
    index: new CaptureIndex(db),
    writer,
    tmpDir,
    now: () => new Date(),
  };
  return {
    deps,
    db,
    warcDir,
    async close() {
      await writer.close();
      await http.close();
      await db.close();
      await rm(tmpDir, { recursive: true, force: true });
    },
  };
}
