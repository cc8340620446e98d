// `fileset-ingest verify [--since T] [--metrics-file F]`: a fixity audit of the data directory
// from its files alone (no database): every closed WARC file under warcs/ and in the WARC store,
// and every item of the fs or s3 item store. One line per problem, then a summary; exit 1 on any problem.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { verifyMetricsText } from '../metrics.js';
import { FsItemAudit } from '../stores/items/fs-audit.js';
import { WarcAudit } from '../stores/warc/audit.js';
import { openWarcDestination } from '../stores/warc/destination.js';
import { LOCAL_WARC_PREFIX } from '../stores/warc/location.js';
import { warcFileNames } from '../stores/warc/files.js';

export { verifyUsage as usage } from './usage.js';

/** The audit of the configured item store: fs and s3 (the AWS SDK loaded only for s3); none for ias3. */
async function itemAudit(config: Config, logger: Logger) {
  const store = config.items.store;
  if (store.kind === 'fs') return new FsItemAudit(store.root);
  if (store.kind !== 's3') return undefined;
  const { S3ItemAudit } = await import('../stores/items/s3-audit.js');
  const log = logger.child({ module: 'items', store: 's3' });
  return new S3ItemAudit({ bucket: store.bucket, prefix: store.prefix, s3: config.s3, logger: log });
}

export interface VerifyOptions {
  since?: string;
  metricsFile?: string;
  output?: NodeJS.WritableStream;
}

/**
 * The WARC files shipped to FILESET_WARC_STORE, audited where they are: in place for fs://, each
 * downloaded to a temporary file for s3:// (archive.org items are not listed: not audited).
 * Returns how many were audited.
 */
async function auditWarcStore(config: Config, logger: Logger, warcs: WarcAudit, since?: Date): Promise<number> {
  if (!config.warc.store) return 0;
  const destination = await openWarcDestination(config, logger);
  if (!destination) return 0;
  let audited = 0;
  const temp = await mkdtemp(join(tmpdir(), 'fileset-verify-'));
  try {
    if (!destination.list) {
      logger.warn({ store: destination.kind }, 'the WARC store cannot be listed: shipped WARC files are not audited');
      return 0;
    }
    for (const { location, modified } of await destination.list()) {
      if (since && modified.getTime() < since.getTime()) continue;
      if (destination.kind === 'fs') {
        await warcs.file(destination.describe(location), location);
      } else {
        const path = join(temp, 'shipped.warc.gz');
        await pipeline(await destination.read(location), createWriteStream(path));
        await warcs.file(path, location);
        await rm(path, { force: true });
      }
      audited += 1;
    }
    return audited;
  } finally {
    await rm(temp, { recursive: true, force: true });
    await destination.close();
  }
}

export function parseSince(text: string): Date {
  const date = /^\d+$/.test(text) ? new Date(Number(text) * 1000) : new Date(text);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--since ${text}: not a date, time or Unix time stamp`);
  return date;
}

export async function run(
  config: Config,
  logger: Logger,
  args: string[],
  options: VerifyOptions = {},
): Promise<number> {
  if (args.length) throw new UsageError('verify takes no arguments');
  const since = options.since === undefined ? undefined : parseSince(options.since);
  const output = options.output ?? process.stdout;
  const started = process.hrtime.bigint();

  const warcDir = join(resolve(config.dataDir), LOCAL_WARC_PREFIX);
  const warcs = new WarcAudit(since !== undefined);
  for (const name of await warcFileNames(warcDir)) {
    const path = join(warcDir, name);
    if (since && (await stat(path)).mtimeMs < since.getTime()) continue;
    await warcs.file(path, name);
  }
  const shipped = await auditWarcStore(config, logger, warcs, since);
  warcs.finish();

  const store = config.items.store;
  const items = await itemAudit(config, logger);
  if (items) {
    try {
      for (const name of await items.itemNames()) {
        if (since && !(await items.changedSince(name, since))) continue;
        await items.item(name);
      }
      if (!since && items instanceof FsItemAudit) await items.blobs();
    } finally {
      if (!(items instanceof FsItemAudit)) await items.close();
    }
  } else {
    logger.warn({ store: store.kind }, 'items in an ias3 store are not audited');
  }

  // What crash recovery set aside (a file without one complete record) is known damage: say so.
  const setAside = (await readdir(warcDir).catch(() => [] as string[])).filter((n) => n.endsWith('.warc.gz.corrupt'));
  const problems = [
    ...setAside.map((name) => ({ where: name, message: 'set aside by crash recovery: no complete record' })),
    ...warcs.problems,
    ...(items?.problems ?? []),
  ];
  let text = problems.map((p) => `${p.where}: ${p.message}\n`).join('');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = {
    warc_files: warcs.files,
    shipped_warc_files: shipped,
    records: warcs.records,
    payload_bytes: warcs.payloadBytes,
    items: items?.items ?? 0,
    item_files: items?.files ?? 0,
    problems: problems.length,
    unchecked_revisits: warcs.uncheckedRevisits,
    seconds: Math.round(seconds * 1000) / 1000,
  };
  text += `${JSON.stringify(summary)}\n`;
  output.write(text);
  if (options.metricsFile) {
    const metrics = await verifyMetricsText({
      warcFiles: summary.warc_files,
      records: summary.records,
      payloadBytes: summary.payload_bytes,
      items: summary.items,
      itemFiles: summary.item_files,
      problems: summary.problems,
      seconds,
      finished: new Date(),
    });
    const temp = `${options.metricsFile}.tmp-${process.pid}`;
    await writeFile(temp, metrics);
    await rename(temp, options.metricsFile);
  }
  logger.info(summary, 'verify finished');
  return problems.length ? 1 : 0;
}
