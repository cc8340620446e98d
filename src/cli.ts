// The `fileset-ingest` command: parses arguments, builds the runtime, runs one subcommand.
import { createWriteStream } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as persist from './commands/persist.js';
import * as produce from './commands/produce.js';
import * as topics from './commands/topics.js';
import { inputOf, jsonLines } from './commands/json-lines.js';
import * as workerIngest from './commands/worker-ingest.js';
import * as workerPersist from './commands/worker-persist.js';
import { ENV_NAMES, flagName, loadConfig, type Config, type EnvName } from './config.js';
import { migrate } from './db/migrate.js';
import { openDatabase } from './db/database.js';
import { ConfigError, describeError, InfrastructureError, UsageError } from './errors.js';
import { configSecrets, createLogger, type Logger } from './logger.js';
import { ingestFileset, type IngestOutcome, type ProgressEvent } from './pipeline/ingest.js';
import { openRuntime, type Runtime } from './pipeline/runtime.js';
import { retry } from './retry.js';
import { CaptureIndex } from './stores/warc/capture-index.js';

const HELP: Record<string, string> = {
  persist: persist.usage,
  produce: produce.usage,
  topics: topics.usage,
  worker: `${workerIngest.usage}\n\n${workerPersist.usage}`,
  main: `fileset-ingest: archive research datasets (Zenodo, ...) into WARC files

Usage: fileset-ingest <command> [options]

Commands:
  ingest <url>           archive one dataset; prints the result JSON line(s) on stdout
  requests [file|-]      JSON-lines requests in, JSON-lines results out
  inspect <url>          dry run: platform, manifest, strategy; downloads no dataset file
  cdxj [--output FILE]   export the capture index as CDXJ (pywb) on stdout or to FILE
  db migrate             apply sql/ migrations to the configured database
  persist [file|-]       write fileset result lines to the PostgreSQL tables
  produce --topic T [file|-]  send JSON-lines requests to a Kafka topic
  topics create          create the Kafka topics (partitions from config)
  worker ingest          the Kafka ingest-fileset worker (until SIGTERM)
  worker persist         the Kafka persist worker (until SIGTERM)

Every FILESET_* variable is also a flag: FILESET_DATA_DIR=x is --data-dir x.
Run "fileset-ingest <command> --help" for a command's options.`,
  ingest: `Usage: fileset-ingest ingest <url> [--force-recrawl] [config flags]

Archives one dataset (a DOI, a landing page URL or a file URL) in this process.
stdout: the dataset-file result line (for a *-file success), then the fileset result line.
stderr: JSON logs, and a progress bar when stderr is a terminal.
Exit status: 0 when the status starts with "success", 1 otherwise, 2 on bad usage, 3 when our
own infrastructure (disk, database) failed.`,
  requests: `Usage: fileset-ingest requests [file|-] [--concurrency N] [config flags]

Reads ingest requests as JSON lines (sandcrawler's format; "-" or no file: stdin) and writes one
fileset result per line on stdout (plus dataset-file result lines), in completion order.
A line that is not JSON is reported on stderr ("line N: ...") and skipped; a request of the
wrong shape gets a "bad-request" result; processing always continues with the next line.`,
  inspect: `Usage: fileset-ingest inspect <url> [config flags]

Finds the platform, lists the manifest and the chosen strategy without downloading any dataset
file or writing anything. Prints one JSON object with the result's field names: the platform
name, domain and id, the item name, the manifest (paths, sizes, every hash the platform gave),
the chosen strategy, the limits and "limit_hit" when the dataset is beyond one. Its "status" is
an error status, "success-existing" when already archived, or "ready".`,
  cdxj: `Usage: fileset-ingest cdxj [--output FILE] [config flags]

Writes every capture in the index as CDXJ lines (sorted by SURT and time), for pywb.`,
  db: `Usage: fileset-ingest db migrate [config flags]

Applies the SQL migrations in sql/ to FILESET_DATABASE_URL (or the embedded database).`,
};

const CONFIG_OPTIONS: ParseArgsConfig['options'] = Object.fromEntries(
  ENV_NAMES.map((name) => [flagName(name), { type: 'string' as const }]),
);

const COMMAND_OPTIONS: ParseArgsConfig['options'] = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  'force-recrawl': { type: 'boolean' },
  concurrency: { type: 'string' },
  output: { type: 'string' },
  topic: { type: 'string' },
};

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...CONFIG_OPTIONS, ...COMMAND_OPTIONS },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`fileset-ingest: ${describeError(err)}\n${HELP.main}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.version) {
    process.stdout.write(`${loadConfig({}).version}\n`);
    return 0;
  }
  if (!command || command === 'help' || (values.help && !HELP[command])) {
    process.stdout.write(`${HELP.main}\n`);
    return command || values.help ? 0 : 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP[command]}\n`);
    return 0;
  }

  let config: Config;
  try {
    const flags: Partial<Record<EnvName, string>> = {};
    for (const name of ENV_NAMES) {
      const value = values[flagName(name)];
      if (typeof value === 'string') flags[name] = value;
    }
    config = loadConfig(undefined, flags);
  } catch (err) {
    process.stderr.write(`fileset-ingest: ${err instanceof ConfigError ? err.message : describeError(err)}\n`);
    return 2;
  }
  const logger = createLogger(config.logLevel, undefined, { secrets: configSecrets(config) });
  try {
    switch (command) {
      case 'ingest':
        return await ingestCommand(config, logger, args, values['force-recrawl'] === true);
      case 'requests':
        return await requestsCommand(config, logger, args, values.concurrency as string | undefined);
      case 'inspect':
        return await inspectCommand(config, logger, args);
      case 'cdxj':
        return await cdxjCommand(config, logger, values.output as string | undefined);
      case 'db':
        return await dbCommand(config, logger, args);
      case 'persist':
        return await persist.run(config, logger, args);
      case 'produce':
        return await produce.run(config, logger, args, {
          ...(typeof values.topic === 'string' ? { topic: values.topic } : {}),
        });
      case 'topics':
        return await topics.run(config, logger, args);
      case 'worker': {
        const [kind, ...rest] = args;
        const worker = kind === 'ingest' ? workerIngest : kind === 'persist' ? workerPersist : undefined;
        if (!worker || rest.length) throw new UsageError('expected "worker ingest" or "worker persist"');
        return await worker.run(config, logger, rest);
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fileset-ingest: ${err.message}\n${HELP[command] ?? HELP.main}\n`);
      return 2;
    }
    logger.fatal({ err }, 'command failed');
    process.stderr.write(`fileset-ingest: ${describeError(err)}\n`);
    return 3;
  } finally {
    logger.flush();
  }
}

function oneUrl(args: string[]): string {
  if (args.length !== 1 || !args[0]) throw new UsageError('expected exactly one URL or DOI');
  return args[0];
}

function printOutcome(outcome: IngestOutcome): void {
  if (outcome.fileResult) process.stdout.write(`${JSON.stringify(outcome.fileResult)}\n`);
  process.stdout.write(`${JSON.stringify(outcome.result)}\n`);
}

async function withRuntime<T>(config: Config, logger: Logger, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(config, logger);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

async function ingestCommand(config: Config, logger: Logger, args: string[], force: boolean): Promise<number> {
  const url = oneUrl(args);
  return withRuntime(config, logger, async (runtime) => {
    const progress = process.stderr.isTTY ? progressBar() : undefined;
    const deps = progress ? { ...runtime.deps, onProgress: progress } : runtime.deps;
    const outcome = await ingestFileset(
      { base_url: url, ingest_type: 'dataset', ...(force ? { force_recrawl: true } : {}) },
      deps,
    );
    printOutcome(outcome);
    return outcome.result.hit ? 0 : 1;
  });
}

/** Statuses that mean the dataset is beyond a configured limit (inspect reports them as `limit_hit`). */
const LIMIT_STATUSES: ReadonlySet<string> = new Set(['too-many-files', 'too-large-size', 'body-too-large']);

async function inspectCommand(config: Config, logger: Logger, args: string[]): Promise<number> {
  const url = oneUrl(args);
  return withRuntime(config, logger, async (runtime) => {
    const { result, ready } = await ingestFileset({ base_url: url, ingest_type: 'dataset' }, runtime.deps, {
      dryRun: true,
    });
    const report = {
      status: ready ? 'ready' : result.status,
      ...(result.error_message ? { error_message: result.error_message } : {}),
      platform_name: result.platform_name ?? null,
      platform_domain: result.platform_domain ?? null,
      platform_id: result.platform_id ?? null,
      platform_base_url: result.platform_base_url ?? null,
      platform_bundle_url: result.platform_bundle_url ?? null,
      archiveorg_item_name: result.archiveorg_item_name ?? null,
      manifest: result.manifest ?? [],
      file_count: result.file_count ?? 0,
      total_size: result.total_size ?? 0,
      ingest_strategy: result.ingest_strategy ?? null,
      limits: { max_total_size: config.limits.maxTotalSize, max_file_count: config.limits.maxFileCount },
      limit_hit: LIMIT_STATUSES.has(result.status)
        ? { status: result.status, message: result.error_message ?? null }
        : null,
      hops: result.hops ?? [],
      html_biblio: result.html_biblio ?? null,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return ready || report.status.startsWith('success') ? 0 : 1;
  });
}

const INFRA_RETRIES = 3;

async function requestsCommand(
  config: Config,
  logger: Logger,
  args: string[],
  concurrencyText?: string,
): Promise<number> {
  const concurrency = concurrencyText === undefined ? 1 : Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UsageError('--concurrency must be a positive integer');
  if (args.length > 1) throw new UsageError('expected at most one input file');
  const input = inputOf(args[0]);
  return withRuntime(config, logger, async (runtime) => {
    const running = new Set<Promise<void>>();
    let failed: unknown;
    for await (const line of jsonLines(input)) {
      if (failed) break;
      if ('notJson' in line) {
        process.stderr.write(`line ${line.number}: ${line.notJson}, skipped\n`);
        continue;
      }
      const { number } = line;
      const task = ingestWithRetries(line.value, runtime, logger, number)
        .then(printOutcome)
        .catch((err: unknown) => {
          failed ??= err;
          process.stderr.write(`line ${number}: infrastructure failure, stopping: ${describeError(err)}\n`);
        })
        .finally(() => running.delete(task));
      running.add(task);
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);
    return failed ? 3 : 0;
  });
}

/** Infrastructure failures are retried with backoff, never turned into a result. */
function ingestWithRetries(request: unknown, runtime: Runtime, logger: Logger, line: number): Promise<IngestOutcome> {
  return retry(() => ingestFileset(request, runtime.deps), {
    retries: INFRA_RETRIES,
    backoff: { baseMs: 1000, maxMs: 1000 * 2 ** INFRA_RETRIES },
    retryable: (err) => err instanceof InfrastructureError,
    onRetry: (err, attempt, delay) =>
      logger.warn({ err, line, attempt, delay }, 'infrastructure error, retrying the request'),
  });
}

async function cdxjCommand(config: Config, logger: Logger, output?: string): Promise<number> {
  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
    const out = output ? createWriteStream(output) : process.stdout;
    const count = await new CaptureIndex(db).exportCdxj(out);
    if (output)
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    logger.info({ count, output: output ?? 'stdout' }, 'CDXJ exported');
    return 0;
  } finally {
    await db.close();
  }
}

async function dbCommand(config: Config, logger: Logger, args: string[]): Promise<number> {
  if (args[0] !== 'migrate' || args.length !== 1) throw new UsageError('expected "db migrate"');
  const db = await openDatabase(config, logger);
  try {
    const applied = await migrate(db, logger);
    process.stdout.write(`${JSON.stringify({ applied })}\n`);
    return 0;
  } finally {
    await db.close();
  }
}

/** A one-line progress display on stderr (only used when stderr is a terminal). */
function progressBar(): (event: ProgressEvent) => void {
  return (event) => {
    let text: string;
    if (event.phase === 'files') {
      const total = event.filesTotal ?? 0;
      const done = event.filesDone ?? 0;
      const width = 30;
      const filled = total ? Math.round((done / total) * width) : 0;
      const mb = ((event.bytesDone ?? 0) / 1e6).toFixed(1);
      text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} files, ${mb} MB`;
    } else if (event.phase === 'done') {
      process.stderr.write('\n');
      return;
    } else {
      text = event.phase === 'landing' ? 'fetching landing page…' : 'asking the platform…';
    }
    process.stderr.write(`\r\x1b[K${text}`);
  };
}
