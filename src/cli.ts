// The `fileset-ingest` command: parses arguments, builds the runtime, runs one subcommand.
import { createWriteStream } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  persistUsage,
  produceUsage,
  statusUsage,
  topicsUsage,
  verifyUsage,
  workerIngestUsage,
  workerPersistUsage,
} from './commands/usage.js';
import {
  ENV_NAMES,
  flagName,
  loadConfig,
  readEnvironment,
  unknownVariables,
  VERSION,
  type Config,
  type EnvName,
} from './config.js';
import { closest } from './did-you-mean.js';
import { tuneHeapGrowth } from './heap-growth.js';
import { migrate } from './db/migrate.js';
import { openDatabase } from './db/database.js';
import {
  ConfigError,
  describeError,
  InfrastructureError,
  InputError,
  ServiceUnavailableError,
  UsageError,
} from './errors.js';
import { configSecrets, createLogger, type Logger } from './logger.js';
import { CaptureIndex } from './stores/warc/capture-index.js';
import { pywbArchivePath, warcLocator } from './stores/warc/destination.js';
import { wireWarcPath } from './stores/warc/location.js';

const HELP: Record<string, string> = {
  persist: persistUsage,
  produce: produceUsage,
  topics: topicsUsage,
  status: statusUsage,
  verify: verifyUsage,
  worker: `${workerIngestUsage}\n\n${workerPersistUsage}`,
  'worker ingest': workerIngestUsage,
  'worker persist': workerPersistUsage,
  main: `fileset-ingest: archive research datasets (Zenodo, ...) into WARC files

Usage: fileset-ingest <command> [options]

Commands:
  ingest <url>           archive one dataset; prints the result JSON line(s) on stdout
  requests [file|-]      JSON-lines requests in, JSON-lines results out
  inspect <url>          dry run: platform, manifest, strategy; downloads no dataset file
  status [--json]        what is archived: datasets, files, bytes, WARCs, items, last runs
  cdxj [--output FILE]   export the capture index as CDXJ (pywb) on stdout or to FILE
  db migrate             apply sql/ migrations to the configured database
  persist [file|-]       write fileset result lines to the PostgreSQL tables
  produce --topic T [file|-]  send JSON-lines requests to a Kafka topic
  topics create          create the Kafka topics (partitions from config)
  verify [--since T]     fixity audit of the WARC files and items, from the files alone
  worker ingest          the Kafka ingest-fileset worker (until SIGTERM)
  worker persist         the Kafka persist worker (until SIGTERM)

Options:
  -h, --help             this help; "fileset-ingest <command> --help" for a command's
  --version              the version

Every FILESET_* variable is also a flag: FILESET_DATA_DIR=x is --data-dir x. Settings come from
flags, then the environment, then a .env file in the current directory.
Exit status: 0 success, 1 the work failed (e.g. a dataset's status), 2 bad usage or
configuration, 3 a service or the disk failed.`,
  ingest: `Usage: fileset-ingest ingest <url> [--force-recrawl] [--quiet] [config flags]

Archives one dataset (a DOI, a landing page URL or a file URL) in this process.
stdout: the dataset-file result line (for a *-file success), then the fileset result line.
stderr: on a terminal, a progress display (bytes, rate, ETA, files in flight, each file's result
as it finishes); otherwise one line per finished file. --quiet: neither. Warnings and errors are
logged on stderr (FILESET_LOG_LEVEL).
Ctrl-C stops; running the same command again resumes (files already archived are kept).
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
HELP['db migrate'] = HELP.db!;
HELP['topics create'] = HELP.topics!;

/** Options each command takes besides --help and the config flags. */
const COMMAND_OPTIONS: Record<string, NonNullable<ParseArgsConfig['options']>> = {
  ingest: { 'force-recrawl': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
  requests: { concurrency: { type: 'string' } },
  cdxj: { output: { type: 'string', short: 'o' } },
  produce: { topic: { type: 'string' } },
  status: { json: { type: 'boolean' } },
  verify: { since: { type: 'string' }, 'metrics-file': { type: 'string' } },
};
const COMMANDS = [
  'ingest',
  'requests',
  'inspect',
  'status',
  'verify',
  'cdxj',
  'db',
  'persist',
  'produce',
  'topics',
  'worker',
];

const CONFIG_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  ENV_NAMES.map((name) => [flagName(name), { type: 'string' as const }]),
);
const COMMON_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};

/** Every option any command takes: parsed leniently first, then checked against the command's own. */
const ALL_OPTIONS = Object.assign({}, CONFIG_OPTIONS, COMMON_OPTIONS, ...Object.values(COMMAND_OPTIONS)) as NonNullable<
  ParseArgsConfig['options']
>;

interface CommandLine {
  command: string | undefined;
  args: string[];
  values: Record<string, string | boolean | undefined>;
}

/** Parses argv; a mistake (unknown command or option, a missing value) is a UsageError saying what was meant. */
function parseCommandLine(argv: string[]): CommandLine {
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options: ALL_OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const [command, ...args] = positionals;
  if (command !== undefined && command !== 'help' && !COMMANDS.includes(command)) {
    const guess = closest(command, COMMANDS);
    throw new UsageError(`unknown command "${command}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
  }
  const allowed = { ...CONFIG_OPTIONS, ...COMMON_OPTIONS, ...(command ? COMMAND_OPTIONS[command] : {}) };
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = allowed[token.name];
    if (!option) {
      if (ALL_OPTIONS[token.name])
        throw new UsageError(`${command ?? 'fileset-ingest'} takes no ${token.rawName} option`);
      const guess = closest(token.name, Object.keys(allowed));
      throw new UsageError(`unknown option ${token.rawName}${guess ? ` (did you mean --${guess}?)` : ''}`);
    }
    if (option.type === 'string' && token.value === undefined) throw new UsageError(`${token.rawName} needs a value`);
    if (option.type === 'boolean' && token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
  }
  return { command, args, values };
}

/** The help text for `fileset-ingest <command> [<sub>] --help`. */
function helpFor(command: string, args: string[]): string {
  return HELP[`${command} ${args[0]}`] ?? HELP[command] ?? HELP.main!;
}

/** Where to point a user after a usage mistake. */
function seeHelp(command: string | undefined, args: string[]): string {
  const sub = command && args[0] && HELP[`${command} ${args[0]}`] ? `${command} ${args[0]}` : command;
  return `run "fileset-ingest ${sub && HELP[sub] ? `${sub} ` : ''}--help" for usage`;
}

/**
 * After a command has returned, how long what a library left running may keep the process alive:
 * kafkajs goes on retrying a connect given up at a stop for tens of seconds and cannot be
 * interrupted, and a worker must end within systemd's TimeoutStopSec.
 */
export const EXIT_LINGER_MS = 10_000;

/**
 * Sets the exit status of a command that has returned; if something still keeps the process alive
 * `lingerMs` later, says what and exits.
 */
export function exitAfter(code: number, lingerMs = EXIT_LINGER_MS): void {
  process.exitCode = code;
  setTimeout(() => {
    const open = new Map<string, number>();
    for (const kind of process.getActiveResourcesInfo()) open.set(kind, (open.get(kind) ?? 0) + 1);
    const list = [...open].map(([kind, n]) => `${n} ${kind}`); // not this unref'd timer
    process.stderr.write(
      `fileset-ingest: exiting ${lingerMs / 1000} s after the command ended; still open: ${list.join(', ')}\n`,
    );
    process.exit(code);
  }, lingerMs).unref();
}

/** Runs one command line; resolves to the exit status. `environment` (default: the process's) wins over `<cwd>/.env`. */
export async function main(
  argv: string[],
  options: {
    environment?: Record<string, string | undefined>;
    cwd?: string;
    /** Set V8's heap growth for bulk data on PostgreSQL (heap-growth.ts): the process is the command's own. */
    tuneHeap?: boolean;
  } = {},
): Promise<number> {
  const say = (line: string) => process.stderr.write(`fileset-ingest: ${line}\n`);
  let line: CommandLine;
  try {
    line = parseCommandLine(argv);
  } catch (err) {
    say(`${describeError(err)}; ${seeHelp(positionalCommand(argv), [])}`);
    return 2;
  }
  const { command, args, values } = line;
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!command || command === 'help') {
    process.stdout.write(`${command === 'help' && args[0] ? helpFor(args[0], args.slice(1)) : HELP.main}\n`);
    return command || values.help ? 0 : 2;
  }
  if (values.help) {
    process.stdout.write(`${helpFor(command, args)}\n`);
    return 0;
  }

  let config: Config;
  try {
    const merged = readEnvironment(options.cwd, options.environment);
    for (const { name, suggestion } of unknownVariables(merged))
      say(`warning: ${name} is not a setting, ignored${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
    const flags: Partial<Record<EnvName, string>> = {};
    for (const name of ENV_NAMES) {
      const value = values[flagName(name)];
      if (typeof value === 'string') flags[name] = value;
    }
    config = loadConfig(merged, flags);
  } catch (err) {
    say(describeError(err));
    return 2;
  }
  if (options.tuneHeap && config.databaseUrl) tuneHeapGrowth();
  // ingest shows its progress on stderr, and log lines go above the live display, never across it.
  const display =
    command === 'ingest' && values.quiet !== true
      ? (await import('./commands/progress.js')).createProgress(process.stderr, {
          mode: process.stderr.isTTY ? 'live' : 'lines',
        })
      : undefined;
  const secrets = configSecrets(config);
  const logger =
    display && process.stderr.isTTY
      ? createLogger(config.logLevel, display.log, { secrets })
      : createLogger(config.logLevel, undefined, { secrets });
  const stopOnInterrupt = !command.startsWith('worker');
  if (stopOnInterrupt) process.once('SIGINT', onInterrupt);
  try {
    // Each command's module is loaded when it runs: a command pays only for the packages it uses.
    switch (command) {
      case 'ingest':
        return await (
          await import('./commands/ingest.js')
        ).ingest(config, logger, args, { force: values['force-recrawl'] === true, display });
      case 'requests':
        return await (
          await import('./commands/ingest.js')
        ).requests(config, logger, args, values.concurrency as string | undefined);
      case 'inspect':
        return await (await import('./commands/ingest.js')).inspect(config, logger, args);
      case 'status':
        return await (await import('./commands/status.js')).run(config, logger, args, { json: values.json === true });
      case 'cdxj':
        return await cdxjCommand(config, logger, values.output as string | undefined);
      case 'db':
        return await dbCommand(config, logger, args);
      case 'persist':
        return await (await import('./commands/persist.js')).run(config, logger, args);
      case 'produce':
        return await (
          await import('./commands/produce.js')
        ).run(config, logger, args, {
          ...(typeof values.topic === 'string' ? { topic: values.topic } : {}),
        });
      case 'topics':
        return await (await import('./commands/topics.js')).run(config, logger, args);
      case 'verify':
        return await (
          await import('./commands/verify.js')
        ).run(config, logger, args, {
          ...(typeof values.since === 'string' ? { since: values.since } : {}),
          ...(typeof values['metrics-file'] === 'string' ? { metricsFile: values['metrics-file'] } : {}),
        });
      default: {
        const [kind, ...rest] = args;
        if (kind !== 'ingest' && kind !== 'persist')
          throw new UsageError('expected "worker ingest" or "worker persist"');
        const worker =
          kind === 'ingest'
            ? await import('./commands/worker-ingest.js')
            : await import('./commands/worker-persist.js');
        return await worker.run(config, logger, rest);
      }
    }
  } catch (err) {
    // Expected failures are one line for a person; the details (stack, cause) go to the debug log.
    if (err instanceof UsageError) {
      say(`${err.message}; ${seeHelp(command, args)}`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof InputError) {
      logger.debug({ err }, 'command failed');
      say(err.message);
      return 2;
    }
    if (err instanceof InfrastructureError) logger.debug({ err }, 'command failed');
    else logger.fatal({ err }, 'command failed');
    say(err instanceof ServiceUnavailableError ? err.message : describeError(err));
    return 3;
  } finally {
    if (stopOnInterrupt) process.off('SIGINT', onInterrupt);
    display?.stop();
    logger.flush();
  }
}

/** The command word of an argv that did not parse, for the help hint. */
function positionalCommand(argv: string[]): string | undefined {
  const word = argv.find((a) => !a.startsWith('-'));
  return word && COMMANDS.includes(word) ? word : undefined;
}

/**
 * Ctrl-C in a one-shot command: say so and stop at once. Nothing archived is lost: WARC files and
 * the database are crash-safe, and running the same command again resumes. (Workers drain instead.)
 */
function onInterrupt(): void {
  process.stderr.write('\nfileset-ingest: interrupted; what was archived is kept, run the same command to resume\n');
  process.exit(130);
}

async function cdxjCommand(config: Config, logger: Logger, output?: string): Promise<number> {
  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
    const out = output ? createWriteStream(output) : process.stdout;
    // With a WARC store, every filename is the file's place there (a file still waiting to ship
    // will be there); pywb appends it to the store's archive_paths.
    const locate = warcLocator(config);
    const count = await new CaptureIndex(db).exportCdxj(
      out,
      locate ? { filename: (path) => wireWarcPath(path, locate) } : {},
    );
    if (output)
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    logger.info({ count, output: output ?? 'stdout', archive_paths: pywbArchivePath(config) }, 'CDXJ exported');
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
