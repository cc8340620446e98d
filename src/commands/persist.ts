// `fileset-ingest persist [file|-]`: JSON-lines fileset results (as `ingest` and `requests` print
// them) into the sandcrawler tables of the configured database, in batches, like the persist worker.
import type { Config } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import {
  PERSIST_TABLES,
  persistResults,
  type PersistOutcome,
  type PersistTable,
  type RejectedRow,
} from '../db/persist.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { checkInput, inputOf, jsonLines } from './json-lines.js';

export { persistUsage as usage } from './usage.js';

interface RunOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

interface Summary {
  results: number;
  rows: Record<PersistTable, number>;
  rejected: RejectedRow[];
  skipped: Record<string, number>;
}

export async function run(config: Config, logger: Logger, args: string[], options: RunOptions = {}): Promise<number> {
  if (args.length > 1) throw new UsageError('expected at most one input file');
  const path = args[0] && args[0] !== '-' ? args[0] : undefined;
  await checkInput(path);
  const input = inputOf(path, options.input);
  const output = options.output ?? process.stdout;

  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
    const summary: Summary = {
      results: 0,
      rows: Object.fromEntries(PERSIST_TABLES.map((t) => [t, 0])) as Summary['rows'],
      rejected: [],
      skipped: {},
    };
    const flush = async (batch: unknown[]) => {
      if (batch.length) add(summary, await persistResults(db, batch.splice(0), { logger }));
    };

    const batch: unknown[] = [];
    let lineNumber = 0;
    let notJson = 0;
    // An abort (SIGTERM) closes the reader: the lines read so far are persisted, the rest are not.
    for await (const line of jsonLines(input, options.signal)) {
      lineNumber = line.number;
      if ('notJson' in line) {
        notJson += 1;
        process.stderr.write(`line ${line.number}: ${line.notJson}, skipped\n`);
        continue;
      }
      batch.push(line.value);
      if (batch.length >= config.persist.batchSize) await flush(batch);
      if (options.signal?.aborted) break;
    }
    await flush(batch);
    if (notJson) summary.skipped['not-json'] = notJson;
    const interrupted = options.signal?.aborted ?? false;
    if (interrupted)
      process.stderr.write(`interrupted after line ${lineNumber}: the lines after it were not persisted\n`);
    output.write(`${JSON.stringify(summary)}\n`);
    return summary.rejected.length || notJson || interrupted ? 1 : 0;
  } finally {
    await db.close();
  }
}

function add(summary: Summary, outcome: PersistOutcome): void {
  summary.results += outcome.results;
  for (const table of PERSIST_TABLES) summary.rows[table] += outcome.rows[table];
  summary.rejected.push(...outcome.rejected);
  for (const [reason, n] of Object.entries(outcome.skipped))
    summary.skipped[reason] = (summary.skipped[reason] ?? 0) + (n ?? 0);
}
